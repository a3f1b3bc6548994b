package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

const person = "1547-10234"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func copyKey(t *testing.T, from, name string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	return writeFile(t, name, string(b))
}

func TestRequestPublishes(t *testing.T) {
	w := newWorld(t)
	tomorrow := tilgang.DateOf(w.now.Add(24 * time.Hour)).String()
	otherKey := copyKey(t, w.devKey, "min-nokkel.nk")
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		actor   string
		via     string
		action  string
		until   string
		jsonOut bool
	}{
		{name: "dev key, no --as: dev acts for itself", args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "ny i heimetenesta"},
			actor: "dev", action: "grant"},
		{name: "--as after the command: via dev", args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r", "--as", "1547-10001"},
			actor: "1547-10001", via: "dev", action: "grant"},
		{name: "--as before the command", args: []string{"--as", "1547-10001", "request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "1547-10001", via: "dev", action: "grant"},
		{name: "TILGANG_AS", env: map[string]string{envAs: "1547-20001"}, args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "1547-20001", via: "dev", action: "grant"},
		{name: "--as wins over TILGANG_AS", env: map[string]string{envAs: "1547-20001"}, args: []string{"request", "grant", "--as=1547-10001", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "1547-10001", via: "dev", action: "grant"},
		{name: "--until", args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "vikariat", "--until", tomorrow, "--as", "1547-10001"},
			actor: "1547-10001", via: "dev", action: "grant", until: tomorrow},
		{name: "--until today is fine", args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r", "--until", tilgang.DateOf(w.now).String()},
			actor: "dev", action: "grant", until: tilgang.DateOf(w.now).String()},
		{name: "revoke", args: []string{"request", "revoke", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "sluttar", "--as", "1547-10001"},
			actor: "1547-10001", via: "dev", action: "revoke"},
		{name: "the hr key signs for itself", env: map[string]string{envKey: w.hrKey}, args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "hr", action: "grant"},
		{name: "--via names the key's principal", args: []string{"--key", otherKey, "--via", "dev", "--as", "1547-10001", "request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "1547-10001", via: "dev", action: "grant"},
		{name: "--as equal to the key's principal: no via", args: []string{"request", "grant", "--as", "dev", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r"},
			actor: "dev", action: "grant"},
		{name: "--output json", args: []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r", "--output", "json"},
			actor: "dev", action: "grant", jsonOut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.msgs(t))
			code, out, errOut := w.run(t, tc.env, tc.args...)
			require.Equal(t, 0, code, "stderr: %s", errOut)
			msgs := w.msgs(t)
			require.Len(t, msgs, before+1)
			m := msgs[len(msgs)-1]
			require.Equal(t, "tilgang.in.request."+person, m.Subject)
			env := w.decoded(t, m)
			require.Equal(t, tc.actor, env.Actor)
			require.Equal(t, tc.via, env.Via)
			require.Equal(t, tilgang.TypeRequest, env.Type)
			p := env.Payload.(*envelope.Request)
			require.Equal(t, tc.action, p.Action)
			require.Equal(t, "gerica", p.System)
			require.Equal(t, "bruker", p.Role)
			require.Equal(t, tc.until, p.ValidUntil.String())
			if tc.jsonOut {
				var got map[string]string
				require.NoError(t, json.Unmarshal([]byte(out), &got))
				require.Equal(t, map[string]string{"request_id": env.Key()}, got)
			} else {
				require.Equal(t, env.Key()+"\n", out)
			}
		})
	}
}

func TestBadInputPublishesNothing(t *testing.T) {
	w := newWorld(t)
	yesterday := tilgang.DateOf(w.now.Add(-24 * time.Hour)).String()
	grant := []string{"request", "grant", "--person", person, "--system", "gerica", "--role", "bruker"}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	notSeed := writeFile(t, "dev.nk", "not a seed\n")
	badJSON := writeFile(t, "p.json", "{\"id\": \"1547-1\",\n  \"given_name\": \"Åse\" \"family_name\": \"Ø\"}")
	invalidPerson := writeFile(t, "p.json", `{"version": 3, "person": {"id": "1547-1", "given_name": "", "family_name": "Ø", "municipality": "1547", "employments": []}}`)
	unknownField := writeFile(t, "p.json", `{"id": "1547-1", "given_name": "Å", "family_name": "Ø", "municipality": "1547", "employments": [], "fodselsnummer": "01010112345"}`)
	badDate := writeFile(t, "p.json", `{"id": "1547-1", "given_name": "Å", "family_name": "Ø", "municipality": "1547", "employments": [{"id": "e1", "start": "2024-13-01"}]}`)
	wrongType := writeFile(t, "p.json", `{"version": "7", "person": {"id": "1547-1", "given_name": "Å", "family_name": "Ø", "municipality": "1547", "employments": []}}`)
	importBadJSON := writeFile(t, "people.json", "[\n {\"id\": \"1547-1\", \"given_name\": \"A\", \"family_name\": \"B\", \"municipality\": \"1547\", \"employments\": []},\n {\"id\": \"1547-2\",, }\n]")
	importBadRecord := writeFile(t, "people.json", `[
 {"id": "1547-1", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []},
 {"id": "1547 2", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []}
]`)
	importObject := writeFile(t, "people.json", `{"id": "1547-1"}`)
	importEmpty := writeFile(t, "people.json", `[]`)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{name: "missing --person", args: []string{"request", "grant", "--system", "gerica", "--role", "bruker", "--reason", "r"}, code: 2, msg: "--person is required"},
		{name: "missing --reason", args: grant, code: 2, msg: "--reason is required"},
		{name: "blank --reason", args: with(grant, "--reason", "  "), code: 2, msg: "--reason is required"},
		{name: "--until not a date", args: with(grant, "--reason", "r", "--until", "2026-13-01"), code: 2, msg: `--until "2026-13-01" is not a date YYYY-MM-DD`},
		{name: "--until in Norwegian notation", args: with(grant, "--reason", "r", "--until", "31.12.2026"), code: 2, msg: "is not a date YYYY-MM-DD"},
		{name: "--until in the past", args: with(grant, "--reason", "r", "--until", yesterday), code: 2, msg: "is in the past"},
		{name: "--until on a revoke", args: []string{"request", "revoke", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r", "--until", "2030-01-01"}, code: 2, msg: "flag provided but not defined: -until"},
		{name: "person not an id", args: []string{"request", "grant", "--person", "Åse Øvergård", "--system", "gerica", "--role", "bruker", "--reason", "r"}, code: 2, msg: "--person \"Åse Øvergård\" is not an id"},
		{name: "reason too long", args: with(grant, "--reason", strings.Repeat("x", envelope.MaxText+1)), code: 2, msg: "more than 2000"},
		{name: "unknown flag", args: with(grant, "--reason", "r", "--frob"), code: 2, msg: "flag provided but not defined: -frob"},
		{name: "extra argument", args: with(grant, "--reason", "r", "extra"), code: 2, msg: `unexpected argument "extra"`},
		{name: "bad --output", args: with(grant, "--reason", "r", "--output", "yaml"), code: 2, msg: "--output \"yaml\" must be text or json"},
		{name: "bad --wait", args: with(grant, "--reason", "r", "--wait", "soon"), code: 2, msg: "invalid value \"soon\" for flag -wait"},
		{name: "missing key file", env: map[string]string{envKey: filepath.Join(t.TempDir(), "dev.nk")}, args: with(grant, "--reason", "r"), code: 2, msg: "dev.nk does not exist"},
		{name: "key file without a seed", env: map[string]string{envKey: notSeed}, args: with(grant, "--reason", "r"), code: 1, msg: "does not hold an nkeys user seed"},
		{name: "bad --as", args: with(grant, "--reason", "r", "--as", "kari nordmann"), code: 2, msg: "--as \"kari nordmann\" is not a principal id"},
		{name: "unknown command", args: []string{"requets", "grant"}, code: 2, msg: `unknown command "requets"`},
		{name: "unknown subcommand", args: []string{"request", "give"}, code: 2, msg: "request takes grant, revoke"},
		{name: "approve: malformed request id", args: []string{"approve", "abc123"}, code: 2, msg: "is not a request id"},
		{name: "approve: no request id", args: []string{"approve"}, code: 2, msg: "missing argument"},
		{name: "deny without a comment", args: []string{"deny", strings.Repeat("a", 64)}, code: 2, msg: "--comment is required"},
		{name: "task: not an operation id", args: []string{"task", "done", "op-1"}, code: 2, msg: "is not an operation id"},
		{name: "grant retry: not a grant id", args: []string{"grant", "retry", "g/1"}, code: 2, msg: "is not an id"},
		{name: "training without --role", args: []string{"training", "confirm", "--person", person, "--system", "gerica"}, code: 2, msg: "--role is required"},
		{name: "hr joiner without --file", args: []string{"hr", "joiner"}, code: 2, msg: "--file is required"},
		{name: "hr joiner: unreadable file", args: []string{"hr", "joiner", "--file", filepath.Join(t.TempDir(), "nope.json")}, code: 1, msg: "cannot read"},
		{name: "hr joiner: invalid JSON", args: []string{"hr", "joiner", "--file", badJSON}, code: 1, msg: "at byte 40 (line 2, column 23): invalid JSON: invalid character"},
		{name: "hr joiner: invalid person", args: []string{"hr", "joiner", "--file", invalidPerson}, code: 1, msg: "person.given_name is empty"},
		{name: "hr joiner: unknown field", args: []string{"hr", "mover", "--file", unknownField}, code: 1, msg: `unknown field "fodselsnummer"`},
		{name: "hr joiner: bad date", args: []string{"hr", "leaver", "--file", badDate}, code: 1, msg: `"2024-13-01" is not YYYY-MM-DD`},
		{name: "hr joiner: version as a string", args: []string{"hr", "joiner", "--file", wrongType}, code: 1, msg: "field version: string is not a valid int64"},
		{name: "hr import: invalid JSON in record 2", args: []string{"hr", "import", importBadJSON}, code: 1, msg: "at byte 120 (line 3, column 18): invalid JSON"},
		{name: "hr import: one invalid record", args: []string{"hr", "import", importBadRecord}, code: 1, msg: "1 of 2 records are invalid: nothing was published"},
		{name: "hr import: not an array", args: []string{"hr", "import", importObject}, code: 1, msg: "must hold a JSON array"},
		{name: "hr import: empty", args: []string{"hr", "import", importEmpty}, code: 1, msg: "no records"},
		{name: "hr import: no file", args: []string{"hr", "import"}, code: 2, msg: "missing argument"},
		{name: "NATS not reachable", env: map[string]string{envNATS: "nats://127.0.0.1:1"}, args: with(grant, "--reason", "r"), code: 1, msg: "cannot connect to NATS at nats://127.0.0.1:1"},
		{name: "worker without --config", args: []string{"worker"}, code: 2, msg: "--config FILE is required"},
		{name: "worker with a missing config", args: []string{"worker", "--config", "no-such-tilgang.yaml"}, code: 1, msg: "is not a valid config"},
		{name: "plan without a person", args: []string{"plan"}, code: 2, msg: "give --person ID"},
		{name: "plan with a system but no role", args: []string{"plan", "--person", person, "--system", "kasse"}, code: 2, msg: "together"},
		{name: "credential open: bad person", args: []string{"credential", "open", "--person", "not a person"}, code: 2, msg: "is not a person id"},
		{name: "graph-emulator: not loopback", args: []string{"graph-emulator", "--listen", "192.0.2.1:8081"}, code: 2, msg: "loopback address only"},
		{name: "graph-emulator: negative budget", args: []string{"graph-emulator", "--budget", "-1"}, code: 2, msg: "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := w.run(t, tc.env, tc.args...)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out, errOut)
			require.Contains(t, errOut, tc.msg)
			require.Empty(t, out)
			require.Empty(t, w.msgs(t), "nothing may be published")
		})
	}
}

func TestImportProblemsNameTheRecord(t *testing.T) {
	w := newWorld(t)
	f := writeFile(t, "people.json", `[
 {"id": "1547-1", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []},
 {"id": "1547-2", "given_name": "", "family_name": "B", "municipality": "1547", "employments": []},
 {"version": 0, "person": {"id": "1547-3", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []}}
]`)
	code, _, errOut := w.run(t, nil, "hr", "import", f)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, f+":3: record 2 (1547-2): person.given_name is empty")
	require.Contains(t, errOut, f+":4: record 3 (1547-3): version 0 must be greater than 0")
	require.Contains(t, errOut, "2 of 3 records are invalid: nothing was published")
	require.Empty(t, w.msgs(t))
}

func TestHREvents(t *testing.T) {
	w := newWorld(t)
	rec := `{"id": "1547-10234", "given_name": "Åse", "family_name": "Øvergård-Bø", "email": "ase@aukra.kommune.no",
 "municipality": "1547",
 "employments": [
   {"id": "10234-1", "primary": true, "percent": 80, "org_unit": "oppvekst/aukra-skule",
    "position": "lærer", "manager": "1547-10001", "start": "2024-08-01", "end": null}]}`
	bare := writeFile(t, "bare.json", rec)
	wrapped := writeFile(t, "wrapped.json", `{"version": 7, "person": `+rec+`}`)
	withVersion := writeFile(t, "v.json", `{"version": 9, `+rec[1:])
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		typ     string
		version int64
		actor   string
		via     string
	}{
		{name: "bare record: version is now in ms, actor hr via dev", args: []string{"hr", "joiner", "--file", bare},
			typ: tilgang.TypeHRJoiner, version: w.now.UnixMilli(), actor: "hr", via: "dev"},
		{name: "wrapped record keeps its version", args: []string{"hr", "mover", "--file", wrapped},
			typ: tilgang.TypeHRMover, version: 7, actor: "hr", via: "dev"},
		{name: "bare record with a version", args: []string{"hr", "leaver", "--file", withVersion},
			typ: tilgang.TypeHRLeaver, version: 9, actor: "hr", via: "dev"},
		{name: "--as names another hr principal", args: []string{"hr", "joiner", "--file", wrapped, "--as", "visma-hrm"},
			typ: tilgang.TypeHRJoiner, version: 7, actor: "visma-hrm", via: "dev"},
		{name: "the hr key signs for itself", env: map[string]string{envKey: w.hrKey}, args: []string{"hr", "joiner", "--file", wrapped},
			typ: tilgang.TypeHRJoiner, version: 7, actor: "hr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.msgs(t))
			code, out, errOut := w.run(t, tc.env, tc.args...)
			require.Equal(t, 0, code, "stderr: %s", errOut)
			msgs := w.msgs(t)
			require.Len(t, msgs, before+1)
			m := msgs[len(msgs)-1]
			require.Equal(t, "tilgang.in.hr.1547-10234", m.Subject)
			env := w.decoded(t, m)
			require.Equal(t, tc.typ, env.Type)
			require.Equal(t, tc.actor, env.Actor)
			require.Equal(t, tc.via, env.Via)
			hr := env.Payload.(*envelope.HR)
			require.Equal(t, tc.version, hr.Version)
			require.Equal(t, "Øvergård-Bø", hr.Person.FamilyName)
			require.Equal(t, "1547-10001", hr.Person.Manager())
			require.Equal(t, env.Key()+"\n", out)
		})
	}
}

func TestHRImport(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	w.process(t, map[string]string{"1547-3": "org unit helse/ukjend does not exist"})
	rec := func(id, extra string) string {
		return `{` + extra + `"id": "` + id + `", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": [{"id": "` + id + `-1", "start": "2024-08-01"}]}`
	}
	f := writeFile(t, "people.json", "[\n"+strings.Join([]string{
		rec("1547-1", ""),
		rec("1547-2", `"version": 5, `),
		`{"version": 4, "person": ` + rec("1547-2", "") + `}`, // older than the one before: ignored
		rec("1547-3", ""),
		rec("1547-1", ""), // the same person again: a higher version, accepted
	}, ",\n")+"\n]")
	code, out, errOut := w.run(t, nil, "hr", "import", f, "--wait", "20s")
	require.Equal(t, 1, code, "a rejection makes the import fail; stderr: %s", errOut)
	require.Contains(t, errOut, "published 5/5\n")
	require.Contains(t, errOut, "processed 5/5\n")
	require.Less(t, strings.Index(errOut, "published 5/5"), strings.Index(errOut, "processed 5/5"))
	require.Contains(t, out, "accepted 3, rejected 1, ignored 1\n")
	require.Contains(t, out, "rejected: record 4 (1547-3, request ")
	require.Contains(t, out, "): org unit helse/ukjend does not exist\n")

	msgs := w.msgs(t)
	require.Len(t, msgs, 5)
	base := w.now.UnixMilli()
	want := []struct {
		person  string
		version int64
	}{{"1547-1", base}, {"1547-2", 5}, {"1547-2", 4}, {"1547-3", base + 3}, {"1547-1", base + 4}}
	for i, m := range msgs {
		env := w.decoded(t, m)
		require.Equal(t, tilgang.TypeHRJoiner, env.Type)
		require.Equal(t, "hr", env.Actor)
		require.Equal(t, "dev", env.Via)
		hr := env.Payload.(*envelope.HR)
		require.Equal(t, want[i].person, hr.Person.ID, "record %d", i+1)
		require.Equal(t, want[i].version, hr.Version, "record %d", i+1)
	}

	t.Run("json summary", func(t *testing.T) {
		f := writeFile(t, "more.json", "["+rec("1547-7", "")+"]")
		code, out, errOut := w.run(t, nil, "hr", "import", f, "--output", "json")
		require.Equal(t, 0, code, "stderr: %s", errOut)
		var s importSummary
		require.NoError(t, json.Unmarshal([]byte(out), &s))
		require.Equal(t, importSummary{Records: 1, Published: 1, Accepted: 1, Rejections: []rejection{}}, s)
	})

	t.Run("--wait 0 only publishes", func(t *testing.T) {
		f := writeFile(t, "more.json", "["+rec("1547-8", "")+"]")
		code, out, errOut := w.run(t, nil, "hr", "import", f, "--wait", "0")
		require.Equal(t, 0, code, "stderr: %s", errOut)
		require.Equal(t, "published 1 records\n", out)
		require.NotContains(t, errOut, "processed")
	})
}

func TestReadsAndDecisions(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	reqID := envelope.KeyHash("1547-10001", "portal", "17")
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.InsertGrant(ledger.Grant{ID: "g1", Person: person, System: "gerica", Role: "bruker", State: tilgang.StatePendingApproval,
		RequestID: reqID, Requester: "1547-10001", Created: now, Updated: now}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: reqID, Person: person, System: "gerica", Role: "bruker", Action: "grant",
		Actor: "1547-10001", GrantID: "g1", Outcome: "accepted", Reason: "ny", At: now}))
	opID, err := tx.InsertOperation(ledger.Operation{GrantID: "g1", Person: person, Connector: "manual", Kind: ledger.KindGrant,
		State: ledger.OpWaiting, DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: person, Actor: "1547-10001", System: "gerica", Role: "bruker",
		GrantID: "g1", RequestID: reqID, To: "pending_approval", Text: "ny, med \"komma\", og linje\nskift"})
	require.NoError(t, tx.Commit())
	op := strconv.FormatInt(opID, 10)

	t.Run("status", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "status", reqID)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, reqID+" g1 pending_approval\n", out)
		code, out, _ = w.run(t, nil, "--output", "json", "status", reqID)
		require.Equal(t, 0, code)
		var st map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		require.Equal(t, reqID, st["request_id"])
		require.Equal(t, "g1", st["grant_id"])
		require.Equal(t, "pending_approval", st["state"])
	})

	t.Run("status refused", func(t *testing.T) {
		code, _, errOut := w.run(t, nil, "status", reqID, "--as", "1547-99999")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "refused: api: 1547-99999 may not see request")
	})

	t.Run("grants table", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "grants", "--system", "gerica")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 2)
		require.True(t, strings.HasPrefix(lines[0], "GRANT"))
		require.Contains(t, lines[1], "g1")
		require.Contains(t, lines[1], "pending_approval (systemansvarlig)")
		code, _, errOut = w.run(t, nil, "grants")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "give --person ID or --system ID")
	})

	t.Run("audit csv", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "audit", "--person", person, "--format", "csv", "--since", "2020-01-01")
		require.Equal(t, 0, code, errOut)
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 2)
		require.Equal(t, auditHeader, rows[0])
		require.Equal(t, "grant.state", rows[1][2])
		require.Equal(t, "ny, med \"komma\", og linje\nskift", rows[1][13])
		code, _, errOut = w.run(t, nil, "audit", "--since", "01.01.2020")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "--since \"01.01.2020\" is not a date")
	})

	t.Run("audit verify", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "audit", "verify")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "rows 1\n")
		require.Contains(t, out, "ok true\n")
	})

	t.Run("policy reload", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "policy", "reload")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "reloaded: catalogue cat-v2\n", out)
	})

	t.Run("approve and deny look up the person", func(t *testing.T) {
		before := len(w.msgs(t))
		code, out, errOut := w.run(t, nil, "approve", reqID, "--as", "1547-20001", "--comment", "ok")
		require.Equal(t, 1, code, "1547-20001 may not see the request without the catalogue")
		require.Contains(t, errOut, "refused")
		require.Empty(t, out)
		require.Len(t, w.msgs(t), before)

		for _, args := range [][]string{{"approve", reqID}, {"deny", reqID, "--comment", "ikkje tenstleg behov"}} {
			code, out, errOut = w.run(t, nil, args...)
			require.Equal(t, 0, code, errOut)
			msgs := w.msgs(t)
			m := msgs[len(msgs)-1]
			require.Equal(t, "tilgang.in.decision."+person, m.Subject)
			env := w.decoded(t, m)
			d := env.Payload.(*envelope.Decision)
			require.Equal(t, reqID, d.RequestID)
			require.Equal(t, args[0], d.Decision)
			require.Equal(t, env.Key()+"\n", out)
		}
		code, _, errOut = w.run(t, nil, "approve", strings.Repeat("e", 64))
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "is not known to the worker (yet)")
	})

	t.Run("task and grant look up the person", func(t *testing.T) {
		for _, tc := range []struct {
			args    []string
			subject string
			typ     string
		}{
			{[]string{"task", "done", op, "--comment", "oppretta i Gerica"}, "tilgang.in.task." + person, tilgang.TypeTask},
			{[]string{"task", "failed", op}, "tilgang.in.task." + person, tilgang.TypeTask},
			{[]string{"grant", "retry", "g1"}, "tilgang.in.operator." + person, tilgang.TypeRetry},
			{[]string{"grant", "cancel", "g1", "--comment", "feil person"}, "tilgang.in.operator." + person, tilgang.TypeCancel},
		} {
			code, out, errOut := w.run(t, nil, tc.args...)
			require.Equal(t, 0, code, errOut)
			msgs := w.msgs(t)
			m := msgs[len(msgs)-1]
			require.Equal(t, tc.subject, m.Subject)
			env := w.decoded(t, m)
			require.Equal(t, tc.typ, env.Type)
			require.Equal(t, env.Key()+"\n", out)
			if task, ok := env.Payload.(*envelope.Task); ok {
				require.Equal(t, op, task.OperationID)
				require.Equal(t, tc.args[1], task.Outcome)
			}
		}
		code, _, errOut := w.run(t, nil, "grant", "retry", "g-missing")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "no grant g-missing")
	})

	t.Run("training", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "training", "confirm", "--person", person, "--system", "gerica", "--role", "bruker", "--as", "1547-20001")
		require.Equal(t, 0, code, errOut)
		msgs := w.msgs(t)
		env := w.decoded(t, msgs[len(msgs)-1])
		require.Equal(t, tilgang.TypeTraining, env.Type)
		require.Equal(t, "1547-20001", env.Actor)
		require.Equal(t, env.Key()+"\n", out)
	})
}

func TestWait(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	w.process(t, map[string]string{"1547-666": "unknown person"})
	code, out, errOut := w.run(t, nil, "request", "grant", "--person", person, "--system", "gerica", "--role", "bruker", "--reason", "r", "--wait", "20s")
	require.Equal(t, 0, code, errOut)
	id := w.decoded(t, w.msgs(t)[0]).Key()
	require.Equal(t, id+" - accepted\n", out)

	code, out, errOut = w.run(t, nil, "request", "grant", "--person", "1547-666", "--system", "gerica", "--role", "bruker", "--reason", "r", "--wait", "20s")
	require.Equal(t, 1, code)
	require.Contains(t, out, " - rejected\n")
	require.Contains(t, errOut, "unknown person")
}

func TestPolicyCheck(t *testing.T) {
	w := newWorld(t)
	good := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(good, "gerica.yaml"), []byte(`system: gerica
name: Gerica
owner: Helse og omsorg
administrators: [1547-20001]
connectors: [manual]
roles:
  - id: bruker
    entitlements: { manual: [Bruker] }
    requestable_by: [manager]
    approval: [systemansvarlig]
`), 0o600))
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "gerica.yaml"), []byte("system: gerica\nname: Gerica\nowner: x\nadministrators: [1547-20001]\nconnectors: [manual]\nroles:\n  - id: bruker\n    entitlements: { manual: [Bruker] }\n    requestable_by: [wizard]\n    approval: []\n"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "good", args: []string{"policy", "check", good}, code: 0, out: "ok: 1 systems, catalogue "},
		{name: "bad", args: []string{"policy", "check", bad}, code: 1, out: filepath.Join(bad, "gerica.yaml") + ":9: "},
		{name: "missing directory", args: []string{"policy", "check", filepath.Join(bad, "nope")}, code: 1, out: "cannot read the policy directory"},
		{name: "json", args: []string{"policy", "check", good, "--output", "json"}, code: 0, out: `"ok": true`},
		{name: "policy test without tests", args: []string{"policy", "test", good}, code: 1},
		{name: "policy test of the examples", args: []string{"policy", "test", "../../policies"}, code: 0, out: "ok: "},
		{name: "policy test of a bad catalogue", args: []string{"policy", "test", bad}, code: 1, out: filepath.Join(bad, "gerica.yaml") + ":9: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := w.run(t, nil, tc.args...)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out, errOut)
			require.Contains(t, out, tc.out)
		})
	}
}

func TestHelp(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		args []string
		code int
		in   string // where the usage is: stdout or stderr
	}{
		{name: "help", args: []string{"help"}, code: 0, in: "stdout"},
		{name: "-h", args: []string{"-h"}, code: 0, in: "stdout"},
		{name: "--help", args: []string{"--help"}, code: 0, in: "stdout"},
		{name: "no command", args: nil, code: 2, in: "stderr"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, in: "stderr"},
		{name: "bad global flag", args: []string{"--frob", "status"}, code: 2, in: "stderr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := w.run(t, nil, tc.args...)
			require.Equal(t, tc.code, code)
			text := out
			if tc.in == "stderr" {
				text = errOut
			}
			for _, name := range commandNames() {
				require.Contains(t, text, "  "+name+" ", "usage lists %s", name)
			}
		})
	}
	code, out, _ := w.run(t, nil, "help", "request", "grant")
	require.Equal(t, 0, code)
	require.Contains(t, out, "usage: tilgang request grant --person ID")
	require.Contains(t, out, "--until")
	code, out, _ = w.run(t, nil, "deny", "-h")
	require.Equal(t, 0, code)
	require.Contains(t, out, "usage: tilgang deny REQUEST_ID --comment TEXT")
}

func commandNames() []string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	return out
}

func TestAuditVerifyProblem(t *testing.T) {
	w := newWorld(t)
	w.verify = func(context.Context) (ledger.VerifyReport, error) {
		return ledger.VerifyReport{Rows: 2, Head: ledger.Head{Seq: 2, Hash: "ab12"}, BadSeq: 3, Anchors: 1,
			Ignored: []string{"stream message 7 is not signed by the worker's key"},
			Problem: "the chain ends at row 2 but row 3 was anchored: the newest rows were deleted"}, nil
	}
	w.serveAPI(t)
	code, out, errOut := w.run(t, nil, "audit", "verify")
	require.Equal(t, 1, code)
	require.Equal(t, "rows 2\nhead 2 ab12\ngrants 0\nanchors 1\nignored anchor: stream message 7 is not signed by the worker's key\nok false\n"+
		"first bad row 3\nproblem the chain ends at row 2 but row 3 was anchored: the newest rows were deleted\n", out)
	require.Contains(t, errOut, "the audit chain does not verify")

	code, out, _ = w.run(t, nil, "audit", "verify", "--output", "json")
	require.Equal(t, 1, code)
	var rep ledger.VerifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, int64(3), rep.BadSeq)
	require.False(t, rep.OK)
}

// TestDev runs `tilgang dev` on free ports with the example catalogue and
// people, and drives it with the command line as the README walkthrough does.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole embedded worker")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	data := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	natsListen := l.Addr().String()
	require.NoError(t, l.Close())
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var devOut, devErr testenv.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"dev", "--data", data, "--policies", filepath.Join(root, "policies"), "--nats-listen", natsListen, "--http", "127.0.0.1:0"},
			options{Stdout: &devOut, Stderr: &devErr, Getenv: func(string) string { return "" }, Now: time.Now})
		done <- code
	}()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		select {
		case code := <-done:
			require.Equal(t, 0, code, devErr.String())
		case <-time.After(30 * time.Second):
			t.Error("tilgang dev did not stop")
		}
	})
	go func() {
		for !strings.Contains(devOut.String(), "export ") {
			time.Sleep(20 * time.Millisecond)
		}
		close(ready)
	}()
	select {
	case <-ready:
	case code := <-done:
		stopped = true
		t.Fatalf("tilgang dev ended with %d: %s", code, devErr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("tilgang dev did not print its export line")
	}
	var natsURL, key string
	for _, f := range strings.Fields(devOut.String()[strings.Index(devOut.String(), "export "):]) {
		if v, ok := strings.CutPrefix(f, envNATS+"="); ok {
			natsURL = v
		}
		if v, ok := strings.CutPrefix(f, envKey+"="); ok {
			key = v
		}
	}
	require.Equal(t, filepath.Join(data, "keys", "dev.nk"), key)
	require.True(t, strings.HasPrefix(natsURL, "nats://127.0.0.1:"), natsURL)

	w := &world{url: natsURL, devKey: key, now: time.Now()}
	code, out, errOut := w.run(t, nil, "hr", "import", filepath.Join(root, "deploy", "examples", "people.json"), "--wait", "30s")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	require.Contains(t, out, "rejected 0, ignored 0")
	require.Contains(t, errOut, "processed ")

	code, out, errOut = w.run(t, nil, "request", "grant", "--person", "1547-10412", "--system", "public360", "--role", "saksbehandler",
		"--reason", "Saksbehandling i hjemmetjenesten", "--as", "1547-10300", "--wait", "30s", "--output", "json")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.NotEqual(t, "unknown", st["state"])
	require.NotEqual(t, "rejected", st["state"])
	require.NotEmpty(t, st["grant_id"])

	code, out, errOut = w.run(t, nil, "audit", "verify")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	require.Contains(t, out, "ok true")
}

func TestTasksAndGrantShow(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const bob = "1547-10555"
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	for _, g := range []ledger.Grant{
		{ID: "g1", Person: person, System: "gerica", Role: "bruker", State: tilgang.StateProvisioning, RequestID: envelope.KeyHash("1547-10001", "portal", "1"),
			Requester: "1547-10001", Approvers: []string{"1547-20001"}, ValidUntil: tilgang.Date{Y: 2027, M: 6, D: 30}, Created: now, Updated: now},
		{ID: "g2", Person: bob, System: "public360", Role: "saksbehandler", State: tilgang.StateProvisioning, Created: now, Updated: now},
	} {
		require.NoError(t, tx.InsertGrant(g))
		tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: g.Person, System: g.System, Role: g.Role, GrantID: g.ID, To: string(g.State)})
	}
	insert := func(o ledger.Operation) string {
		t.Helper()
		o.NextAt, o.Created, o.Updated = o.DueAt, now, now
		id, err := tx.InsertOperation(o)
		require.NoError(t, err)
		return strconv.FormatInt(id, 10)
	}
	opAcct := insert(ledger.Operation{Person: person, Connector: "manual", Kind: ledger.KindEnsureAccount, State: ledger.OpWaiting, DueAt: now.Add(-time.Hour)})
	opDone := insert(ledger.Operation{GrantID: "g1", Person: person, Connector: "noop", Kind: ledger.KindGrant, Entitlement: "APP-Gerica",
		State: ledger.OpDone, Attempts: 1, DueAt: now.Add(-time.Hour)})
	opRetry := insert(ledger.Operation{GrantID: "g1", Person: person, Connector: "ad", Kind: ledger.KindGrant, Entitlement: "CN=APP-Gerica-Bruker",
		State: ledger.OpQueued, Attempts: 2, LastError: "ad: unavailable:\nconnection refused", DueAt: now.Add(-time.Minute)})
	opWait := insert(ledger.Operation{GrantID: "g1", Person: person, Connector: "manual", Kind: ledger.KindGrant, Entitlement: "Gerica: Bruker",
		State: ledger.OpWaiting, DueAt: now})
	opBob := insert(ledger.Operation{GrantID: "g2", Person: bob, Connector: "manual", Kind: ledger.KindGrant, Entitlement: "360: Saksbehandler",
		State: ledger.OpWaiting, DueAt: now.Add(time.Minute)})
	require.NoError(t, tx.Commit())
	since := now.In(tilgang.Oslo).Format("2006-01-02 15:04:05")

	t.Run("tasks table", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "tasks")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 4)
		require.Equal(t, []string{"OPERATION", "PERSON", "SYSTEM/ROLE", "KIND", "ENTITLEMENT", "WAITING", "SINCE"}, strings.Fields(lines[0]))
		require.Equal(t, []string{opAcct, person, "(account", "on", "manual)", "ensure_account", "-"}, strings.Fields(lines[1])[:7], "oldest first")
		require.Equal(t, []string{opWait, person, "gerica/bruker", "grant", "Gerica:", "Bruker"}, strings.Fields(lines[2])[:6])
		require.True(t, strings.HasSuffix(lines[2], since), lines[2])
		require.Equal(t, []string{opBob, bob, "public360/saksbehandler", "grant"}, strings.Fields(lines[3])[:4])
		require.NotContains(t, out, opDone+" ")
		require.NotContains(t, out, opRetry+" ")
		require.Contains(t, errOut, "tilgang task done OPERATION")
	})

	t.Run("tasks --system", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "tasks", "--system", "public360")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 2)
		require.Equal(t, opBob, strings.Fields(lines[1])[0])
	})

	t.Run("tasks json", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "tasks", "--output", "json")
		require.Equal(t, 0, code, errOut)
		var ts []api.Task
		require.NoError(t, json.Unmarshal([]byte(out), &ts))
		require.Len(t, ts, 3)
		require.Equal(t, api.Task{OperationID: opWait, Person: person, GrantID: "g1", System: "gerica", Role: "bruker", Kind: ledger.KindGrant,
			Connector: "manual", Entitlement: "Gerica: Bruker", Since: now, Administrators: []string{}}, ts[1])
		require.Equal(t, "", ts[0].GrantID)
		require.Equal(t, "", ts[0].Role)
	})

	t.Run("tasks the asker may not see", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "tasks", "--as", "1547-99999")
		require.Equal(t, 0, code, errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, "no manual tasks waiting that you may see")
		code, out, errOut = w.run(t, nil, "tasks", "--as", "1547-99999", "--output", "json")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "[]\n", out)
		code, out, errOut = w.run(t, nil, "tasks", "--as", bob)
		require.Equal(t, 0, code, errOut)
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, "Bob sees his own")
	})

	t.Run("grant show", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "grant", "show", "g1")
		require.Equal(t, 0, code, errOut)
		fields, ops, ok := strings.Cut(out, "\n\n")
		require.True(t, ok, out)
		for _, want := range [][]string{{"grant", "g1"}, {"person", person}, {"system", "gerica"}, {"role", "bruker"}, {"state", "provisioning"},
			{"requester", "1547-10001"}, {"approvers", "1547-20001"}, {"valid_until", "2027-06-30"}} {
			require.Contains(t, strings.Split(fields, "\n"), want[0]+strings.Repeat(" ", 13-len(want[0]))+want[1], "field %s", want[0])
		}
		lines := strings.Split(strings.TrimSpace(ops), "\n")
		require.Len(t, lines, 4)
		require.Equal(t, []string{"ID", "KIND", "CONNECTOR", "ENTITLEMENT", "STATE", "ATTEMPTS", "LAST", "ERROR"}, strings.Fields(lines[0]))
		require.Equal(t, []string{opDone, "grant", "noop", "APP-Gerica", "done", "1", "-"}, strings.Fields(lines[1]))
		require.Equal(t, []string{opRetry, "grant", "ad", "CN=APP-Gerica-Bruker", "queued", "2", "ad:", "unavailable:", "connection", "refused"}, strings.Fields(lines[2]),
			"the last error on one line")
		require.Contains(t, lines[3], "waiting for a person: tilgang task done "+opWait)
		require.Equal(t, opWait, strings.Fields(lines[3])[0])
	})

	t.Run("grant show json", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "--output", "json", "grant", "show", "g1")
		require.Equal(t, 0, code, errOut)
		var g api.GrantDetail
		require.NoError(t, json.Unmarshal([]byte(out), &g))
		require.Equal(t, "g1", g.ID)
		require.Len(t, g.Operations, 3)
		require.Equal(t, "waiting", g.Operations[2].State)
		require.Equal(t, opWait, g.Operations[2].ID)
	})

	t.Run("grant show without operations", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "grant", "show", "g2")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "waiting for a person: tilgang task done "+opBob)
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{name: "missing grant", args: []string{"grant", "show", "g-missing"}, code: 1, msg: "tilgang grant show: not found: api: no grant g-missing"},
			{name: "not visible", args: []string{"grant", "show", "g1", "--as", "1547-99999"}, code: 1, msg: "tilgang grant show: refused: api: 1547-99999 may not see grant g1"},
			{name: "no grant id", args: []string{"grant", "show"}, code: 2, msg: "missing argument: grant show GRANT_ID"},
			{name: "two grant ids", args: []string{"grant", "show", "g1", "g2"}, code: 2, msg: `unexpected argument "g2"`},
			{name: "malformed grant id", args: []string{"grant", "show", "g/1"}, code: 2, msg: `GRANT_ID "g/1" is not an id`},
			{name: "grant alone", args: []string{"grant"}, code: 2, msg: "grant needs one of: retry, cancel, show"},
			{name: "malformed --system", args: []string{"tasks", "--system", "ger ica"}, code: 2, msg: `--system "ger ica" is not an id`},
			{name: "tasks takes no argument", args: []string{"tasks", opWait}, code: 2, msg: "unexpected argument"},
			{name: "bad --output", args: []string{"tasks", "--output", "yaml"}, code: 2, msg: `--output "yaml" must be text or json`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := w.run(t, nil, tc.args...)
				require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out, errOut)
				require.Contains(t, errOut, tc.msg)
				require.Empty(t, out)
				if tc.code == 2 && tc.name != "grant alone" {
					require.Contains(t, errOut, "usage: tilgang ")
				}
			})
		}
	})

	t.Run("help", func(t *testing.T) {
		code, out, _ := w.run(t, nil, "help", "grant", "show")
		require.Equal(t, 0, code)
		require.Contains(t, out, "usage: tilgang grant show GRANT_ID")
		code, out, _ = w.run(t, nil, "tasks", "-h")
		require.Equal(t, 0, code)
		require.Contains(t, out, "usage: tilgang tasks [--system ID]")
		require.Contains(t, out, "--system ID")
	})

	t.Run("no worker", func(t *testing.T) {
		w2 := newWorld(t)
		code, _, errOut := w2.run(t, nil, "tasks")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "no tilgang worker answers")
	})
}
