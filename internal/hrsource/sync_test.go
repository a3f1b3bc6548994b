package hrsource_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

const muni = "1547"

// syncer runs syncs of one source against a real worker (intake, engine,
// SQLite ledger, API), signed by the dev principal hr.
type syncer struct {
	env *testenv.Env
	dir string
	hr  *api.Client
	dev *api.Client // reads everything
}

func newSyncer(t *testing.T) *syncer {
	t.Helper()
	dir := t.TempDir()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, testenv.Catalogue)
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	dk, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	return &syncer{env: e, dir: dir, hr: &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second},
		dev: &api.Client{NC: e.NC, Key: dk, Actor: principals.DevID, Timeout: 10 * time.Second}}
}

// run syncs source name once, with the fail-safe wide enough for the
// fixtures' seven people.
func (s *syncer) run(t *testing.T, name string, src hrsource.Source, in hrsource.Input) hrsync.Report {
	t.Helper()
	rep, err := hrsync.Run(context.Background(), hrsync.Options{Name: name, Source: src, Input: in,
		MaxLeaveShare: 0.5, MaxChangeShare: 0.5, Wait: time.Minute, DaysBeforeStart: -1,
		NC: s.env.NC, Client: s.hr, Key: s.hr.Key, Actor: s.hr.Actor})
	require.NoError(t, err, "%+v", rep)
	return rep
}

func (s *syncer) snapshot(t *testing.T, name string) map[string]api.HRSnapshotEntry {
	t.Helper()
	es, err := s.hr.HRSnapshotAll(context.Background(), name)
	require.NoError(t, err)
	out := map[string]api.HRSnapshotEntry{}
	for _, e := range es {
		out[e.Person] = e
	}
	return out
}

func secret(t *testing.T, v string) string {
	f := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(f, []byte(v+"\n"), 0o600))
	return f
}

// Each reader through the sync against a real worker, the services over
// HTTPS: a first snapshot makes joiners, a second with one mover (10003 to
// helse), one name change (10005) and one leaver (10006) makes exactly
// those events, a third identical one makes none.
func TestEachReaderThroughTheSync(t *testing.T) {
	type reader struct {
		name string
		tree bool // managers from the unit tree (else named in the records)
		// read returns the source and input serving people.
		read func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input)
	}
	open := func(t *testing.T, c hrsource.Config) hrsource.Source {
		s, err := c.Open()
		require.NoError(t, err)
		return s
	}
	file := func(body string) hrsource.Input { return hrsource.Input{File: strings.NewReader(body)} }
	readers := []reader{
		{"visma-hrm", true, func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input) {
			srv := httptest.NewTLSServer(hrsource.VismaHandler(people, nil, "hemmelig"))
			t.Cleanup(srv.Close)
			var auth httpconn.Auth
			auth.Type, auth.Username, auth.PasswordFile = "basic", "WS-AD", secret(t, "hemmelig")
			return open(t, &hrsource.VismaConfig{BaseURL: srv.URL, Company: "1", Municipality: muni, IDStart: 10000,
				IDEnd: 10999, PageSize: 250, Auth: auth}), hrsource.Input{Client: srv.Client()}
		}},
		{"fint", true, func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input) {
			var base string
			srv := httptest.NewTLSServer(hrsource.FINTHandler(people, "tok", func() string { return base }))
			t.Cleanup(srv.Close)
			base = srv.URL
			var auth httpconn.Auth
			auth.Type, auth.TokenFile = "bearer", secret(t, "tok")
			return open(t, &hrsource.FINTConfig{BaseURL: srv.URL, Municipality: muni, Auth: auth}), hrsource.Input{Client: srv.Client()}
		}},
		{"csv", false, func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input) {
			c := hrsource.FxCSVConfig()
			return open(t, &c), file(hrsource.RenderCSV(people))
		}},
		{"stamdata3", true, func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input) {
			return open(t, &hrsource.Stamdata3Config{Municipality: muni}), file(hrsource.RenderStamdata(people, hrsource.FxUnits))
		}},
		{"json", false, func(t *testing.T, people []hrsource.FxPerson) (hrsource.Source, hrsource.Input) {
			return open(t, &hrsource.JSONConfig{}), file(hrsource.RenderJSON(people))
		}},
	}
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			s := newSyncer(t)
			name := "src-" + r.name
			src, in := r.read(t, hrsource.FxPeople())
			rep := s.run(t, name, src, in)
			require.Equal(t, hrsource.Summary{Source: name, People: 7, Joiners: 7, Reasons: []string{}}, rep.Summary)
			require.Equal(t, 7, rep.Accepted)
			snap := s.snapshot(t, name)
			require.Len(t, snap, 7)
			require.Equal(t, muni+"-10002", snap[muni+"-10003"].Record.Employments[0].Manager, "the leader of the unit")
			// The tilkallingsvikar at 0 % is a person like any other.
			require.Zero(t, snap[muni+"-10006"].Record.Employments[0].Percent)
			require.True(t, snap[muni+"-10006"].Present)
			// Two main employments: a data-quality warning and a choice
			// that does not depend on the order of the export.
			var warned []string
			for _, w := range rep.Warnings {
				warned = append(warned, w.PersonID+": "+w.Message)
			}
			require.Len(t, warned, 1, "%v", warned)
			require.Contains(t, warned[0], muni+"-10004: 2 main employments among 2 employments; taking")
			require.Contains(t, warned[0], "(primary, else highest percent, else earliest start)")
			if r.tree {
				require.Equal(t, muni+"-10001", snap[muni+"-10002"].Record.Employments[0].Manager,
					"the unit's leader is the person: one up, past a unit with no leader")
			} else {
				require.Empty(t, snap[muni+"-10002"].Record.Employments[0].Manager, "a manager named as the person themself is dropped")
			}
			// The top leader has no manager, and joins like anyone else.
			require.Empty(t, snap[muni+"-10001"].Record.Employments[0].Manager)
			require.True(t, snap[muni+"-10001"].Present)

			src, in = r.read(t, hrsource.FxSecond())
			rep = s.run(t, name, src, in)
			require.Equal(t, hrsource.Summary{Source: name, People: 6, Movers: 2, Leavers: 1, Unchanged: 4, Reasons: []string{}}, rep.Summary)
			require.Equal(t, 3, rep.Accepted)
			snap = s.snapshot(t, name)
			require.Equal(t, "120", snap[muni+"-10003"].Record.Employments[0].OrgUnit, "the mover moved")
			require.Equal(t, muni+"-10007", snap[muni+"-10003"].Record.Employments[0].Manager, "with the new unit's leader")
			require.Equal(t, "Nygift", snap[muni+"-10005"].Record.FamilyName)
			require.False(t, snap[muni+"-10006"].Present, "the leaver is gone from the source")
			for id, e := range snap {
				if id != muni+"-10006" {
					require.True(t, e.Present, id)
				}
			}

			src, in = r.read(t, hrsource.FxSecond())
			rep = s.run(t, name, src, in)
			require.Equal(t, hrsource.Summary{Source: name, People: 6, Unchanged: 7, Reasons: []string{}}, rep.Summary)
			require.Zero(t, rep.Sent)

			// One person.left per reader: the leaver, 10006, and nobody else.
			left := 0
			require.NoError(t, s.dev.Audit(context.Background(), api.AuditArgs{}, func(rows []api.AuditRow) error {
				for _, r := range rows {
					if r.Kind == "person.left" {
						require.Equal(t, muni+"-10006", r.Person)
						left++
					}
				}
				return nil
			}))
			require.Equal(t, 1, left, "the same person left once, and nobody else")
		})
	}
}

// A worker with a scheduled source syncs it by itself: the first slot
// runs at start, and the joiners reach the ledger with no one running
// `hr sync`.
func TestTheWorkerSyncsOnSchedule(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lonn.csv")
	require.NoError(t, os.WriteFile(file, []byte(hrsource.RenderCSV(hrsource.FxPeople())), 0o644))
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{Change: func(data string, o *app.WorkerOptions) {
		kp, err := principals.LoadSeed(filepath.Join(data, "keys", principals.HRSeedFile))
		require.NoError(t, err)
		o.HRSources = []app.HRSourceRun{{Name: "lonn", Every: time.Hour, Key: kp, Actor: principals.HRID,
			Prepare: func() (hrsync.Options, error) {
				c := hrsource.FxCSVConfig()
				src, err := c.Open()
				if err != nil {
					return hrsync.Options{}, err
				}
				body, err := os.ReadFile(file)
				return hrsync.Options{Source: src, Input: hrsource.Input{File: strings.NewReader(string(body))},
					Wait: time.Minute, DaysBeforeStart: 14}, err
			}}}
	}, Connectors: connectors.Set{"noop": nc, "manual": manual.Connector{}}, Catalogue: testenv.Catalogue})
	kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
	require.NoError(t, err)
	hr := &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 10 * time.Second}
	require.Eventually(t, func() bool {
		es, err := hr.HRSnapshotAll(context.Background(), "lonn")
		return err == nil && len(es) == 7
	}, 30*time.Second, 100*time.Millisecond, "the scheduled sync sent the seven joiners")
}
