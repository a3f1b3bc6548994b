package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// TestErase: `tilgang erase --before DATE` removes the reasons, comments
// and record of someone who left long ago, and the access register still
// answers with ids: `audit --person` and `grants --person` list their rows,
// and `audit verify` passes. Non-operators and dates within retention.min
// are refused and change nothing; the same date again erases nothing more
// and is chained too.
func TestErase(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	ctx := context.Background()
	const leaver = "1547-50001"
	old := time.Date(2019, time.May, 6, 8, 0, 0, 0, time.UTC)
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: leaver, GivenName: "Kari", FamilyName: "Nordmann"},
		Version: 2, LeaveAt: old.Add(time.Hour), Left: true, Updated: old}))
	require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "visma", Person: leaver, Version: 2,
		Record: tilgang.Person{ID: leaver, GivenName: "Kari", FamilyName: "Nordmann"}, Updated: old}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r-old", Person: leaver, System: "gerica", Role: "bruker", Action: "grant",
		Actor: "1547-10001", GrantID: "g-old", Outcome: "accepted", Reason: "vikar i heimetenesta", At: old}))
	g := ledger.Grant{ID: "g-old", Person: leaver, System: "gerica", Role: "bruker", RequestID: "r-old", Requester: "1547-10001",
		State: tilgang.StateRevoked, Created: old, Updated: old}
	require.NoError(t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: old, Kind: "grant.state", Person: leaver, Actor: "1547-10001", System: "gerica", Role: "bruker",
		GrantID: g.ID, To: string(g.State), Text: "vikar i heimetenesta", Details: ledger.GrantDetails(g, nil)})
	tx.Audit(ledger.AuditEntry{At: old, Kind: "person.left", Person: leaver, Actor: "worker", Text: "Kari sluttar"})
	require.NoError(t, tx.Commit())

	head := func() int64 {
		h, err := w.store.Head(ctx)
		require.NoError(t, err)
		return h.Seq
	}
	auditOf := func(t *testing.T) []api.AuditRow {
		t.Helper()
		code, out, errOut := w.run(t, nil, "audit", "--person", leaver, "--format", "json")
		require.Equal(t, 0, code, errOut)
		var rows []api.AuditRow
		require.NoError(t, json.Unmarshal([]byte(out), &rows))
		return rows
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		require.Equal(t, int64(2), head(), "nothing chained")
		rows := auditOf(t)
		require.Len(t, rows, 2)
		require.Equal(t, "vikar i heimetenesta", rows[0].Text)
		p, err := w.store.Person(ctx, leaver)
		require.NoError(t, err)
		require.NotNil(t, p)
	}

	t.Run("refused", func(t *testing.T) {
		today := tilgang.DateOf(time.Now()).String()
		for _, tc := range []struct {
			name string
			env  map[string]string
			args []string
			code int
			msg  string
		}{
			{name: "not an operator", env: map[string]string{envKey: w.hrKey}, args: []string{"--before", "2020-01-01"}, code: 1, msg: "operators only"},
			{name: "within retention", args: []string{"--before", today}, code: 1, msg: "within the retention period (retention.min)"},
			{name: "within retention, dry run", args: []string{"--before", today, "--dry-run"}, code: 1, msg: "within the retention period"},
			{name: "no date", args: nil, code: 2, msg: "--before is missing"},
			{name: "not a date", args: []string{"--before", "6.5.2019"}, code: 2, msg: `--before "6.5.2019" is not a date`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := w.run(t, tc.env, append([]string{"erase"}, tc.args...)...)
				require.Equal(t, tc.code, code, out+errOut)
				require.Contains(t, errOut, tc.msg)
				unchanged(t)
			})
		}
	})

	want := ledger.EraseCounts{Texts: 2, Requests: 1, Snapshots: 1, Persons: 1}
	t.Run("dry run", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "erase", "--before", "2020-01-01", "--dry-run", "--output", "json")
		require.Equal(t, 0, code, errOut)
		var r api.EraseResult
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		require.True(t, r.DryRun)
		require.Equal(t, want, r.Counts)
		unchanged(t)
	})

	t.Run("erase", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "erase", "--before", "2020-01-01")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "erased before 2020-01-01, chained as an erasure entry:\n")
		require.Contains(t, out, "  2  free texts of chain rows (reasons, comments)\n")
		require.Contains(t, out, "  1  person records of people who left\n")
		require.Equal(t, int64(3), head())

		// Gone: the comments, the reason, the record and the snapshot row.
		rows := auditOf(t)
		require.Len(t, rows, 2, "the rows stay, with their ids")
		for _, r := range rows {
			require.Equal(t, leaver, r.Person)
			require.Empty(t, r.Text)
		}
		require.Equal(t, "g-old", rows[0].GrantID)
		r, err := w.store.Request(ctx, "r-old")
		require.NoError(t, err)
		require.Empty(t, r.Reason)
		p, err := w.store.Person(ctx, leaver)
		require.NoError(t, err)
		require.Nil(t, p)
		snap, err := w.store.HRSnapshot(ctx, "visma", "", 0)
		require.NoError(t, err)
		require.Empty(t, snap)

		// The access register still answers with ids.
		code, out, errOut = w.run(t, nil, "grants", "--person", leaver)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "g-old")
		code, out, errOut = w.run(t, nil, "audit", "verify")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "ok true\n")
	})

	t.Run("the same date again", func(t *testing.T) {
		code, out, errOut := w.run(t, nil, "erase", "--before", "2020-01-01", "--output", "json")
		require.Equal(t, 0, code, errOut)
		var r api.EraseResult
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		require.Equal(t, ledger.EraseCounts{}, r.Counts)
		require.Equal(t, int64(4), head(), "chained too")
		code, out, errOut = w.run(t, nil, "audit", "--format", "json")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, 2, strings.Count(out, `"kind": "erasure"`)+strings.Count(out, `"kind":"erasure"`), out)
		code, out, errOut = w.run(t, nil, "audit", "verify")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "ok true\n")
	})
}
