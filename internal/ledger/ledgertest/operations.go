package ledgertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// op is a queued operation due at due, as the engine writes them.
func op(person, connector string, due time.Time, seq uint64) ledger.Operation {
	return ledger.Operation{Person: person, Connector: connector, Kind: ledger.KindGrant, Entitlement: "CN=APP-Gerica-Bruker",
		DueAt: due, NextAt: due, Seq: seq, Created: t0, Updated: t0}
}

func insertOps(t *testing.T, l ledger.Ledger, ops ...ledger.Operation) []int64 {
	t.Helper()
	var out []int64
	inTx(t, l, func(tx ledger.Tx) {
		for _, o := range ops {
			id, err := tx.InsertOperation(o)
			require.NoError(t, err)
			out = append(out, id)
		}
	})
	return out
}

func readOp(t *testing.T, l ledger.Ledger, id int64) ledger.Operation {
	t.Helper()
	o, err := l.Operation(t.Context(), id)
	require.NoError(t, err)
	require.NotNil(t, o, "operation %d", id)
	return *o
}

func claim(t *testing.T, l ledger.Ledger, holder string, now time.Time, n int) []ledger.Operation {
	t.Helper()
	ops, err := l.Claim(t.Context(), holder, now, time.Minute, n)
	require.NoError(t, err)
	return ops
}

func claimIDs(t *testing.T, l ledger.Ledger, now time.Time, n int) []int64 {
	t.Helper()
	out := []int64{}
	for _, o := range claim(t, l, "x1", now, n) {
		out = append(out, o.ID)
	}
	return out
}

// finish records a claimed operation as done, as the executor does.
func finish(t *testing.T, l ledger.Ledger, o ledger.Operation) {
	t.Helper()
	inTx(t, l, func(tx ledger.Tx) {
		o.State, o.Holder, o.ClaimUntil = ledger.OpDone, "", time.Time{}
		require.NoError(t, tx.UpdateOperation(o, o.Token))
	})
}

// set writes o's state without a claim, as the engine does for manual tasks.
func set(t *testing.T, l ledger.Ledger, id int64, state ledger.OpState) {
	t.Helper()
	o := readOp(t, l, id)
	o.State = state
	inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.UpdateOperation(o, 0)) })
}

var operationTests = []test{
	{"UpdateMovesToAnotherGrant", func(t *testing.T, l ledger.Ledger) {
		// A withdrawn grant's account work moves to the grant relying on
		// it, keeping its id (its place in the chain).
		a, b := op("p1", "ad", t0, 1), op("p1", "ad", t0, 1)
		a.GrantID, b.GrantID = "g-a", "g-b"
		ids := insertOps(t, l, a, b)
		inTx(t, l, func(tx ledger.Tx) {
			o, err := tx.Operation(ids[0])
			require.NoError(t, err)
			o.GrantID = "g-b"
			require.NoError(t, tx.UpdateOperation(*o, 0))
			ofA, err := tx.OperationsOf("g-a")
			require.NoError(t, err)
			require.Empty(t, ofA, "in the transaction")
			ofB, err := tx.OperationsOf("g-b")
			require.NoError(t, err)
			require.Equal(t, ids, opIDs(ofB), "in the transaction")
		})
		require.Equal(t, "g-b", readOp(t, l, ids[0]).GrantID)
		ofA, err := l.Operations(t.Context(), "g-a")
		require.NoError(t, err)
		require.Empty(t, ofA)
		ofB, err := l.Operations(t.Context(), "g-b")
		require.NoError(t, err)
		require.Equal(t, ids, opIDs(ofB))
	}},
	{"InsertIncreasingIDs", func(t *testing.T, l ledger.Ledger) {
		got := insertOps(t, l, op("p1", "ad", t0, 1), op("p1", "ad", t0, 1), op("p2", "entra", t0, 2))
		got = append(got, insertOps(t, l, op("p1", "ad", t0, 1))...)
		require.Greater(t, got[0], int64(0))
		for i := 1; i < len(got); i++ {
			require.Greater(t, got[i], got[i-1])
		}
	}},
	{"RoundTrip", func(t *testing.T, l ledger.Ledger) {
		want := ledger.Operation{GrantID: "g1", Person: "1547-10234", Connector: "ad", Kind: ledger.KindEnsureAccount,
			Entitlement: "", State: ledger.OpQueued, DueAt: t0, NextAt: t0.Add(5 * time.Minute), Seq: 1234, Attempts: 2,
			Token: 3, Holder: "", ClaimUntil: time.Time{},
			Target:   connectors.Ref{"sam": "ase.overgard", "dn": "CN=Åse Øvergård-Bø,OU=1547,DC=ror,DC=test"},
			Disabled: true, LastError: "ad: unavailable: connection refused", Created: t0, Updated: t0.Add(time.Second)}
		var id int64
		inTx(t, l, func(tx ledger.Tx) {
			var err error
			id, err = tx.InsertOperation(want)
			require.NoError(t, err)
			want.ID = id
			got, err := tx.Operation(id)
			require.NoError(t, err)
			require.Equal(t, &want, got)
		})
		require.Equal(t, want, readOp(t, l, id))

		// Every writable field changes on update.
		want.State, want.DueAt, want.NextAt, want.Attempts, want.Token = ledger.OpClaimed, t0.Add(time.Hour), t0.Add(2*time.Hour), 3, 4
		want.Holder, want.ClaimUntil, want.Target = "x9", t0.Add(3*time.Hour), connectors.Ref{"sam": "ase.overgard2"}
		want.Disabled, want.LastError, want.Updated = false, "", t0.Add(4*time.Hour)
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.UpdateOperation(want, 0)) })
		require.Equal(t, want, readOp(t, l, id))

		// A queued operation without a state or target.
		bare := op("p2", "manual", t0, 1)
		bare.Kind = ledger.KindLeave
		bid := insertOps(t, l, bare)[0]
		got := readOp(t, l, bid)
		require.Equal(t, ledger.OpQueued, got.State, "an empty state is queued")
		require.Nil(t, got.Target)
		require.Equal(t, ledger.KindLeave, got.Kind)
	}},
	{"Missing", func(t *testing.T, l ledger.Ledger) {
		got, err := l.Operation(t.Context(), 12345)
		require.NoError(t, err)
		require.Nil(t, got)
		tx := begin(t, l)
		defer tx.Rollback()
		got, err = tx.Operation(12345)
		require.NoError(t, err)
		require.Nil(t, got)
		o := op("p", "ad", t0, 1)
		o.ID = 12345
		require.Error(t, tx.UpdateOperation(o, 0), "updating a missing operation")
	}},
	{"OfGrantAndPerson", func(t *testing.T, l ledger.Ledger) {
		a := op("p1", "ad", t0.Add(time.Minute), 5)
		a.GrantID = "g1"
		b := op("p1", "ad", t0, 9)
		b.GrantID = "g1"
		c := op("p1", "ad", t0, 7)
		c.GrantID, c.State = "g1", ledger.OpWaiting
		d := op("p1", "entra", t0, 1) // an account operation: no grant
		d.Kind, d.State = ledger.KindEnsureAccount, ledger.OpDone
		e := op("p2", "ad", t0, 1)
		e.GrantID = "g2"
		id := insertOps(t, l, a, b, c, d, e)

		want := []int64{id[2], id[1], id[0]} // by due time, then stream sequence
		got, err := l.Operations(t.Context(), "g1")
		require.NoError(t, err)
		require.Equal(t, want, opIDs(got))
		tx := begin(t, l)
		defer tx.Rollback()
		got, err = tx.OperationsOf("g1")
		require.NoError(t, err)
		require.Equal(t, want, opIDs(got))

		got, err = tx.PersonOperations("p1")
		require.NoError(t, err)
		require.ElementsMatch(t, []int64{id[0], id[1], id[2], id[3]}, opIDs(got), "no states: all of them")
		got, err = tx.PersonOperations("p1", ledger.OpQueued, ledger.OpWaiting)
		require.NoError(t, err)
		require.ElementsMatch(t, []int64{id[0], id[1], id[2]}, opIDs(got))
		got, err = tx.PersonOperations("p1", ledger.OpDone)
		require.NoError(t, err)
		require.Equal(t, []int64{id[3]}, opIDs(got))
		got, err = tx.PersonOperations("p1", ledger.OpFailed)
		require.NoError(t, err)
		require.Empty(t, got)
	}},
	{"Waiting", func(t *testing.T, l ledger.Ledger) {
		waitingOps := func() []ledger.Operation {
			t.Helper()
			ops, err := l.WaitingOperations(t.Context())
			require.NoError(t, err)
			return ops
		}
		require.Empty(t, waitingOps(), "nothing stored")

		wait := func(o ledger.Operation) ledger.Operation {
			o.State = ledger.OpWaiting
			return o
		}
		var others []ledger.Operation
		for i, s := range []ledger.OpState{ledger.OpQueued, ledger.OpClaimed, ledger.OpDone, ledger.OpFailed, ledger.OpCancelled} {
			o := op("p9", "manual", t0.Add(-time.Hour), uint64(i+1))
			o.State = s
			others = append(others, o)
		}
		account := wait(op("p2", "manual", t0, 3)) // account work: no grant
		account.Kind, account.Entitlement = ledger.KindEnsureAccount, ""
		late := wait(op("p1", "manual", t0.Add(time.Minute), 1))
		late.GrantID = "g1"
		early := wait(op("p3", "manual", t0.Add(-time.Minute), 9))
		early.GrantID = "g3"
		sameSeq := wait(op("p4", "manual", t0, 3)) // same due and message as account: after it by id
		sameSeq.GrantID = "g4"
		id := insertOps(t, l, append([]ledger.Operation{late, account, early}, append(others, sameSeq)...)...)
		idLate, idAccount, idEarly, idSameSeq := id[0], id[1], id[2], id[len(id)-1]

		got := waitingOps()
		require.Equal(t, []int64{idEarly, idAccount, idSameSeq, idLate}, opIDs(got), "waiting ones only, by due time, stream sequence, id")
		require.Equal(t, readOp(t, l, idAccount), got[1], "the rows as stored")

		// A task done is no longer listed; an operator retry's queued row neither.
		set(t, l, idEarly, ledger.OpDone)
		set(t, l, idLate, ledger.OpQueued)
		require.Equal(t, []int64{idAccount, idSameSeq}, opIDs(waitingOps()))
	}},
	{"NextDue", func(t *testing.T, l ledger.Ledger) {
		nextDue := func() time.Time {
			t.Helper()
			d, err := l.NextDue(t.Context())
			require.NoError(t, err)
			return d
		}
		require.True(t, nextDue().IsZero(), "nothing queued")

		done := op("p0", "ad", t0.Add(-time.Hour), 1)
		done.State = ledger.OpDone
		waiting := op("p0", "manual", t0.Add(-time.Hour), 1)
		waiting.State = ledger.OpWaiting
		insertOps(t, l, done, waiting)
		require.True(t, nextDue().IsZero(), "done and waiting operations never become claimable")

		insertOps(t, l, op("p1", "ad", t0.Add(2*time.Hour), 1), op("p2", "ad", t0.Add(time.Hour), 1))
		require.Equal(t, t0.Add(time.Hour), nextDue())

		retry := op("p3", "ad", t0.Add(10*time.Minute), 1)
		retry.NextAt = t0.Add(90 * time.Minute)
		insertOps(t, l, retry)
		require.Equal(t, t0.Add(time.Hour), nextDue(), "a retry is claimable at its next attempt, not its due time")

		retry = op("p4", "ad", t0.Add(10*time.Minute), 1)
		retry.NextAt = t0.Add(20 * time.Minute)
		insertOps(t, l, retry)
		require.Equal(t, t0.Add(20*time.Minute), nextDue())

		// A claim becomes claimable again when its lease lapses.
		insertOps(t, l, op("p5", "ad", t0, 1))
		ops := claim(t, l, "x1", t0, 1)
		require.Len(t, ops, 1)
		got := nextDue()
		require.False(t, got.Before(ops[0].ClaimUntil), "%v before the lease ends %v", got, ops[0].ClaimUntil)
		require.False(t, got.After(ops[0].ClaimUntil.Add(time.Millisecond)), "%v after the lease ends %v", got, ops[0].ClaimUntil)
	}},
	{"NextDueSkipsBlocked", func(t *testing.T, l ledger.Ledger) {
		// An operation queued behind an unfinished one becomes claimable when
		// that one finishes, not at a time: NextDue must not name its (past)
		// due time, or an executor polls without pause while a manual task
		// waits for days.
		nextDue := func() time.Time {
			t.Helper()
			d, err := l.NextDue(t.Context())
			require.NoError(t, err)
			return d
		}
		task := op("p1", "manual", t0, 1)
		task.State = ledger.OpWaiting
		insertOps(t, l, task, op("p1", "manual", t0, 2))
		require.True(t, nextDue().IsZero(), "only a waiting task's successor is queued: %v", nextDue())

		insertOps(t, l, op("p2", "ad", t0.Add(time.Hour), 1))
		require.Equal(t, t0.Add(time.Hour), nextDue())

		insertOps(t, l, op("p3", "ad", t0, 1), op("p3", "ad", t0, 2))
		require.Equal(t, t0, nextDue(), "the first of p3's is due")
		ops := claim(t, l, "x1", t0, 10)
		require.Len(t, ops, 1)
		got := nextDue()
		require.False(t, got.Before(ops[0].ClaimUntil), "%v: p3's second waits for the first's claim", got)
		require.False(t, got.After(ops[0].ClaimUntil.Add(time.Millisecond)), "%v: the claim lapses at %v", got, ops[0].ClaimUntil)
		finish(t, l, ops[0])
		require.Equal(t, t0, nextDue(), "p3's second is due now")
	}},
}

func opIDs(ops []ledger.Operation) []int64 {
	out := []int64{}
	for _, o := range ops {
		out = append(out, o.ID)
	}
	return out
}

var claimTests = []test{
	{"PastALongBlockedQueue", func(t *testing.T, l ledger.Ledger) {
		// A manual task heads p1's chain; hundreds of p1's operations wait
		// behind it, and p2's one operation comes after all of them in
		// the queue. A claim must still find p2's, and take it alone.
		var ops []ledger.Operation
		for i := range 300 {
			ops = append(ops, op("p1", "manual", t0, uint64(i+1)))
		}
		ids := insertOps(t, l, append(ops, op("p2", "ad", t0, 1000), op("p2", "ad", t0, 1001))...)
		set(t, l, ids[0], ledger.OpWaiting)
		require.Equal(t, []int64{ids[300]}, claimIDs(t, l, t0, 1))
		require.Empty(t, claimIDs(t, l, t0, 10), "p2's second waits for its first; p1's for the task")
		set(t, l, ids[0], ledger.OpDone)
		require.Equal(t, []int64{ids[1]}, claimIDs(t, l, t0, 10), "the task done, p1's next")
	}},
	{"Fields", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0, 1))[0]
		now := t0.Add(time.Second)
		ops, err := l.Claim(t.Context(), "x1", now, 30*time.Second, 10)
		require.NoError(t, err)
		require.Len(t, ops, 1)
		got := ops[0]
		require.Equal(t, id, got.ID)
		require.Equal(t, ledger.OpClaimed, got.State)
		require.Equal(t, "x1", got.Holder)
		require.EqualValues(t, 1, got.Token)
		require.Equal(t, 1, got.Attempts)
		require.Equal(t, now.Add(30*time.Second), got.ClaimUntil)
		require.Equal(t, now, got.Updated)
		require.Equal(t, got, readOp(t, l, id), "Claim returns the row as stored")
		require.Empty(t, claimIDs(t, l, now, 10), "a claimed operation is not claimed again while its lease holds")
	}},
	{"DueAt", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0.Add(time.Hour), 1))[0]
		require.Empty(t, claimIDs(t, l, t0, 10), "not yet due")
		require.Empty(t, claimIDs(t, l, t0.Add(time.Hour-time.Millisecond), 10), "not yet due")
		require.Equal(t, []int64{id}, claimIDs(t, l, t0.Add(time.Hour), 10), "due at its due time")
	}},
	{"Limit", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0, 5), op("p2", "ad", t0, 4), op("p3", "ad", t0, 3), op("p4", "ad", t0, 2), op("p5", "ad", t0, 1))
		require.Equal(t, []int64{id[4], id[3]}, claimIDs(t, l, t0, 2))
		require.Equal(t, []int64{id[2], id[1]}, claimIDs(t, l, t0, 2))
		require.Equal(t, []int64{id[0]}, claimIDs(t, l, t0, 2))
		require.Empty(t, claimIDs(t, l, t0, 2))
	}},
	{"Order", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l,
			op("p1", "ad", t0, 2),                       // 0
			op("p1", "ad", t0, 1),                       // 1: same due time, earlier message
			op("p1", "ad", t0.Add(-time.Minute), 5),     // 2: due earlier: first
			op("p1", "ad", t0, 2),                       // 3: same due and message as 0: after it by id
			op("p1", "entra", t0, 9),                    // 4: another connector: not blocked
			op("p2", "ad", t0, 9),                       // 5: another person: not blocked
			op("p1", "ad", t0.Add(time.Millisecond), 0), // 6: due later, though from an earlier message
		)
		ops := claim(t, l, "x1", t0.Add(time.Millisecond), 10)
		require.Equal(t, []int64{id[2], id[4], id[5]}, opIDs(ops), "one per (person, connector), in (due, seq, id) order")
		require.Empty(t, claimIDs(t, l, t0.Add(time.Millisecond), 10), "a claimed operation blocks its successors")
		finish(t, l, ops[0])
		for _, want := range []int64{id[1], id[0], id[3], id[6]} {
			ops := claim(t, l, "x1", t0.Add(time.Millisecond), 10)
			require.Equal(t, []int64{want}, opIDs(ops))
			finish(t, l, ops[0])
		}
		require.Empty(t, claimIDs(t, l, t0.Add(time.Millisecond), 10))
	}},
	{"NotYetDueNeverBlocks", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0.Add(time.Hour), 1), op("p1", "ad", t0, 2))
		ops := claim(t, l, "x1", t0, 10)
		require.Equal(t, []int64{id[1]}, opIDs(ops), "a scheduled operation does not hold up due ones")
		finish(t, l, ops[0])
		require.Empty(t, claimIDs(t, l, t0, 10))
		require.Equal(t, []int64{id[0]}, claimIDs(t, l, t0.Add(time.Hour), 10))
	}},
	{"WaitingBlocksItsConnector", func(t *testing.T, l ledger.Ledger) {
		task := op("p1", "manual", t0, 1)
		task.State = ledger.OpWaiting
		id := insertOps(t, l, task, op("p1", "manual", t0, 2), op("p1", "ad", t0, 3), op("p2", "manual", t0, 4))
		ops := claim(t, l, "x1", t0, 10)
		require.Equal(t, []int64{id[2], id[3]}, opIDs(ops), "a waiting manual task blocks only its own person and connector")
		for _, o := range ops {
			finish(t, l, o)
		}
		require.Empty(t, claimIDs(t, l, t0.Add(time.Hour), 10), "and is never claimed itself")
		set(t, l, id[0], ledger.OpDone) // tilgang task done
		require.Equal(t, []int64{id[1]}, claimIDs(t, l, t0.Add(time.Hour), 10))
	}},
	{"FinishedNeverBlock", func(t *testing.T, l ledger.Ledger) {
		var ops []ledger.Operation
		for i, s := range []ledger.OpState{ledger.OpDone, ledger.OpFailed, ledger.OpCancelled} {
			o := op("p1", "ad", t0, uint64(i+1))
			o.State = s
			ops = append(ops, o)
		}
		id := insertOps(t, l, append(ops, op("p1", "ad", t0, 9))...)
		require.Equal(t, []int64{id[3]}, claimIDs(t, l, t0, 10))
	}},
	{"NextAt", func(t *testing.T, l ledger.Ledger) {
		retry := op("p1", "ad", t0, 1)
		retry.NextAt, retry.Attempts = t0.Add(5*time.Minute), 1
		id := insertOps(t, l, retry, op("p1", "ad", t0, 2), op("p2", "ad", t0, 3))
		ops := claim(t, l, "x1", t0, 10)
		require.Equal(t, []int64{id[2]}, opIDs(ops),
			"a retry waiting for its next attempt is not claimed, and still blocks its successors")
		finish(t, l, ops[0])
		require.Empty(t, claimIDs(t, l, t0.Add(5*time.Minute-time.Millisecond), 10))
		ops = claim(t, l, "x1", t0.Add(5*time.Minute), 10)
		require.Equal(t, []int64{id[0]}, opIDs(ops))
		require.Equal(t, 2, ops[0].Attempts)
		finish(t, l, ops[0])
		require.Equal(t, []int64{id[1]}, claimIDs(t, l, t0.Add(5*time.Minute), 10))
	}},
	{"LapsedClaim", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0, 1), op("p1", "ad", t0, 2))
		first := claim(t, l, "x1", t0, 10)
		require.Equal(t, []int64{id[0]}, opIDs(first))
		require.Empty(t, claim(t, l, "x2", t0.Add(59*time.Second), 10), "the lease holds")
		require.Empty(t, claim(t, l, "x2", t0.Add(time.Minute), 10), "the lease holds until its end")

		now := t0.Add(time.Minute + time.Second)
		again := claim(t, l, "x2", now, 10)
		require.Equal(t, []int64{id[0]}, opIDs(again), "a lapsed claim is claimed again, still before its successor")
		require.Equal(t, "x2", again[0].Holder)
		require.Greater(t, again[0].Token, first[0].Token)
		require.Equal(t, 2, again[0].Attempts, "every claim counts as an attempt")
		require.Equal(t, now.Add(time.Minute), again[0].ClaimUntil)
	}},
	{"StaleToken", func(t *testing.T, l ledger.Ledger) {
		id := insertOps(t, l, op("p1", "ad", t0, 1))[0]
		first := claim(t, l, "x1", t0, 1)[0]
		second := claim(t, l, "x2", t0.Add(2*time.Minute), 1)[0]
		require.Equal(t, id, second.ID)

		// x1 comes back after its lease lapsed and x2 took over.
		late := first
		late.State, late.LastError, late.Updated = ledger.OpDone, "x1 was here", t0.Add(3*time.Minute)
		tx := begin(t, l)
		err := tx.UpdateOperation(late, first.Token)
		require.Error(t, err)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
		require.NoError(t, tx.Rollback())
		require.Equal(t, second, readOp(t, l, id), "a stale token writes nothing")

		finish(t, l, second)
		got := readOp(t, l, id)
		require.Equal(t, ledger.OpDone, got.State)

		// The claim is over: even the latest token no longer matches a claim.
		tx = begin(t, l)
		err = tx.UpdateOperation(got, second.Token)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
		require.NoError(t, tx.Rollback())

		// Without a token the write always happens (operator retry).
		got.State, got.Attempts, got.LastError = ledger.OpQueued, 0, ""
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.UpdateOperation(got, 0)) })
		require.Equal(t, got, readOp(t, l, id))
		third := claim(t, l, "x3", t0.Add(4*time.Minute), 1)
		require.Len(t, third, 1)
		require.Greater(t, third[0].Token, second.Token, "tokens never go back")
	}},
	{"ReleaseClaims", func(t *testing.T, l ledger.Ledger) {
		r, ok := l.(interface {
			ReleaseClaims(ctx context.Context, holder string) (int64, error)
		})
		if !ok {
			t.Skip("the backend has no ReleaseClaims")
		}
		id := insertOps(t, l, op("p1", "ad", t0, 1), op("p2", "ad", t0, 2), op("p3", "ad", t0, 3))
		mine := claim(t, l, "x1", t0, 2)
		require.Equal(t, []int64{id[0], id[1]}, opIDs(mine))
		theirs := claim(t, l, "x2", t0, 2)
		require.Equal(t, []int64{id[2]}, opIDs(theirs))

		n, err := r.ReleaseClaims(t.Context(), "x1")
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		for _, o := range mine {
			got := readOp(t, l, o.ID)
			require.Equal(t, ledger.OpQueued, got.State)
			require.Empty(t, got.Holder)
		}
		require.Equal(t, theirs[0], readOp(t, l, id[2]), "another holder's claim stays")

		again := claim(t, l, "x1", t0, 10)
		require.Equal(t, []int64{id[0], id[1]}, opIDs(again), "released claims are claimable at once")
		for i, o := range again {
			require.Greater(t, o.Token, mine[i].Token)
		}
		tx := begin(t, l)
		defer tx.Rollback()
		stale := mine[0]
		stale.State = ledger.OpDone
		err = tx.UpdateOperation(stale, mine[0].Token)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "the claim before the release is stale: %v", err)
	}},
	{"ClaimDuringTx", func(t *testing.T, l ledger.Ledger) {
		// An executor claims while intake holds a transaction open: neither
		// may wait for the other forever.
		insertOps(t, l, op("p1", "ad", t0, 1))
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		tx, err := l.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback()
		claimed := make(chan error, 1)
		go func() {
			ops, err := l.Claim(ctx, "x1", t0, time.Minute, 10)
			// 2 when the claim waited for the commit (SQLite has one writer), 1 otherwise.
			if err == nil && len(ops) == 0 {
				err = fmt.Errorf("claimed nothing")
			}
			claimed <- err
		}()
		time.Sleep(50 * time.Millisecond) // let the claim start
		_, err = tx.RecordMessage(message("k-during", "h"))
		require.NoError(t, err)
		_, err = tx.InsertOperation(op("p2", "ad", t0, 2))
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		select {
		case err := <-claimed:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("Claim and a transaction deadlocked")
		}
	}},
	{"Concurrent", func(t *testing.T, l ledger.Ledger) {
		const (
			people  = 60
			perHead = 4
			workers = 8
		)
		var all []ledger.Operation
		for p := range people {
			for i := range perHead {
				all = append(all, op(fmt.Sprintf("p%02d", p), "ad", t0, uint64(p*perHead+i+1)))
			}
		}
		insertOps(t, l, all...)

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var (
			mu      sync.Mutex
			holders = map[int64]string{}    // operation id -> who holds it
			order   = map[string][]uint64{} // person -> seq, in claim order
			done    atomic.Int64
			wg      sync.WaitGroup
			errs    = make(chan error, workers)
		)
		for w := range workers {
			holder := fmt.Sprintf("x%d", w)
			wg.Go(func() {
				for done.Load() < people*perHead {
					if ctx.Err() != nil {
						errs <- fmt.Errorf("%s: %w with %d of %d done", holder, ctx.Err(), done.Load(), people*perHead)
						return
					}
					// The lease (an hour) outlasts the test: no claim lapses.
					ops, err := l.Claim(ctx, holder, t0, time.Hour, 3)
					if err != nil {
						errs <- fmt.Errorf("%s: claim: %w", holder, err)
						return
					}
					mu.Lock()
					for _, o := range ops {
						if h, ok := holders[o.ID]; ok {
							mu.Unlock()
							errs <- fmt.Errorf("operation %d claimed by %s and by %s", o.ID, h, holder)
							return
						}
						holders[o.ID] = holder
						order[o.Person] = append(order[o.Person], o.Seq)
					}
					mu.Unlock()
					for _, o := range ops {
						tx, err := l.Begin(ctx)
						if err != nil {
							errs <- fmt.Errorf("%s: begin: %w", holder, err)
							return
						}
						o.State = ledger.OpDone
						if err := tx.UpdateOperation(o, o.Token); err != nil {
							tx.Rollback()
							errs <- fmt.Errorf("%s: finish %d: %w", holder, o.ID, err)
							return
						}
						if err := tx.Commit(); err != nil {
							errs <- fmt.Errorf("%s: commit: %w", holder, err)
							return
						}
						done.Add(1)
					}
					if len(ops) == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, holders, people*perHead)
		for p, seqs := range order {
			require.IsIncreasing(t, seqs, "person %s's operations ran out of order", p)
		}
		st := stats(t, l)
		require.Equal(t, map[ledger.OpState]int64{ledger.OpDone: people * perHead}, st.OpsByState)
	}},
}
