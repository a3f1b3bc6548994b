package executor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// An operation put in the outbox behind the ledger's back (a row inserted
// in the SQLite file) is not run: only operations the chain records as
// planned are.
func TestUntracedOperationIsNotRun(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	conn, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	conns := connectors.Set{"noop": conn}
	cat, err := policy.Load(testenv.WriteCatalogue(t, testenv.Catalogue), []string{"noop", "manual"})
	require.NoError(t, err)
	ps, err := principals.EnsureDev(t.TempDir())
	require.NoError(t, err)
	now := time.Now()
	eng := engine.New(cat, ps, conns, func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))

	person := testenv.People()[0]
	ref, _, err := conn.EnsureAccount(ctx, connectors.Account{Person: person})
	require.NoError(t, err)
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: person, Version: 1, Updated: now}))
	queue := func(ent string) ledger.Operation {
		op := ledger.Operation{Person: person.ID, Connector: "noop", Kind: ledger.KindGrant, Entitlement: ent, State: ledger.OpQueued,
			DueAt: now.Add(-time.Second), NextAt: now.Add(-time.Second), Created: now, Updated: now, Target: ref}
		op.ID, err = tx.InsertOperation(op)
		require.NoError(t, err)
		return op
	}
	planned := queue("KASSE-BRUKER")
	// What the planner chains for an operation it queues.
	tx.Audit(ledger.AuditEntry{At: now, Kind: "operations.planned", Person: person.ID, Actor: engine.Worker,
		Details: map[string]string{fmt.Sprintf("op.%d", planned.ID): ledger.DigestOp(planned)}})
	inserted := queue("KASSE-ADMIN") // no chain row: as if inserted in the file
	require.NoError(t, tx.Commit())

	x := &executor.Executor{Ledger: store, Engine: eng, Connectors: conns, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Holder: "test", Workers: 2}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	settled := func(id int64) bool {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		return op.State == ledger.OpDone || op.State == ledger.OpFailed
	}
	require.Eventually(t, func() bool { return settled(planned.ID) && settled(inserted.ID) }, 20*time.Second, 10*time.Millisecond)
	stop()
	require.NoError(t, <-done)

	got, err := store.Operation(ctx, planned.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.OpDone, got.State, got.LastError)
	got, err = store.Operation(ctx, inserted.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.OpFailed, got.State)
	require.Contains(t, got.LastError, fmt.Sprintf("operation %d is in no chained decision", inserted.ID))
	require.Equal(t, []noop.Effect{{Op: "create", Person: person.ID, Entitlement: "enabled"}, {Op: "grant", Person: person.ID, Entitlement: "KASSE-BRUKER"}}, conn.Effects())
}
