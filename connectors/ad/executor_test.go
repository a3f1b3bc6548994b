package ad

// The executor against the Samba DC with a small pool. (An internal test
// of package ad importing internal/executor: the executor does not import
// connectors/ad, so there is no cycle.)

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

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// 40 accounts created at once by an executor of 32 workers through a pool
// of 2 connections, each call given 5 s. Before, 32 calls started together
// and waited for the 2 connections inside their 5 s, so the late ones timed
// out and were retried. Now the executor starts at most pool_size calls of
// the instance at once: no request ever waits for a connection, every
// account is made at its first attempt, and each exists once in the DC.
func TestManyCreatesThroughASmallPool(t *testing.T) {
	ctx := context.Background()
	// {id}: names that cannot collide, so every creation is independent.
	c := openTest(t, func(cfg *Config) { cfg.PoolSize, cfg.UsernamePattern = 2, "{id}" })
	require.Equal(t, 2, c.MaxInFlight())
	cleanupRun(t)
	dir := t.TempDir()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	ps, err := principals.EnsureDev(dir)
	require.NoError(t, err)

	const n = 40
	now := time.Now()
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	var ids []int64
	for i := range n {
		p := person("Samtidig", fmt.Sprintf("Nummer %d", i), "1547")
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: p, Version: 1, Updated: now}))
		id, err := tx.InsertOperation(ledger.Operation{Person: p.ID, Connector: "ad", Kind: ledger.KindEnsureAccount,
			State: ledger.OpQueued, DueAt: now.Add(-time.Second), Created: now, Updated: now})
		require.NoError(t, err)
		ids = append(ids, id)
		op, err := tx.Operation(id)
		require.NoError(t, err)
		tx.Audit(ledger.Planned(now, engine.Worker, *op))
	}
	require.NoError(t, tx.Commit())

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	var failed []error
	x := &executor.Executor{Ledger: store, Engine: engine.New(nil, ps, nil, time.Now, log), Connectors: connectors.Set{"ad": c},
		Log: log, Holder: "x1", Lease: 2 * time.Minute, Timeout: 5 * time.Second, Workers: 32,
		Observe: func(_ ledger.Operation, _ time.Duration, err error) {
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		}}
	waitsBefore := c.pool.waits.Load()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	require.Eventually(t, func() bool {
		st, err := store.Stats(ctx)
		return err == nil && st.OpsByState[ledger.OpDone]+st.OpsByState[ledger.OpFailed] == n
	}, 5*time.Minute, 50*time.Millisecond, "every creation settled")
	stop()
	require.NoError(t, <-done)

	for _, id := range ids {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		require.Equal(t, ledger.OpDone, op.State, "operation %d: %s", op.ID, op.LastError)
		require.Equal(t, 1, op.Attempts, "operation %d was retried: %s", op.ID, op.LastError)
	}
	mu.Lock()
	require.Empty(t, failed, "no call failed or timed out")
	mu.Unlock()
	require.Zero(t, c.pool.waits.Load()-waitsBefore, "no request waited for a pooled connection")

	conn := admin(t)
	es := search(t, conn, "(employeeID=t"+runID+"-*)", "employeeID")
	seen := map[string]int{}
	for _, e := range es {
		seen[e.GetAttributeValue("employeeID")]++
	}
	for _, id := range ids {
		op, err := store.Operation(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 1, seen[op.Person], "exactly one account for %s", op.Person)
		require.NotEmpty(t, op.Target[RefDN])
		e := entry(t, conn, op.Target[RefDN], "employeeID")
		require.Equal(t, op.Person, e.GetAttributeValue("employeeID"))
	}
}
