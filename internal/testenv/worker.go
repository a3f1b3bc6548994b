package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// StartWorker runs one `tilgang worker` replica in the test process, with
// the connector instances given, the catalogue files, a SQLite ledger and
// an embedded NATS server: the distributed mode's code path, for connector
// end-to-end tests. Extra principals (people with curve keys, say) join the
// dev ones.
func StartWorker(t testing.TB, conns connectors.Set, catalogue map[string]string, extra ...principals.Principal) *Env {
	return StartWorkerWith(t, nil, conns, catalogue, extra...)
}

// StartWorkerWith is StartWorker with the worker's options changed by
// change (given the data directory, where keys/ holds the dev keys) before
// it starts.
func StartWorkerWith(t testing.TB, change func(dir string, o *app.WorkerOptions), conns connectors.Set, catalogue map[string]string, extra ...principals.Principal) *Env {
	dir := t.TempDir()
	ns := NATS(t, dir)
	dev, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	ps, err := principals.New(append(dev.All(), extra...))
	require.NoError(t, err)
	wk, err := principals.EnsureWorkerKey(dir)
	require.NoError(t, err)
	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{T: t, Data: dir, URL: ns.ClientURL(), cancel: cancel, done: make(chan error, 1)}
	e.cond = sync.NewCond(&e.mu)
	ready := make(chan struct{})
	go func() {
		o := app.WorkerOptions{Name: "test-worker", NATS: ns.ClientURL(), Ledger: store, Principals: ps,
			Policies: WriteCatalogue(t, catalogue), Connectors: conns, HTTP: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			Log: log, LeaseTTL: 3 * time.Second, WorkerKey: wk, Ready: func(string) { close(ready) }}
		if change != nil {
			change(dir, &o)
		}
		e.done <- app.Worker(ctx, o)
		store.Close()
	}()
	select {
	case <-ready:
	case err := <-e.done:
		t.Fatalf("worker did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not start in 30 s")
	}
	e.NC, err = nats.Connect(e.URL)
	require.NoError(t, err)
	e.JS, err = jetstream.New(e.NC)
	require.NoError(t, err)
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	e.Sender = &client.Sender{Key: key, Via: principals.DevID, Source: "test"}
	e.watch(ctx)
	t.Cleanup(e.Stop)
	return e
}
