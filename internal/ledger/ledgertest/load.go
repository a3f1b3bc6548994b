package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// load is tx's Load: the tests of Load skip a backend without one.
func load(t *testing.T, tx ledger.Tx, persons, keys []string) error {
	t.Helper()
	p, ok := tx.(ledger.Preloader)
	if !ok {
		t.Skip("the backend's transactions do not preload (ledger.Preloader)")
	}
	return p.Load(persons, keys)
}

// flush is tx's Flush: the test skips a backend without one.
func flush(t *testing.T, tx ledger.Tx) error {
	t.Helper()
	f, ok := tx.(ledger.Flusher)
	if !ok {
		t.Skip("the backend's transactions do not flush (ledger.Flusher)")
	}
	return f.Flush()
}

// loadTests hold Load to what the Preloader interface says: after it,
// reads see the transaction's own writes, nothing is stored until Commit
// and nothing at all after Rollback, and people it did not load work as
// before.
var loadTests = []test{
	{"ReadsSeeOwnWrites", func(t *testing.T, l ledger.Ledger) {
		stored := insertOps(t, l, op("p1", "ad", t0, 1))
		putGrants(t, l, grant("g1", "p1", "gerica", "bruker", tilgang.StateProvisioning))

		tx := begin(t, l)
		defer tx.Rollback()
		require.NoError(t, load(t, tx, []string{"p1", "p2"}, []string{"k1"}))
		p := person("p1")
		require.NoError(t, tx.PutPerson(p))
		got, err := tx.Person("p1")
		require.NoError(t, err)
		require.Equal(t, &p, got)
		missing, err := tx.Person("p2")
		require.NoError(t, err)
		require.Nil(t, missing, "a loaded person without a record")

		g, err := tx.OpenGrant("p1", "gerica", "bruker")
		require.NoError(t, err)
		require.NotNil(t, g)
		g.State = tilgang.StateActive
		g.Approvers = append(g.Approvers, "1547-20001")
		require.NoError(t, tx.UpdateGrant(*g))
		tx.Audit(stateEntry(*g, tilgang.StateProvisioning))
		again, err := tx.Grant("g1")
		require.NoError(t, err)
		require.Equal(t, g, again)
		again.Approvers[0] = "changed by the caller"
		once, err := tx.Grant("g1")
		require.NoError(t, err)
		require.Equal(t, g.Approvers, once.Approvers, "reads hand out copies")

		// A new operation and an update of the stored one, then the lists.
		o := readOp(t, l, stored[0])
		o.State = ledger.OpDone
		require.NoError(t, tx.UpdateOperation(o, 0))
		id, err := tx.InsertOperation(op("p1", "ad", t0.Add(1), 2))
		require.NoError(t, err)
		require.Greater(t, id, stored[0])
		queued, err := tx.PersonOperations("p1", ledger.OpQueued)
		require.NoError(t, err)
		require.Equal(t, []int64{id}, opIDs(queued))
		all, err := tx.PersonOperations("p1")
		require.NoError(t, err)
		require.Equal(t, []int64{stored[0], id}, opIDs(all))
		require.Equal(t, ledger.OpDone, all[0].State)

		require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: "ad", Ref: connectors.Ref{"sam": "p1"}, Enabled: true, Updated: t0}))
		acct, err := tx.Account("p1", "ad")
		require.NoError(t, err)
		require.Equal(t, connectors.Ref{"sam": "p1"}, acct.Ref)

		out, err := tx.RecordMessage(ledger.Message{Key: "k1", PayloadHash: "h", Type: "t", Person: "p1", At: t0})
		require.NoError(t, err)
		require.Equal(t, ledger.MsgNew, out)
		out, err = tx.RecordMessage(ledger.Message{Key: "k1", PayloadHash: "h", Type: "t", Person: "p1", At: t0})
		require.NoError(t, err)
		require.Equal(t, ledger.MsgDuplicate, out, "the same key again in the same transaction")
		out, err = tx.RecordMessage(ledger.Message{Key: "k1", PayloadHash: "other", Type: "t", Person: "p1", At: t0})
		require.NoError(t, err)
		require.Equal(t, ledger.MsgConflict, out)

		// Nothing is stored before Commit...
		before, err := l.Person(t.Context(), "p1")
		require.NoError(t, err)
		require.Nil(t, before)
		require.Equal(t, int64(0), stats(t, l).Messages)

		// ...and all of it after.
		require.NoError(t, tx.Commit())
		after, err := l.Person(t.Context(), "p1")
		require.NoError(t, err)
		require.Equal(t, &p, after)
		sg, err := l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.Equal(t, tilgang.StateActive, sg.State)
		require.Equal(t, []string{"1547-10001", "1547-20001"}, sg.Approvers)
		require.Equal(t, ledger.OpDone, readOp(t, l, stored[0]).State)
		require.Equal(t, ledger.OpQueued, readOp(t, l, id).State)
		sa, err := l.Account(t.Context(), "p1", "ad")
		require.NoError(t, err)
		require.True(t, sa.Enabled)
		require.Equal(t, int64(1), stats(t, l).Messages)
		require.True(t, verify(t, l, nil).OK)
	}},
	{"LoadKeepsOwnWrites", func(t *testing.T, l ledger.Ledger) {
		// Writes made before a person is loaded are newer than what Load
		// reads of them: the reads after it see the writes.
		stored := insertOps(t, l, op("p1", "ad", t0, 1))
		putGrants(t, l, grant("g1", "p1", "gerica", "bruker", tilgang.StateProvisioning))
		tx := begin(t, l)
		defer tx.Rollback()
		p := person("p1")
		require.NoError(t, tx.PutPerson(p))
		o := readOp(t, l, stored[0])
		o.State = ledger.OpDone
		require.NoError(t, tx.UpdateOperation(o, 0))
		id, err := tx.InsertOperation(op("p1", "ad", t0.Add(1), 2))
		require.NoError(t, err)
		require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: "ad", Ref: connectors.Ref{"sam": "p1"}, Enabled: true, Updated: t0}))

		require.NoError(t, load(t, tx, []string{"p1"}, nil))
		got, err := tx.Person("p1")
		require.NoError(t, err)
		require.Equal(t, &p, got)
		queued, err := tx.PersonOperations("p1", ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
		require.NoError(t, err)
		require.Equal(t, []int64{id}, opIDs(queued), "the stored one is done")
		ofGrant, err := tx.OperationsOf("g1")
		require.NoError(t, err)
		require.Empty(t, ofGrant)
		acct, err := tx.Account("p1", "ad")
		require.NoError(t, err)
		require.NotNil(t, acct)
		require.True(t, acct.Enabled)
		g, err := tx.OpenGrant("p1", "gerica", "bruker")
		require.NoError(t, err)
		require.NotNil(t, g)

		require.NoError(t, tx.Commit())
		require.Equal(t, ledger.OpDone, readOp(t, l, stored[0]).State)
		require.Equal(t, ledger.OpQueued, readOp(t, l, id).State)
		sp, err := l.Person(t.Context(), "p1")
		require.NoError(t, err)
		require.Equal(t, &p, sp)
	}},
	{"RollbackKeepsNothing", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		require.NoError(t, load(t, tx, []string{"p1"}, []string{"k1"}))
		require.NoError(t, tx.PutPerson(person("p1")))
		_, err := tx.RecordMessage(ledger.Message{Key: "k1", PayloadHash: "h", Type: "t", Person: "p1", At: t0})
		require.NoError(t, err)
		_, err = tx.InsertOperation(op("p1", "ad", t0, 1))
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())
		st := stats(t, l)
		require.Equal(t, int64(0), st.Messages)
		require.Empty(t, st.OpsByState[ledger.OpQueued])
		p, err := l.Person(t.Context(), "p1")
		require.NoError(t, err)
		require.Nil(t, p)
	}},
	{"IDsUniqueBesideOthers", func(t *testing.T, l ledger.Ledger) {
		// A loaded person's operations are written at Commit, another's at
		// once, in the same transaction: their ids must not collide.
		first := insertOps(t, l, op("p0", "ad", t0, 1))
		tx := begin(t, l)
		defer tx.Rollback()
		require.NoError(t, load(t, tx, []string{"p1"}, nil))
		seen := map[int64]bool{first[0]: true}
		for i := range 40 {
			who := "p1"
			if i%3 == 0 {
				who = "p2"
			}
			id, err := tx.InsertOperation(op(who, "ad", t0, uint64(i+2)))
			require.NoError(t, err)
			require.False(t, seen[id], "id %d handed out twice", id)
			seen[id] = true
		}
		require.NoError(t, tx.Commit())
		require.Equal(t, int64(41), stats(t, l).OpsByState[ledger.OpQueued])
		for id := range seen {
			readOp(t, l, id)
		}
		// And the next transaction's ids are new again.
		more := insertOps(t, l, op("p3", "ad", t0, 99))
		require.False(t, seen[more[0]])
	}},
	{"FlushThenMore", func(t *testing.T, l ledger.Ledger) {
		// Flush sends what was kept; the transaction goes on, and Commit
		// stores all of it, the chain included.
		tx := begin(t, l)
		defer tx.Rollback()
		require.NoError(t, load(t, tx, []string{"p1"}, nil))
		require.NoError(t, tx.PutPerson(person("p1")))
		g := grant("g1", "p1", "gerica", "bruker", tilgang.StateProvisioning)
		require.NoError(t, tx.InsertGrant(g))
		tx.Audit(stateEntry(g, ""))
		tx.Emit(ledger.Event{Kind: "grant.provisioning", Person: "p1", At: t0})
		require.NoError(t, flush(t, tx))
		got, err := tx.Grant("g1")
		require.NoError(t, err)
		require.Equal(t, tilgang.StateProvisioning, got.State)
		got.State, got.Updated = tilgang.StateActive, t0.Add(time.Minute)
		require.NoError(t, tx.UpdateGrant(*got))
		tx.Audit(stateEntry(*got, tilgang.StateProvisioning))
		tx.Emit(ledger.Event{Kind: "grant.active", Person: "p1", At: t0})
		require.NoError(t, tx.Commit())
		sg, err := l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.Equal(t, tilgang.StateActive, sg.State)
		require.Equal(t, int64(2), stats(t, l).EventsUnsent)
		require.Equal(t, int64(2), head(t, l).Seq)
		require.True(t, verify(t, l, nil).OK)
	}},
	{"RetriedOperationIsUnfinishedAgain", func(t *testing.T, l ledger.Ledger) {
		// A failed operation is not among what Load reads; taken up again
		// (a retry), it must be among the person's unfinished ones at once.
		ids := insertOps(t, l, op("p1", "ad", t0, 1))
		set(t, l, ids[0], ledger.OpFailed)
		tx := begin(t, l)
		defer tx.Rollback()
		require.NoError(t, load(t, tx, []string{"p1"}, nil))
		all, err := tx.PersonOperations("p1")
		require.NoError(t, err)
		require.Len(t, all, 1)
		o := all[0]
		o.State = ledger.OpQueued
		require.NoError(t, tx.UpdateOperation(o, 0))
		queued, err := tx.PersonOperations("p1", ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
		require.NoError(t, err)
		require.Equal(t, ids, opIDs(queued))
		require.NoError(t, tx.Commit())
		require.Equal(t, ledger.OpQueued, readOp(t, l, ids[0]).State)
	}},
	{"ClaimedTokenChecked", func(t *testing.T, l ledger.Ledger) {
		insertOps(t, l, op("p1", "ad", t0, 1))
		c := claim(t, l, "x1", t0, 1)
		require.Len(t, c, 1)
		tx := begin(t, l)
		defer tx.Rollback()
		require.NoError(t, load(t, tx, []string{"p1"}, nil))
		o := c[0]
		o.State = ledger.OpDone
		err := tx.UpdateOperation(o, o.Token+1)
		require.Error(t, err)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
	}},
}
