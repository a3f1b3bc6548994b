package executor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
)

// pooled is a connector instance with a pool of size connections, as the
// ad connector has: a call waits for a connection (honouring its
// context, so a call whose time runs out while it waits fails as the ad
// pool's does) and then holds it for took.
type pooled struct {
	size int
	took time.Duration
	pool chan struct{}

	mu       sync.Mutex
	entered  int // calls inside the connector now
	maxIn    int // the most at once
	calls    int
	failed   []error
	shortest time.Duration // the least time a call had from entering to its deadline
}

func newPooled(size int, took time.Duration) *pooled {
	return &pooled{size: size, took: took, pool: make(chan struct{}, size), shortest: time.Hour}
}

func (p *pooled) MaxInFlight() int { return p.size }

func (p *pooled) do(ctx context.Context) error {
	p.mu.Lock()
	p.entered++
	p.calls++
	p.maxIn = max(p.maxIn, p.entered)
	if d, ok := ctx.Deadline(); ok {
		p.shortest = min(p.shortest, time.Until(d))
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.entered--
		p.mu.Unlock()
	}()
	err := func() error {
		select {
		case p.pool <- struct{}{}:
		case <-ctx.Done():
			return tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "pooled: waiting for a connection")
		}
		defer func() { <-p.pool }()
		select {
		case <-time.After(p.took):
			return nil
		case <-ctx.Done():
			return tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "pooled: call")
		}
	}()
	if err != nil {
		p.mu.Lock()
		p.failed = append(p.failed, err)
		p.mu.Unlock()
	}
	return err
}

func (p *pooled) Resolve(ctx context.Context, per tilgang.Person, _ connectors.Ref) (connectors.Ref, error) {
	return connectors.Ref{"id": per.ID}, p.do(ctx)
}

func (p *pooled) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	return a.Ref, nil, p.do(ctx)
}
func (p *pooled) Disable(ctx context.Context, _ connectors.Account) error          { return p.do(ctx) }
func (p *pooled) Enable(ctx context.Context, _ connectors.Account) error           { return p.do(ctx) }
func (p *pooled) Grant(ctx context.Context, _ connectors.Account, _ string) error  { return p.do(ctx) }
func (p *pooled) Revoke(ctx context.Context, _ connectors.Account, _ string) error { return p.do(ctx) }
func (p *pooled) Close() error                                                     { return nil }

var _ connectors.Limited = (*pooled)(nil)

// queueGrants puts n chained grants of one entitlement on connector
// "pooled" in the outbox, one person each, and returns their ids.
func queueGrants(t *testing.T, store ledger.Ledger, n int) []int64 {
	ctx := context.Background()
	now := time.Now()
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	var ids []int64
	for i := range n {
		person := fmt.Sprintf("1547-%d", 500+i)
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: person}, Version: 1, Updated: now}))
		id, err := tx.InsertOperation(ledger.Operation{Person: person, Connector: "pooled", Kind: ledger.KindGrant, Entitlement: "G",
			State: ledger.OpQueued, DueAt: now.Add(-time.Second), Target: connectors.Ref{"id": person}, Created: now, Updated: now})
		require.NoError(t, err)
		ids = append(ids, id)
		op, err := tx.Operation(id)
		require.NoError(t, err)
		tx.Audit(ledger.Planned(now, engine.Worker, *op))
	}
	require.NoError(t, tx.Commit())
	return ids
}

// runUntilDone runs x until every one of ids is done (or fails the test).
func runUntilDone(t *testing.T, x *executor.Executor, store ledger.Ledger, ids []int64) []*ledger.Operation {
	ctx := context.Background()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool {
		st, err := store.Stats(ctx)
		return err == nil && st.OpsByState[ledger.OpDone]+st.OpsByState[ledger.OpFailed] == int64(len(ids))
	}, 60*time.Second, 20*time.Millisecond, "every operation settled")
	var ops []*ledger.Operation
	for _, id := range ids {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		ops = append(ops, op)
	}
	return ops
}

// 40 operations on an instance with 3 connections, each call holding one
// for 150 ms, by 32 workers: before, all 32 calls started at once and
// their 400 ms ran out while they waited for a connection, so most were
// retried. Now at most 3 calls are in the connector at once, each with its
// whole timeout, and every operation is done at its first attempt.
func TestLimitedInstanceWaitsForItsTurn(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	const n, size = 40, 3
	ids := queueGrants(t, store, n)
	conn := newPooled(size, 150*time.Millisecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &executor.Executor{Ledger: store, Engine: engine.New(nil, nil, nil, time.Now, log), Connectors: connectors.Set{"pooled": conn},
		Log: log, Holder: "x1", Lease: 30 * time.Second, Timeout: 400 * time.Millisecond, Workers: 32}
	var turnsMu sync.Mutex
	var turns, waited int
	x.ObserveTurn = func(_ ledger.Operation, w time.Duration, started bool) {
		turnsMu.Lock()
		defer turnsMu.Unlock()
		require.True(t, started)
		turns++
		if w > 100*time.Millisecond {
			waited++
		}
	}
	ops := runUntilDone(t, x, store, ids)
	turnsMu.Lock()
	require.Equal(t, n, turns, "one turn per call")
	require.Greater(t, waited, n/2, "most calls waited for their turn")
	turnsMu.Unlock()
	for _, op := range ops {
		require.Equal(t, ledger.OpDone, op.State, "operation %d: %s", op.ID, op.LastError)
		require.Equal(t, 1, op.Attempts, "operation %d was retried: %s", op.ID, op.LastError)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	require.Empty(t, conn.failed, "no call timed out")
	require.Equal(t, n, conn.calls)
	require.LessOrEqual(t, conn.maxIn, size, "at most the pool's size of calls at once")
	require.Equal(t, size, conn.maxIn, "the pool is used whole")
	require.Greater(t, conn.shortest, 300*time.Millisecond, "each call's time starts at its turn")
}

// With one connection and 250 ms calls, a claim of 2 s fits only a few of
// the 12 operations claimed together. One whose turn comes later than
// min(timeout, lease/4) before its claim's cut (claim end less a tenth of
// the lease) does not start: it goes back to the queue with its attempt
// taken back and is claimed again. So every call starts with at least
// that much time, none is cut short or retried, and all are done.
func TestTurnTooLateInTheClaimGoesBack(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	const n = 12
	ids := queueGrants(t, store, n)
	conn := newPooled(1, 250*time.Millisecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &executor.Executor{Ledger: store, Engine: engine.New(nil, nil, nil, time.Now, log), Connectors: connectors.Set{"pooled": conn},
		Log: log, Holder: "x1", Lease: 2 * time.Second, Timeout: time.Second, Workers: n}
	ops := runUntilDone(t, x, store, ids)
	reclaimed := 0
	for _, op := range ops {
		require.Equal(t, ledger.OpDone, op.State, "operation %d: %s", op.ID, op.LastError)
		require.Equal(t, 1, op.Attempts, "operation %d: a wait counted as an attempt", op.ID)
		if op.Token > 1 {
			reclaimed++
		}
	}
	require.Positive(t, reclaimed, "some operations went back to the queue and were claimed again")
	conn.mu.Lock()
	defer conn.mu.Unlock()
	require.Empty(t, conn.failed, "no call was cut short")
	require.Equal(t, n, conn.calls, "each operation called once")
	require.Equal(t, 1, conn.maxIn)
	require.GreaterOrEqual(t, conn.shortest, 400*time.Millisecond, "no call started with less than lease/4 left")
}

// When Run is stopped, the operations still waiting for their turn go
// back to the queue unattempted; the calls in flight finish and are
// recorded.
func TestStopGivesBackTheWaiting(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	const n = 10
	ids := queueGrants(t, store, n)
	conn := newPooled(1, 500*time.Millisecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &executor.Executor{Ledger: store, Engine: engine.New(nil, nil, nil, time.Now, log), Connectors: connectors.Set{"pooled": conn},
		Log: log, Holder: "x1", Lease: time.Minute, Timeout: 5 * time.Second, Workers: n}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	require.Eventually(t, func() bool { return len(x.InFlight()) == n }, 20*time.Second, 5*time.Millisecond, "all claimed")
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for the operations that had not started")
	}
	conn.mu.Lock()
	calls := conn.calls
	conn.mu.Unlock()
	require.Less(t, calls, n, "the waiting did not run")
	var finished, queued int
	for _, id := range ids {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		switch op.State {
		case ledger.OpDone:
			finished++
			require.Equal(t, 1, op.Attempts)
		case ledger.OpQueued:
			queued++
			require.Zero(t, op.Attempts, "operation %d: no attempt counted", op.ID)
			require.Empty(t, op.Holder)
		default:
			t.Fatalf("operation %d is %s", op.ID, op.State)
		}
	}
	require.Equal(t, calls, finished, "each call that started is recorded")
	require.Equal(t, n-calls, queued)
}
