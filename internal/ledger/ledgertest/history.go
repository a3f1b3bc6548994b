package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// historyTests: a person's grants, final ones too, and a grant's requests,
// as a transaction sees them, its own writes included.
var historyTests = []test{
	{"AllGrantsOf", func(t *testing.T, l ledger.Ledger) {
		old := grant("g1", "1547-10234", "gerica", "bruker", tilgang.StateActive)
		other := grant("g9", "1547-10555", "gerica", "bruker", tilgang.StateActive)
		putGrants(t, l, old, other)
		inTx(t, l, func(tx ledger.Tx) {
			from := old.State
			old.State, old.RevokeCause, old.Updated = tilgang.StateRevoked, "leaver", t0.Add(time.Hour)
			require.NoError(t, tx.UpdateGrant(old))
			tx.Audit(stateEntry(old, from))
			later := grant("g2", "1547-10234", "plania", "bruker", tilgang.StatePendingApproval)
			later.Created = t0.Add(time.Minute)
			require.NoError(t, tx.InsertGrant(later))
			tx.Audit(stateEntry(later, ""))

			gs, err := tx.AllGrantsOf("1547-10234")
			require.NoError(t, err)
			require.Len(t, gs, 2)
			require.Equal(t, "g1", gs[0].ID, "oldest first")
			require.Equal(t, tilgang.StateRevoked, gs[0].State, "this transaction's version")
			require.Equal(t, "leaver", gs[0].RevokeCause)
			require.Equal(t, "g2", gs[1].ID, "inserted in this transaction")
			open, err := tx.GrantsOf("1547-10234")
			require.NoError(t, err)
			require.Equal(t, []string{"g2"}, ids(open), "GrantsOf leaves the final one out")
		})
		inTx(t, l, func(tx ledger.Tx) {
			gs, err := tx.AllGrantsOf("1547-10234")
			require.NoError(t, err)
			require.Equal(t, []string{"g1", "g2"}, ids(gs))
			none, err := tx.AllGrantsOf("1547-99999")
			require.NoError(t, err)
			require.Empty(t, none)
		})
	}},
	{"GrantRequests", func(t *testing.T, l ledger.Ledger) {
		req := func(id, actor, outcome string, seq uint64) ledger.Request {
			return ledger.Request{ID: id, Person: "1547-10234", System: "gerica", Role: "bruker", Action: "grant", Actor: actor,
				GrantID: "g1", Outcome: outcome, Seq: seq, At: t0}
		}
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertRequest(req("r1", "1547-10001", "accepted", 1)))
			require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r0", Person: "1547-10234", Action: "grant", Actor: "1547-10001",
				Outcome: "rejected", Seq: 2, At: t0}))
		})
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertRequest(req("r2", "1547-20001", "attached", 3)))
			rs, err := tx.GrantRequests("1547-10234", "g1")
			require.NoError(t, err)
			require.Len(t, rs, 2)
			require.Equal(t, "r1", rs[0].ID)
			require.Equal(t, "r2", rs[1].ID, "recorded in this transaction")
			require.Equal(t, "attached", rs[1].Outcome)
			none, err := tx.GrantRequests("1547-10555", "g1")
			require.NoError(t, err)
			require.Empty(t, none)
		})
	}},
}
