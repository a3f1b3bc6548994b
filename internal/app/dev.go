package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/intake"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/streams"
)

func runDev(ctx context.Context, o DevOptions) error {
	if o.Data == "" {
		o.Data = ".tilgang"
	}
	if o.Policies == "" {
		o.Policies = "policies"
	}
	if o.NATSListen == "" {
		o.NATSListen = "127.0.0.1:4223"
	}
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:8480"
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return fmt.Errorf("dev: data directory: %w", err)
	}
	ps, err := principals.EnsureDev(o.Data)
	if err != nil {
		return fmt.Errorf("dev: principals: %w", err)
	}
	conns := connectors.Set{}
	conns["manual"] = manual.Connector{}
	nc0, err := noop.Open(noop.Config{Journal: filepath.Join(o.Data, "noop.journal")})
	if err != nil {
		return fmt.Errorf("dev: noop connector: %w", err)
	}
	conns["noop"] = nc0
	defer conns.Close()
	cat, err := policy.Load(o.Policies, conns.Names())
	if err != nil {
		return fmt.Errorf("dev: the catalogue in %s is invalid, not starting:\n%w", o.Policies, err)
	}

	host, portS, err := net.SplitHostPort(o.NATSListen)
	if err != nil {
		return fmt.Errorf("dev: --nats-listen %q: %w", o.NATSListen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("dev: --nats-listen %q: port: %w", o.NATSListen, err)
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: port, JetStream: true, StoreDir: filepath.Join(o.Data, "nats"),
		ServerName: "tilgang-dev", NoSigs: true, MaxPayload: 1 << 20})
	if err != nil {
		return fmt.Errorf("dev: nats server: %w", err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(15 * time.Second) {
		return fmt.Errorf("dev: nats server did not start on %s", o.NATSListen)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("tilgang-dev"))
	if err != nil {
		return fmt.Errorf("dev: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := streams.Ensure(ctx, js, streams.Options{})
	if err != nil {
		return err
	}
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(o.Data, "ledger.db"))
	if err != nil {
		return err
	}
	defer store.Close()

	eng := engine.New(cat, ps, []string{"manual"}, time.Now, log)
	p := &Parts{Log: log, NC: nc, JS: js, Ledger: store, Engine: eng, Connectors: conns, Consumer: cons, PoliciesDir: o.Policies, Holder: "dev", ReleaseOwn: true}
	return p.Run(ctx, o.HTTP, func(httpAddr string) {
		if o.Ready != nil {
			o.Ready(ns.ClientURL(), httpAddr)
		}
	})
}

// Parts are the pieces of a running worker, embedded or distributed.
type Parts struct {
	Log         *slog.Logger
	NC          *nats.Conn
	JS          jetstream.JetStream
	Ledger      ledger.Ledger
	Engine      *engine.Engine
	Connectors  connectors.Set
	Consumer    jetstream.Consumer
	PoliciesDir string
	Holder      string
	ReleaseOwn  bool // the only executor, reusing its holder name across restarts

	ready atomic.Bool
}

// Run starts intake, executor, publisher, API and HTTP and stops them in
// order when ctx ends: intake first (no new messages), then the executor
// finishes what is in flight, then the publisher sends what is left and a
// last anchor. The caller closes the ledger last.
func (p *Parts) Run(ctx context.Context, httpAddr string, ready func(httpAddr string)) error {
	pub := &publish.Publisher{JS: p.JS, Ledger: p.Ledger, Log: p.Log}
	exec := &executor.Executor{Ledger: p.Ledger, Engine: p.Engine, Connectors: p.Connectors, Log: p.Log, Holder: p.Holder, ReleaseOwn: p.ReleaseOwn, Committed: pub.Wake}
	in := &intake.Intake{Consumer: p.Consumer, Ledger: p.Ledger, Engine: p.Engine, Log: p.Log,
		Committed: func() { exec.Wake(); pub.Wake() }}

	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !p.ready.Load() || !p.NC.IsConnected() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if _, err := p.Ledger.Head(r.Context()); err != nil {
			http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	inCtx, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := func(name string, c context.Context, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	var inWG, execWG sync.WaitGroup
	inWG.Add(1)
	execWG.Add(1)
	start("publisher", pubCtx, pub.Run)
	start("executor", workCtx, func(c context.Context) error { defer execWG.Done(); return exec.Run(c) })
	start("intake", inCtx, func(c context.Context) error { defer inWG.Done(); return in.Run(c) })
	if err := p.serveAPI(inCtx, pub); err != nil {
		stopIntake()
		stopWork()
		stopPub()
		wg.Wait()
		return err
	}
	p.ready.Store(true)
	p.Log.Info("tilgang is running", "nats", p.NC.ConnectedUrl(), "http", ln.Addr().String(), "catalogue", p.Engine.Catalogue().Version[:12])
	if ready != nil {
		ready(ln.Addr().String())
	}
	var failure error
	select {
	case <-ctx.Done():
	case failure = <-errs:
		p.Log.Error("a part stopped; shutting down", "err", failure)
	}
	p.ready.Store(false)
	p.Log.Info("stopping: draining intake")
	stopIntake()
	inWG.Wait()
	p.Log.Info("stopping: finishing operations in flight")
	stopWork()
	done := make(chan struct{})
	go func() { execWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.Log.Warn("stopping: operations still in flight after 30 s; their claims will lapse and they run again")
	}
	stopPub()
	wg.Wait()
	p.Log.Info("stopped")
	return failure
}
