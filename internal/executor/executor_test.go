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

// blockingBulk is a bulk connector whose GrantMany tells the test its
// deadline and then waits for the test.
type blockingBulk struct {
	called  chan time.Time
	release chan struct{}
}

func (b *blockingBulk) Resolve(context.Context, tilgang.Person, connectors.Ref) (connectors.Ref, error) {
	return connectors.Ref{}, nil
}

func (b *blockingBulk) EnsureAccount(context.Context, connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	return nil, nil, nil
}
func (b *blockingBulk) Disable(context.Context, connectors.Account) error        { return nil }
func (b *blockingBulk) Enable(context.Context, connectors.Account) error         { return nil }
func (b *blockingBulk) Grant(context.Context, connectors.Account, string) error  { return nil }
func (b *blockingBulk) Revoke(context.Context, connectors.Account, string) error { return nil }
func (b *blockingBulk) Close() error                                             { return nil }

func (b *blockingBulk) GrantMany(ctx context.Context, as []connectors.Account, _ string) []error {
	deadline, _ := ctx.Deadline()
	b.called <- deadline
	<-b.release
	return make([]error, len(as))
}

func (b *blockingBulk) RevokeMany(ctx context.Context, as []connectors.Account, ent string) []error {
	return b.GrantMany(ctx, as, ent)
}

// A bulk call of many accounts used to get one call timeout per 20 of them
// (here 4 × 2 s = 8 s) whatever the claim lease (3 s): the claim lapsed mid-
// call and another executor could make the same call again. Its deadline
// now ends before the claim does.
func TestBulkCallEndsBeforeItsClaim(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	now := time.Now()
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	const n = 60
	var ids []int64
	for i := range n {
		person := fmt.Sprintf("1547-%d", 100+i)
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: person}, Version: 1, Updated: now}))
		id, err := tx.InsertOperation(ledger.Operation{Person: person, Connector: "bulk", Kind: ledger.KindGrant, Entitlement: "G",
			State: ledger.OpQueued, DueAt: now.Add(-time.Second), Target: connectors.Ref{"id": person}, Created: now, Updated: now})
		require.NoError(t, err)
		ids = append(ids, id)
		// Chained as the planner chains what it queues: the executor runs
		// only operations the chain records.
		op, err := tx.Operation(id)
		require.NoError(t, err)
		tx.Audit(ledger.Planned(now, engine.Worker, *op))
	}
	require.NoError(t, tx.Commit())

	conn := &blockingBulk{called: make(chan time.Time, 1), release: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &executor.Executor{Ledger: store, Engine: engine.New(nil, nil, nil, time.Now, log), Connectors: connectors.Set{"bulk": conn},
		Log: log, Holder: "x1", Lease: 3 * time.Second, Timeout: 2 * time.Second, Workers: 64}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	var once sync.Once
	release := func() { once.Do(func() { close(conn.release) }) }
	defer func() { release(); stop(); <-done }()

	var deadline time.Time
	select {
	case deadline = <-conn.called:
	case <-time.After(30 * time.Second):
		t.Fatal("the bulk call was not made")
	}
	require.False(t, deadline.IsZero(), "a bulk call has a deadline")
	for _, id := range ids {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		require.Equal(t, ledger.OpClaimed, op.State)
		require.True(t, deadline.Before(op.ClaimUntil), "operation %d: the call's deadline %s is not before its claim's end %s",
			id, deadline.Format(time.StampMilli), op.ClaimUntil.Format(time.StampMilli))
	}
	release()
	require.Eventually(t, func() bool {
		st, err := store.Stats(ctx)
		return err == nil && st.OpsByState[ledger.OpDone] == n
	}, 30*time.Second, 20*time.Millisecond, "every grant recorded as done")
}
