package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// syncWorld is a real worker (intake, engine, SQLite ledger, API) with the
// dev principals and hrops, who holds both hr and operator.
type syncWorld struct {
	env     *testenv.Env
	devKey  string
	hropKey string
	dir     string
}

func newSyncWorld(t *testing.T) *syncWorld {
	t.Helper()
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	hropKey := filepath.Join(dir, "hrops.nk")
	require.NoError(t, os.WriteFile(hropKey, seed, 0o600))
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(dir, "noop.journal")})
	require.NoError(t, err)
	e := testenv.StartWorker(t, connectors.Set{"noop": nc, "manual": manual.Connector{}}, testenv.Catalogue,
		principals.Principal{ID: "hrops", Kind: principals.KindService, Name: "HR operations", Key: pub,
			Capabilities: []string{tilgang.CapHR, tilgang.CapOperator}})
	return &syncWorld{env: e, devKey: filepath.Join(e.Data, "keys", principals.DevSeedFile), hropKey: hropKey, dir: dir}
}

// sync runs `tilgang hr sync` with key and args.
func (w *syncWorld) sync(t *testing.T, key string, args ...string) (int, string, string) {
	t.Helper()
	vars := map[string]string{envNATS: w.env.URL, envKey: key}
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"hr", "sync"}, args...), options{Stdout: &out, Stderr: &errOut,
		Stdin: strings.NewReader(""), Getenv: func(k string) string { return vars[k] }, Now: time.Now})
	return code, out.String(), errOut.String()
}

// file writes people as the json source's record array.
func (w *syncWorld) file(t *testing.T, name string, people []tilgang.Person) string {
	t.Helper()
	b, err := json.Marshal(people)
	require.NoError(t, err)
	f := filepath.Join(w.dir, name)
	require.NoError(t, os.WriteFile(f, b, 0o644))
	return f
}

func (w *syncWorld) client(t *testing.T) *api.Client {
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	return &api.Client{NC: w.env.NC, Key: kp, Actor: principals.DevID, Timeout: 10 * time.Second}
}

// audit counts the chain rows by kind, and lists the people of kind.
func (w *syncWorld) audit(t *testing.T) (map[string]int, map[string][]string) {
	t.Helper()
	n, who := map[string]int{}, map[string][]string{}
	require.NoError(t, w.client(t).Audit(context.Background(), api.AuditArgs{}, func(rows []api.AuditRow) error {
		for _, r := range rows {
			n[r.Kind]++
			if r.Person != "" {
				who[r.Kind] = append(who[r.Kind], r.Person)
			}
		}
		return nil
	}))
	return n, who
}

func (w *syncWorld) snapshot(t *testing.T, source string) map[string]api.HRSnapshotEntry {
	t.Helper()
	es, err := w.client(t).HRSnapshotAll(context.Background(), source)
	require.NoError(t, err)
	out := map[string]api.HRSnapshotEntry{}
	for _, e := range es {
		out[e.Person] = e
	}
	return out
}

func syncPeople(n int) []tilgang.Person {
	var ps []tilgang.Person
	for i := 1; i <= n; i++ {
		ps = append(ps, tilgang.Person{ID: fmt.Sprintf("1547-%d", 100+i), GivenName: fmt.Sprintf("Person%d", i), FamilyName: "Aukra",
			Municipality: "1547", Employments: []tilgang.Employment{{ID: fmt.Sprintf("%d-1", 100+i), Primary: true, Percent: 100,
				OrgUnit: "oppvekst/aukra-skule", Position: "lærer", Start: tilgang.Date{Y: 2024, M: 8, D: 1}}}})
	}
	return ps
}

func decodeSync(t *testing.T, out string) syncReport {
	t.Helper()
	var r syncReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), "%s", out)
	return r
}

// The json reader through the sync against a real worker: a first snapshot
// makes joiners, a second with one mover, one leaver and one name change
// makes exactly those events, a third identical one makes none; a snapshot
// with 40 % of the people missing is held (nobody leaves, exit 1,
// hr.sync.held chained and emitted); --allow-changes is refused to hr alone
// and sends the leavers for a principal with hr and operator.
func TestHRSyncThroughTheWorker(t *testing.T) {
	w := newSyncWorld(t)
	people := syncPeople(20)

	// 1. The first snapshot: everyone joins.
	code, out, errOut := w.sync(t, w.devKey, "--type", "json", "--file", w.file(t, "1.json", people), "--output", "json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := decodeSync(t, out)
	require.Equal(t, hrsourceSummary("json", 20, 20, 0, 0, 0), r.Summary)
	require.Equal(t, 20, r.Sent)
	require.Equal(t, 20, r.Accepted)
	require.Contains(t, errOut, "processed 20/20")
	snap := w.snapshot(t, "json")
	require.Len(t, snap, 20)
	require.True(t, snap["1547-101"].Present)
	n, _ := w.audit(t)
	require.Equal(t, 20, n["hr.record"])

	// 2. One mover, one leaver, one name change.
	second := append([]tilgang.Person{}, people...)
	second[0].Employments = []tilgang.Employment{second[0].Employments[0]}
	second[0].Employments[0].OrgUnit = "helse/hjemmetjenesten" // 1547-101 moves
	second[1].FamilyName = "Øvergård-Bø"                       // 1547-102 changes name
	second = append(second[:2], second[3:]...)                 // 1547-103 leaves
	code, out, errOut = w.sync(t, w.devKey, "--type", "json", "--file", w.file(t, "2.json", second), "--output", "json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r = decodeSync(t, out)
	require.Equal(t, hrsourceSummary("json", 19, 0, 2, 1, 17), r.Summary)
	require.Equal(t, 3, r.Accepted)
	snap = w.snapshot(t, "json")
	require.Equal(t, "helse/hjemmetjenesten", snap["1547-101"].Record.Employments[0].OrgUnit, "the mover's record changed")
	require.Equal(t, "Øvergård-Bø", snap["1547-102"].Record.FamilyName)
	require.False(t, snap["1547-103"].Present, "the leaver is gone from the source")
	require.False(t, snap["1547-103"].Record.Employments[0].End.IsZero(), "the leaver's employment ended")
	n, who := w.audit(t)
	require.Equal(t, 23, n["hr.record"])
	require.Equal(t, []string{"1547-103"}, who["person.left"], "the leaver left, nobody else")

	// 3. The same snapshot again: nothing to send.
	code, out, errOut = w.sync(t, w.devKey, "--type", "json", "--file", w.file(t, "3.json", second))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Equal(t, "source json: 19 people: to send 0 joiners, 0 movers, 0 leavers; 20 unchanged, 0 rejected\nnothing to send\n", out)
	n2, _ := w.audit(t)
	require.Equal(t, n["hr.record"], n2["hr.record"], "nothing was sent")

	// 4. 40 % of the 19 missing: held, nothing sent, exit 1, announced.
	short := second[:11] // 8 of 19 missing
	f4 := w.file(t, "4.json", short)
	code, out, errOut = w.sync(t, w.devKey, "--type", "json", "--file", f4, "--output", "json")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r = decodeSync(t, out)
	require.True(t, r.Held)
	require.Equal(t, 8, r.Leavers)
	require.Equal(t, 0, r.Sent)
	require.NotEmpty(t, r.Reasons)
	require.Contains(t, errOut, "held: nothing was sent: 8 of 19 people would leave")
	n, who = w.audit(t)
	require.Equal(t, 1, n["hr.sync.held"])
	require.Equal(t, []string{"1547-103"}, who["person.left"], "nobody else left")
	require.Equal(t, n2["hr.record"], n["hr.record"], "nothing was sent")
	held := w.env.Wait(api.KindHRSyncHeld, "_", nil)
	require.Equal(t, "json", held.Data["source"])
	require.EqualValues(t, 8, held.Data["leavers"])
	w.env.Metric("tilgang_hr_sync_held_total", 1, `source="json"`)

	// A dry run of it sends and announces nothing, and says it would be held.
	code, _, errOut = w.sync(t, w.devKey, "--type", "json", "--file", f4, "--dry-run")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "the fail-safe would hold this sync")
	n, _ = w.audit(t)
	require.Equal(t, 1, n["hr.sync.held"])
	w.env.Metric("tilgang_hr_sync_held_total", 1, `source="json"`)

	// hr alone may not allow the changes: the worker refuses.
	code, out, errOut = w.sync(t, w.devKey, "--type", "json", "--file", f4, "--allow-changes")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "--allow-changes refused: hr may not allow the changes of a held HR sync of json: that takes both hr and operator, and hr lacks operator: nothing was sent")
	n, who = w.audit(t)
	require.Zero(t, n["hr.sync.allowed"])
	require.Equal(t, []string{"1547-103"}, who["person.left"])

	// hr and operator may: the leavers go through.
	code, out, errOut = w.sync(t, w.hropKey, "--type", "json", "--file", f4, "--allow-changes", "--output", "json")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r = decodeSync(t, out)
	require.True(t, r.Held)
	require.Equal(t, 8, r.Accepted)
	n, who = w.audit(t)
	require.Equal(t, 1, n["hr.sync.allowed"])
	require.Len(t, who["person.left"], 9)
	for _, p := range second[11:] {
		require.Contains(t, who["person.left"], p.ID)
	}
}

func hrsourceSummary(source string, people, joiners, movers, leavers, unchanged int) hrsource.Summary {
	return hrsource.Summary{Source: source, People: people, Joiners: joiners, Movers: movers, Leavers: leavers,
		Unchanged: unchanged, Reasons: []string{}}
}

// A read that fails or ends early sends nothing and exits non-zero; wrong
// usage says what is wrong.
func TestHRSyncBadReadsAndUsage(t *testing.T) {
	w := newWorld(t)
	good := `[{"id": "1547-1", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []}]`
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"truncated", []string{"--type", "json", "--file", writeFile(t, "cut.json", good[:40])}, 1,
			"tilgang hr sync: read source json: json: read the record array: unexpected EOF: nothing was sent"},
		{"a field no record carries", []string{"--type", "json", "--file", writeFile(t, "fnr.json",
			`[{"id": "1547-1", "fodselsnummer": "x", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []}]`)}, 1,
			"nothing was sent"},
		{"no file", []string{"--type", "json", "--file", filepath.Join(t.TempDir(), "none.json")}, 1, "cannot read"},
		{"configured source without a config", []string{"--source", "visma"}, 2,
			"--source visma alone names a source of a worker config's hr_sources: pass --config FILE (or set TILGANG_CONFIG)"},
		{"no type", []string{"--file", "x.json"}, 2, "give --source NAME (a source of the worker config) or --type TYPE with --file or --url"},
		{"file and url", []string{"--type", "json", "--file", "x.json", "--url", "http://127.0.0.1:1"}, 2, "give exactly one of --file and --url"},
		{"unknown type", []string{"--type", "sap", "--file", "x.json"}, 2, `unknown source type "sap" (known: csv, fint, json, stamdata3, visma-hrm)`},
		{"bad name", []string{"--type", "json", "--source", "a/b", "--file", "x.json"}, 2, `source name "a/b" is not a name`},
		{"municipality missing", []string{"--type", "stamdata3", "--file", "x.xml"}, 1, "municipality is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := w.run(t, nil, append([]string{"hr", "sync"}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(t, errOut, tc.msg)
			require.Empty(t, out)
		})
	}
	require.Empty(t, w.msgs(t), "nothing was published")
}

// stamdata3 renders people (id -> surname, position) as a Unit4 Stamdata3
// export: one unit, 100, led by resource 1.
func stamdata3(ids []int, surname, position map[int]string) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ExportInfo>\n  <Resources>\n")
	for _, id := range ids {
		fmt.Fprintf(&b, `    <Resource><ResourceId>%d</ResourceId><FirstName>Person%d</FirstName><Surname>%s</Surname>
      <SocialSecurityNumber>01017012345</SocialSecurityNumber>
      <Employments><Employment><MainPosition>true</MainPosition><Percentage>100,00</Percentage>
        <PostCodeDescription>%s</PostCodeDescription><SequenceNo>1</SequenceNo>
        <DateFrom>2024-08-01T00:00:00</DateFrom><DateTo>2099-12-31T00:00:00</DateTo>
        <Relations><Relation ElementType="ORGANIZATIONAL_UNIT"><Value>100</Value><DateFrom>2024-01-01T00:00:00</DateFrom>
        <DateTo>2099-12-31T00:00:00</DateTo></Relation></Relations></Employment></Employments></Resource>
`, id, id, firstOf(surname[id], "Aukra"), firstOf(position[id], "Lærer"))
	}
	b.WriteString("  </Resources>\n  <Organisations>\n    <Organisation><Id>100</Id><ParentId></ParentId><Managers><string>1</string></Managers></Organisation>\n  </Organisations>\n</ExportInfo>\n")
	return b.String()
}

// The stamdata3 reader through the sync: joiners, then exactly one mover,
// one leaver and one name change, then nothing.
func TestHRSyncStamdata3(t *testing.T) {
	w := newSyncWorld(t)
	var ids []int
	for i := 1; i <= 20; i++ {
		ids = append(ids, i)
	}
	write := func(name, body string) string {
		f := filepath.Join(w.dir, name)
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		return f
	}
	sync := func(file string) syncReport {
		t.Helper()
		code, out, errOut := w.sync(t, w.devKey, "--type", "stamdata3", "--source", "aukra", "--municipality", "1547",
			"--file", file, "--output", "json")
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		require.NotContains(t, out+errOut, "01017012345", "the fødselsnummer is never read")
		return decodeSync(t, out)
	}
	r := sync(write("1.xml", stamdata3(ids, nil, nil)))
	require.Equal(t, hrsource.Summary{Source: "aukra", People: 20, Joiners: 20, Reasons: []string{}}, r.Summary)
	require.Equal(t, 20, r.Accepted)
	snap := w.snapshot(t, "aukra")
	require.Equal(t, "1547-1", snap["1547-2"].Record.Employments[0].Manager, "the unit's leader")
	require.Equal(t, "", snap["1547-1"].Record.Employments[0].Manager, "the leader is not their own manager")

	second := append(append([]int{}, ids[:2]...), ids[3:]...) // 3 leaves
	f2 := write("2.xml", stamdata3(second, map[int]string{2: "Øvergård-Bø"}, map[int]string{1: "Rektor"}))
	r = sync(f2)
	require.Equal(t, hrsource.Summary{Source: "aukra", People: 19, Movers: 2, Leavers: 1, Unchanged: 17, Reasons: []string{}}, r.Summary)
	require.Equal(t, 3, r.Accepted)
	snap = w.snapshot(t, "aukra")
	require.Equal(t, "Rektor", snap["1547-1"].Record.Employments[0].Position)
	require.Equal(t, "Øvergård-Bø", snap["1547-2"].Record.FamilyName)
	require.False(t, snap["1547-3"].Present)
	_, who := w.audit(t)
	require.Equal(t, []string{"1547-3"}, who["person.left"])

	r = sync(f2)
	require.Equal(t, hrsource.Summary{Source: "aukra", People: 19, Unchanged: 20, Reasons: []string{}}, r.Summary)
	require.Zero(t, r.Sent)
}
