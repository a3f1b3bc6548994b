package hrsource

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
	"github.com/stretchr/testify/require"
)

var today = tilgang.Date{Y: 2026, M: 12, D: 4}

type readerCase struct {
	name string
	tree bool // the source gives the unit tree
	read func(t *testing.T, people []fxPerson) (Snapshot, error)
	// broken reads that must fail: a cut file, a failing page
	broken map[string]func(t *testing.T) error
}

func secretFile(t *testing.T, value string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(f, []byte(value+"\n"), 0o600))
	return f
}

func readVisma(t *testing.T, s *vismaServer) (Snapshot, error) {
	t.Helper()
	s.user, s.pass = "WS-AD", "hemmelig"
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	src := mustOpen(t, &VismaConfig{BaseURL: srv.URL, Company: "1", Municipality: muni, IDStart: 10000, IDEnd: 10999,
		PageSize: 250, Auth: vismaAuth(t)})
	return src.Read(context.Background(), Input{Client: srv.Client(), Today: today})
}

func vismaAuth(t *testing.T) (a httpconn.Auth) {
	a.Type, a.Username, a.PasswordFile = "basic", "WS-AD", secretFile(t, "hemmelig")
	return a
}

func readFINT(t *testing.T, s *fintServer) (Snapshot, error) {
	t.Helper()
	s.token = "tok"
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.base = srv.URL
	var auth httpconn.Auth
	auth.Type, auth.TokenFile = "bearer", secretFile(t, "tok")
	src := mustOpen(t, &FINTConfig{BaseURL: srv.URL, Municipality: muni, Auth: auth})
	return src.Read(context.Background(), Input{Client: srv.Client(), Today: today})
}

func readFile(t *testing.T, c Config, body string) (Snapshot, error) {
	t.Helper()
	return mustOpen(t, c).Read(context.Background(), Input{File: strings.NewReader(body), Today: today})
}

func cut(s string) string { return s[:len(s)/2] }

func readerCases() []readerCase {
	s3 := &Stamdata3Config{Municipality: muni}
	csvc := fxCSVConfig()
	return []readerCase{
		{name: "stamdata3", tree: true,
			read: func(t *testing.T, p []fxPerson) (Snapshot, error) {
				return readFile(t, s3, renderStamdata3(p, fxUnits))
			},
			broken: map[string]func(t *testing.T) error{
				"cut file": func(t *testing.T) error {
					_, err := readFile(t, s3, cut(renderStamdata3(fxPeople(), fxUnits)))
					return err
				},
				"empty file": func(t *testing.T) error { _, err := readFile(t, s3, ""); return err },
			}},
		{name: "visma-hrm", tree: true,
			read: func(t *testing.T, p []fxPerson) (Snapshot, error) {
				return readVisma(t, &vismaServer{people: p, units: fxUnits})
			},
			broken: map[string]func(t *testing.T) error{
				"page answers 500": func(t *testing.T) error {
					_, err := readVisma(t, &vismaServer{people: fxPeople(), units: fxUnits,
						fail: "/hrm_ws/secure/persons/company/1/start-id/10250"})
					return err
				},
				"page cut": func(t *testing.T) error {
					_, err := readVisma(t, &vismaServer{people: fxPeople(), units: fxUnits,
						cut: "/hrm_ws/secure/persons/company/1/start-id/10000"})
					return err
				},
				"future starters answer 500": func(t *testing.T) error {
					_, err := readVisma(t, &vismaServer{people: fxPeople(), units: fxUnits,
						fail: "/hrm_ws/secure/persons/company/1/not-started"})
					return err
				},
				"chart cut": func(t *testing.T) error {
					_, err := readVisma(t, &vismaServer{people: fxPeople(), units: fxUnits,
						cut: "/hrm_ws/secure/organization/chart/"})
					return err
				},
			}},
		{name: "fint", tree: true,
			read: func(t *testing.T, p []fxPerson) (Snapshot, error) {
				return readFINT(t, &fintServer{people: p, units: fxUnits})
			},
			broken: map[string]func(t *testing.T) error{
				"arbeidsforhold answers 500": func(t *testing.T) error {
					_, err := readFINT(t, &fintServer{people: fxPeople(), units: fxUnits, fail: fintArbeidsforhold})
					return err
				},
				"personalressurs short of total_items": func(t *testing.T) error {
					_, err := readFINT(t, &fintServer{people: fxPeople(), units: fxUnits, short: fintPersonalressurs})
					return err
				},
			}},
		{name: "json",
			read: func(t *testing.T, p []fxPerson) (Snapshot, error) {
				return readFile(t, &JSONConfig{}, renderJSON(p))
			},
			broken: map[string]func(t *testing.T) error{
				"cut file": func(t *testing.T) error {
					_, err := readFile(t, &JSONConfig{}, cut(renderJSON(fxPeople())))
					return err
				},
				"empty file": func(t *testing.T) error { _, err := readFile(t, &JSONConfig{}, ""); return err },
			}},
		{name: "csv",
			read: func(t *testing.T, p []fxPerson) (Snapshot, error) {
				return readFile(t, &csvc, renderCSV(p))
			},
			broken: map[string]func(t *testing.T) error{
				"cut mid-row": func(t *testing.T) error {
					_, err := readFile(t, &csvc, cut(renderCSV(fxPeople())))
					return err
				},
				"empty file": func(t *testing.T) error { _, err := readFile(t, &csvc, ""); return err },
			}},
	}
}

func byID(snap Snapshot) map[string]tilgang.Person {
	m := map[string]tilgang.Person{}
	for _, p := range snap.People {
		m[p.ID] = p
	}
	return m
}

func kinds(p Plan) map[string]Kind {
	m := map[string]Kind{}
	for _, e := range p.Events {
		m[e.Person.ID] = e.Kind
	}
	return m
}

// apply keeps the plan's records as the ledger would.
func apply(prev map[string]Stored, p Plan) map[string]Stored {
	out := map[string]Stored{}
	for k, v := range prev {
		out[k] = v
	}
	for _, e := range p.Events {
		out[e.Person.ID] = Stored{Person: e.Person, Version: e.Version}
	}
	return out
}

func TestReaders(t *testing.T) {
	for _, rc := range readerCases() {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			first, err := rc.read(t, fxPeople())
			require.NoError(t, err)
			require.Empty(t, first.Rejected)
			require.True(t, first.Complete)
			require.Len(t, first.People, 7)

			t.Run("fields", func(t *testing.T) {
				p := byID(first)
				ase := p[muni+"-10003"]
				require.Equal(t, "Åse", ase.GivenName)
				require.Equal(t, "Øvergård-Bø", ase.FamilyName)
				require.Equal(t, "p10003@aukra.kommune.no", ase.Email)
				require.Equal(t, muni, ase.Municipality)
				require.Equal(t, []tilgang.Employment{{ID: "10003-1", Primary: true, Percent: 80, OrgUnit: "111",
					Position: "lærer", Manager: muni + "-10002", Start: tilgang.Date{Y: 2024, M: 8, D: 1}}}, ase.Employments)
				two := p[muni+"-10004"].Employments
				require.Len(t, two, 2)
				require.Equal(t, tilgang.Date{Y: 2026, M: 12, D: 31}, two[1].End)
				require.True(t, two[0].End.IsZero(), "2099-12-31 / no end is open")
			})
			t.Run("0 % employment kept", func(t *testing.T) {
				v := byID(first)[muni+"-10006"]
				require.Len(t, v.Employments, 1)
				require.Zero(t, v.Employments[0].Percent)
			})
			t.Run("two main employments warn and choose deterministically", func(t *testing.T) {
				require.Len(t, first.Warnings, 1)
				require.Equal(t, muni+"-10004", first.Warnings[0].PersonID)
				require.Contains(t, first.Warnings[0].Message, "2 main employments")
				require.Contains(t, first.Warnings[0].Message, `"10004-2"`) // equal percent: the earliest start
				p := byID(first)[muni+"-10004"]
				m, _ := p.Main()
				require.Equal(t, "10004-2", m.ID)
			})
			t.Run("manager walks up", func(t *testing.T) {
				p := byID(first)
				rektor := p[muni+"-10002"].Employments[0].Manager    // leads 111 herself
				sekretaer := p[muni+"-10005"].Employments[0].Manager // 110 has no leader
				top := p[muni+"-10001"].Employments[0].Manager       // leads the top unit
				require.Empty(t, top)
				if rc.tree {
					require.Equal(t, muni+"-10001", rektor)
					require.Equal(t, muni+"-10001", sekretaer)
				} else {
					require.Empty(t, rektor, "a direct manager that is the person is dropped")
					require.Empty(t, sekretaer)
				}
			})

			plan1 := Diff(nil, first, FailSafe{Today: today})
			require.False(t, plan1.Held)
			require.Len(t, plan1.Events, 7)
			for _, e := range plan1.Events {
				require.Equal(t, Joiner, e.Kind)
				require.Equal(t, int64(1), e.Version)
			}
			stored := apply(nil, plan1)

			second, err := rc.read(t, fxSecond())
			require.NoError(t, err)
			wide := FailSafe{MaxLeaveShare: 0.5, MaxChangeShare: 0.5, Today: today}
			plan2 := Diff(stored, second, wide)
			require.False(t, plan2.Held, plan2.Reasons)
			require.Equal(t, map[string]Kind{muni + "-10003": Mover, muni + "-10005": Mover, muni + "-10006": Leaver}, kinds(plan2))
			require.Equal(t, []string{muni + "-10001", muni + "-10002", muni + "-10004", muni + "-10007"}, plan2.Unchanged)
			for _, e := range plan2.Events {
				require.Equal(t, int64(2), e.Version)
				switch e.Person.ID {
				case muni + "-10005":
					require.Equal(t, "Nygift", e.Person.FamilyName)
				case muni + "-10003":
					require.Equal(t, "120", e.Person.Employments[0].OrgUnit)
					require.Equal(t, muni+"-10007", e.Person.Employments[0].Manager)
				case muni + "-10006":
					require.Equal(t, tilgang.Date{Y: 2026, M: 12, D: 3}, e.Person.Employments[0].End)
					at, ok := e.Person.LeaveAt()
					require.True(t, ok)
					require.Equal(t, today.Start(), at)
				}
			}
			stored2 := apply(stored, plan2)

			third, err := rc.read(t, fxSecond())
			require.NoError(t, err)
			plan3 := Diff(stored2, third, wide)
			require.Empty(t, plan3.Events)
			require.Len(t, plan3.Unchanged, 7)
			require.False(t, plan3.Held)

			t.Run("default fail-safe holds one leaver of seven", func(t *testing.T) {
				p := Diff(stored, second, FailSafe{Today: today})
				require.True(t, p.Held)
				require.Equal(t, []string{
					"1 of 7 people would leave (14.3 %); the limit is 10.0 %",
					"3 of 7 people would move or leave (42.9 %); the limit is 25.0 %"}, p.Reasons)
			})
			t.Run("three of seven missing is held", func(t *testing.T) {
				snap, err := rc.read(t, fxPeople()[:4])
				require.NoError(t, err)
				p := Diff(stored, snap, FailSafe{Today: today})
				require.True(t, p.Held)
				require.Contains(t, p.Reasons, "3 of 7 people would leave (42.9 %); the limit is 10.0 %")
				require.Equal(t, 3, p.Count(Leaver))
			})
			t.Run("empty snapshot is held", func(t *testing.T) {
				snap, err := rc.read(t, nil)
				require.NoError(t, err)
				p := Diff(stored, snap, FailSafe{Today: today})
				require.True(t, p.Held)
				require.Contains(t, p.Reasons, "the snapshot holds no people at all")
				require.Equal(t, 7, p.Count(Leaver))
			})
			t.Run("broken reads fail", func(t *testing.T) {
				require.NotEmpty(t, rc.broken)
				for name, f := range rc.broken {
					err := f(t)
					require.Error(t, err, name)
					t.Logf("%s: %v", name, err)
					for _, p := range fxPeople() {
						require.NotContains(t, err.Error(), p.SSN, name)
					}
				}
			})
			t.Run("no fødselsnummer in the output", func(t *testing.T) {
				out, err := json.Marshal([]any{first, second, third, plan1, plan2, plan3})
				require.NoError(t, err)
				require.Contains(t, string(out), "10003") // the search can find what is there
				for _, p := range fxPeople() {
					require.NotContains(t, string(out), p.SSN)
				}
			})
		})
	}
}

func TestVismaFutureStarterAndPaging(t *testing.T) {
	t.Parallel()
	future := fxPerson{No: "10500", Given: "Nina", Family: "Ny", Email: "nina@aukra.kommune.no", SSN: ssnOf("10500"),
		Emps: []fxEmp{{"1", "111", "lærer", 100, true, "2026-12-20", ""}}}
	again := fxPeople()[2] // also current staff: the current record wins
	again.Family = "Annet"
	s := &vismaServer{people: fxPeople(), future: []fxPerson{future, again}, units: fxUnits}
	snap, err := readVisma(t, s)
	require.NoError(t, err)
	require.Equal(t, int32(4), s.pages.Load(), "ids 10000..10999 in pages of 250")
	p := byID(snap)
	require.Len(t, p, 8)
	require.Equal(t, tilgang.Date{Y: 2026, M: 12, D: 20}, p[muni+"-10500"].Employments[0].Start)
	require.Equal(t, "Øvergård-Bø", p[muni+"-10003"].FamilyName)
}

func TestVismaWrongPasswordFails(t *testing.T) {
	t.Parallel()
	s := &vismaServer{people: fxPeople(), units: fxUnits}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.user, s.pass = "WS-AD", "annet"
	src := mustOpen(t, &VismaConfig{BaseURL: srv.URL, Company: "1", Municipality: muni, IDEnd: 99, Auth: vismaAuth(t)})
	_, err := src.Read(context.Background(), Input{Client: srv.Client(), Today: today})
	require.Error(t, err)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "HTTP 401")
}

func sortedIDs(ps []tilgang.Person) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	sort.Strings(out)
	return out
}
