package testenv

import (
	"context"
	"crypto/rand"
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
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// StartWorker runs one `tilgang worker` replica in the test process, with
// the connector instances given, the catalogue files, a SQLite ledger and
// an embedded NATS server: the distributed mode's code path, for connector
// end-to-end tests. Extra principals (people with curve keys, say) join the
// dev ones.
func StartWorker(t testing.TB, conns connectors.Set, catalogue map[string]string, extra ...principals.Principal) *Env {
	return StartWorkerWith(t, WorkerSetup{Connectors: conns, Catalogue: catalogue, Principals: extra})
}

// WorkerSetup is what StartWorkerWith runs.
type WorkerSetup struct {
	Connectors connectors.Set
	// Catalogue files, or Policies, a catalogue directory (such as the
	// repository's policies/).
	Catalogue map[string]string
	Policies  string
	// Principals join the dev ones (made in the data directory).
	Principals []principals.Principal
	// HTTP is the worker's HTTP address; default a free port of 127.0.0.1.
	HTTP string
	// Portal, when set, is served on HTTP as a worker's config portal:
	// section would have it. Key defaults to the dev portal principal's
	// seed (<data>/keys/portal.nk), PublicURL to http://HTTP and
	// SessionKeys to one random key.
	Portal *portal.Options
	// Change, when set, changes the worker's options (given the data
	// directory, where keys/ holds the dev keys) before it starts.
	Change func(dir string, o *app.WorkerOptions)
}

// StartWorkerWith runs one `tilgang worker` replica as StartWorker does,
// set up by s. The worker's HTTP address is Env.HTTP.
func StartWorkerWith(t testing.TB, s WorkerSetup) *Env {
	dir := t.TempDir()
	ns := NATS(t, dir)
	dev, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	ps, err := principals.New(append(dev.All(), s.Principals...))
	require.NoError(t, err)
	wk, err := principals.EnsureWorkerKey(dir)
	require.NoError(t, err)
	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	policies := s.Policies
	if policies == "" {
		policies = WriteCatalogue(t, s.Catalogue)
	}
	httpAddr := s.HTTP
	if httpAddr == "" {
		httpAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	var po *portal.Options
	if s.Portal != nil {
		o := *s.Portal
		if o.Key == nil {
			o.Key, err = principals.LoadSeed(filepath.Join(dir, "keys", principals.PortalSeedFile))
			require.NoError(t, err)
		}
		if o.ID == "" {
			o.ID = principals.PortalID
		}
		if o.PublicURL == "" {
			o.PublicURL = "http://" + httpAddr
		}
		if o.SessionKeys == nil {
			k := make([]byte, 32)
			_, _ = rand.Read(k)
			o.SessionKeys = [][]byte{k}
		}
		po = &o
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{T: t, Data: dir, URL: ns.ClientURL(), HTTP: httpAddr, cancel: cancel, done: make(chan error, 1)}
	e.cond = sync.NewCond(&e.mu)
	ready := make(chan struct{})
	go func() {
		o := app.WorkerOptions{Name: "test-worker", NATS: ns.ClientURL(), Ledger: store, Principals: ps,
			Policies: policies, Connectors: s.Connectors, HTTP: httpAddr, Portal: po,
			Log: log, LeaseTTL: 3 * time.Second, WorkerKey: wk, Ready: func(string) { close(ready) }}
		if s.Change != nil {
			s.Change(dir, &o)
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
