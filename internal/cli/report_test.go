package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// TestReportAccess: `tilgang report access` answers the register of a
// system or a person as JSON (exactly DESIGN.md's fields, until null while
// held), CSV and a table; each bad input is refused with a usage error
// naming what was wrong, before anything is asked; a person may not read
// another's register.
func TestReportAccess(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	ctx := context.Background()
	const (
		kari = "1547-60001"
		ola  = "1547-60002"
	)
	day := func(d, hour int) time.Time { return time.Date(2025, 5, d, hour, 0, 0, 0, tilgang.Oslo) }
	// Kari's gerica/bruker active on 5 May, revoked on 7 May; Ola's active
	// on 6 May and held; Ola's gerica/admin never became active.
	move := func(g ledger.Grant, insert bool, from tilgang.GrantState, at time.Time) {
		tx, err := w.store.Begin(ctx)
		require.NoError(t, err)
		g.Updated = at
		if insert {
			g.Created = at
			require.NoError(t, tx.InsertGrant(g))
		} else {
			require.NoError(t, tx.UpdateGrant(g))
		}
		tx.Audit(ledger.AuditEntry{At: at, Kind: "grant.state", Person: g.Person, Actor: "worker", System: g.System, Role: g.Role,
			GrantID: g.ID, From: string(from), To: string(g.State), Details: ledger.GrantDetails(g, nil)})
		require.NoError(t, tx.Commit())
	}
	life := func(g ledger.Grant, steps ...any) {
		from := tilgang.GrantState("")
		for i := 0; i < len(steps); i += 2 {
			g.State = steps[i].(tilgang.GrantState)
			move(g, i == 0, from, steps[i+1].(time.Time))
			from = g.State
		}
	}
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: kari, GivenName: "Kari", FamilyName: "Nordmann"}, Version: 1}))
	require.NoError(t, tx.Commit())
	kariG := ledger.Grant{ID: "g-kari", Person: kari, System: "gerica", Role: "bruker", Requester: "1547-10001",
		Approvers: []string{"1547-20001"}, Entitlements: map[string][]string{}}
	life(kariG, tilgang.StateProvisioning, day(5, 9), tilgang.StateActive, day(5, 10), tilgang.StateRevoking, day(7, 10), tilgang.StateRevoked, day(7, 11))
	olaG := ledger.Grant{ID: "g-ola", Person: ola, System: "gerica", Role: "bruker", Requester: "birthright", Entitlements: map[string][]string{}}
	life(olaG, tilgang.StateProvisioning, day(6, 9), tilgang.StateActive, day(6, 10))
	never := ledger.Grant{ID: "g-never", Person: ola, System: "gerica", Role: "admin", Requester: "1547-10001", Entitlements: map[string][]string{}}
	life(never, tilgang.StatePendingApproval, day(5, 9), tilgang.StateDenied, day(5, 10))

	t.Run("json", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "report", "access", "--system", "gerica", "--from", "2025-05-01", "--to", "2025-05-06", "--output", "json")
		require.Equal(t, 0, code, errOut)
		var rows []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rows))
		require.Len(t, rows, 2)
		for _, r := range rows {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			require.Equal(t, []string{"approvers", "from", "grant_id", "person", "requester", "role", "system", "until"}, keys)
		}
		require.Equal(t, map[string]any{"person": kari, "system": "gerica", "role": "bruker", "grant_id": "g-kari",
			"from": "2025-05-05T08:00:00Z", "until": "2025-05-07T09:00:00Z", "requester": "1547-10001", "approvers": []any{"1547-20001"}}, rows[0])
		require.Equal(t, map[string]any{"person": ola, "system": "gerica", "role": "bruker", "grant_id": "g-ola",
			"from": "2025-05-06T08:00:00Z", "until": nil, "requester": "birthright", "approvers": []any{}}, rows[1])

		// --format json is the same; a person's, at one instant.
		code, out, errOut = w.run(t, nil, "report", "access", "--person", kari, "--at", "2025-05-07T10:59:59+02:00", "--format", "json")
		require.Equal(t, 0, code, errOut)
		require.NoError(t, json.Unmarshal([]byte(out), &rows))
		require.Len(t, rows, 1)
		code, out, errOut = w.run(t, nil, "report", "access", "--person", kari, "--at", "2025-05-07T11:00:00+02:00", "--format", "json")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "[]\n", out, "revoked at 11:00")
	})

	t.Run("csv", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "report", "access", "--system", "gerica", "--at", "2025-05-06", "--format", "csv")
		require.Equal(t, 0, code, errOut)
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, [][]string{
			{"person", "name", "system", "role", "grant_id", "from", "until", "requester", "approvers"},
			{kari, "Kari Nordmann", "gerica", "bruker", "g-kari", "2025-05-05T08:00:00Z", "2025-05-07T09:00:00Z", "1547-10001", "1547-20001"},
			{ola, "", "gerica", "bruker", "g-ola", "2025-05-06T08:00:00Z", "", "birthright", ""},
		}, recs)
	})

	t.Run("table", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "report", "access", "--system", "gerica")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "PERSON")
		require.Contains(t, out, "g-ola")
		require.NotContains(t, out, "g-kari", "now: Kari's was revoked")
		require.Contains(t, out, "(held)")
		code, out, errOut = w.run(t, nil, "report", "access", "--system", "gerica", "--at", "2025-05-01")
		require.Equal(t, 0, code, errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, "no access held by system gerica")
	})

	t.Run("refused", func(t *testing.T) {
		tomorrow := tilgang.DateOf(time.Now().Add(48 * time.Hour)).String()
		for _, tc := range []struct {
			name string
			args []string
			msg  string
		}{
			{"both", []string{"--system", "gerica", "--person", kari}, "give --system ID or --person ID, not both"},
			{"neither", []string{"--at", "2025-05-06"}, "give --system ID or --person ID"},
			{"at with from", []string{"--system", "gerica", "--at", "2025-05-06", "--from", "2025-05-01", "--to", "2025-05-02"}, "--at is one time; --from and --to are a period: give one or the other, not both"},
			{"from alone", []string{"--system", "gerica", "--from", "2025-05-01"}, "--from and --to go together"},
			{"to alone", []string{"--system", "gerica", "--to", "2025-05-01"}, "--from and --to go together"},
			{"bad at", []string{"--system", "gerica", "--at", "6.5.2025"}, `--at "6.5.2025" is neither a date YYYY-MM-DD nor an RFC 3339 time`},
			{"bad from", []string{"--system", "gerica", "--from", "2025-13-01", "--to", "2025-05-02"}, `--from "2025-13-01" is not a date YYYY-MM-DD`},
			{"bad to", []string{"--system", "gerica", "--from", "2025-05-01", "--to", "2. mai"}, `--to "2. mai" is not a date YYYY-MM-DD`},
			{"from after to", []string{"--system", "gerica", "--from", "2025-05-03", "--to", "2025-05-02"}, "--from 2025-05-03 is after --to 2025-05-02: the period ends before it starts"},
			{"future", []string{"--system", "gerica", "--at", tomorrow}, "--at " + tomorrow + " is in the future"},
			{"bad system", []string{"--system", "ger ica"}, `--system "ger ica" is not an id`},
			{"bad format", []string{"--system", "gerica", "--format", "xml"}, `--format "xml" must be table, csv or json`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := w.run(t, nil, append([]string{"report", "access"}, tc.args...)...)
				require.Equal(t, 2, code, out+errOut)
				require.Empty(t, out)
				require.Contains(t, errOut, tc.msg)
				require.Contains(t, errOut, "usage: tilgang report access")
			})
		}
	})

	t.Run("another's register", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "report", "access", "--person", kari, "--as", ola)
		require.Equal(t, 1, code, out+errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, "refused:")
		require.Contains(t, errOut, "may not read the access register of "+kari)
		code, out, errOut = w.run(t, nil, "report", "access", "--person", kari, "--as", kari, "--at", "2025-05-06", "--output", "json")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "g-kari")
	})
}
