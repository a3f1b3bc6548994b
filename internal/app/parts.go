package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/intake"
	"github.com/ror-ikt/tilgang/internal/lease"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/metrics"
	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/reconcile"
	"github.com/ror-ikt/tilgang/internal/review"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Parts are the pieces of a running worker, embedded or distributed.
type Parts struct {
	Log    *slog.Logger
	NC     *nats.Conn
	JS     jetstream.JetStream
	Ledger ledger.Ledger
	Engine *engine.Engine
	// LoadPrincipals, when set, reads the principals anew (the principals
	// file, after `tilgang principal add|rotate|revoke`): on SIGHUP.
	LoadPrincipals func() (*principals.Set, error)
	Connectors     connectors.Set
	Streams        streams.Options
	PoliciesDir    string
	Holder         string
	ReleaseOwn     bool // the only executor, reusing its holder name across restarts
	// Lease, when set, runs the intake and the publisher only while this
	// replica holds it (worker mode); without it they always run (dev).
	Lease *lease.Lease
	// Executor and intake settings; zero values take the defaults.
	Batch       int
	Partitions  int // intake transactions per batch, by person (PostgreSQL)
	Workers     int
	ClaimLease  time.Duration
	CallTimeout time.Duration
	// Metrics, when set, are served on /metrics and fed by every part.
	Metrics *metrics.Metrics
	// Tracer, when set (telemetry configured), traces messages through the
	// intake to the connector calls, and scheduled HR syncs.
	Tracer trace.Tracer
	// VerifyEvery is how often the audit chain is verified by itself
	// (0: DefaultVerifyEvery).
	VerifyEvery time.Duration
	// ShutdownLimit is how long operations in flight may take to finish
	// when stopping (default 30 s): then their connector calls and result
	// commits are cancelled, and their claims lapse so they run again.
	ShutdownLimit time.Duration
	// SyncEvery is how often the replica checks, besides when told on
	// SyncSubject, that it holds the catalogue in force (default 5 s).
	SyncEvery time.Duration
	// WorkerKey signs audit anchors (the seed of the service principal
	// worker); without it none are published.
	WorkerKey nkeys.KeyPair
	// EraseLimit is the newest time an erasure may reach at now
	// (retention.min); nil: the default.
	EraseLimit func(now time.Time) time.Time
	// Portal, when set, builds the portal's handler, given the address the
	// HTTP server listens on; it is served at / beside the health endpoints.
	Portal func(ctx context.Context, httpAddr string) (http.Handler, error)
	// Notify, when set, builds the notifier (given the address the HTTP
	// server listens on, for dev's links); it runs beside the publisher,
	// on the replica holding the intake lease.
	Notify func(httpAddr string) *notify.Notifier

	// Reconcile is the worker config's reconcile: schedule.
	Reconcile ReconcileSchedule
	// HRSources are the HR sources synced on a schedule (hrsources.go).
	HRSources []HRSourceRun
	hrRan     func(name string, slot time.Time) // tests: instead of a run

	ready atomic.Bool

	reconOnce sync.Once
	recon     *reconcile.Runner

	// ReviewEvery is how often the replica looks for access review work
	// (default a minute).
	ReviewEvery time.Duration
	reviewOnce  sync.Once
	review      *review.Runner

	catMu     sync.Mutex // one catalogue load at a time
	catFailed string     // the version in force that failed to load here
	catErr    error      // and why
}

// Run starts intake, executor, publisher, API and HTTP and stops them in
// order when ctx ends: intake first (no new messages), then the executor
// finishes what is in flight, then the publisher sends what is left and a
// last anchor. The caller closes the ledger last.
func (p *Parts) Run(ctx context.Context, httpAddr string, ready func(httpAddr string)) error {
	pub := &publish.Publisher{JS: p.JS, Ledger: p.Ledger, Log: p.Log, Key: p.WorkerKey, WorkerKeys: p.workerKeys}
	if p.Metrics != nil {
		pub.Refused = func(string) { p.Metrics.AnchorRefused.Inc() }
	}
	var notifier *notify.Notifier // made once the HTTP address is known
	wakeNotifier := func() {
		if notifier != nil {
			notifier.Wake()
		}
	}
	exec := &executor.Executor{Ledger: p.Ledger, Engine: p.Engine, Connectors: p.Connectors, Log: p.Log, Holder: p.Holder,
		ReleaseOwn: p.ReleaseOwn, Committed: func() { pub.Wake(); wakeNotifier() }, Workers: p.Workers, Lease: p.ClaimLease, Timeout: p.CallTimeout,
		Tracer: p.Tracer}
	var observe func(engine.Input, engine.Outcome, *jetstream.MsgMetadata)
	var fence func(tx ledger.Tx) error
	if p.Lease != nil {
		fence = p.Lease.Fence
	}
	runIntake := func(c context.Context) error {
		// Only the active intake may reset the consumer to its ack floor.
		cons, err := streams.EnsureConsumer(c, p.JS, p.Streams)
		if err != nil {
			return err
		}
		in := &intake.Intake{Consumer: cons, Ledger: p.Ledger, Engine: p.Engine, Log: p.Log, Batch: p.Batch, Partitions: p.Partitions, Fence: fence, Observe: observe,
			Catalogue: p.followInTx, Committed: func() { exec.Wake(); pub.Wake(); wakeNotifier() }, Tracer: p.Tracer}
		return in.Run(c)
	}

	if err := streams.EnsureStreams(ctx, p.JS, p.Streams); err != nil {
		return err
	}
	// The local files become the catalogue in force when the ledger holds
	// another (or none): a rolling restart with new files moves everyone.
	cat, changed, err := p.storeLocal(ctx, "start", false)
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	if changed {
		p.Log.Info("catalogue: the local files are now the catalogue in force", "catalogue", short(cat.Version))
		_ = p.NC.Publish(SyncSubject, nil) // the others follow now, not at their next check
	}
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFollowing()
	if err := p.followLedger(followCtx); err != nil {
		return err
	}
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
	if p.Portal != nil {
		h, err := p.Portal(ctx, ln.Addr().String())
		if err != nil {
			ln.Close()
			return fmt.Errorf("portal: %w", err)
		}
		mux.Handle("/", h)
	}
	if p.Notify != nil {
		notifier = p.Notify(ln.Addr().String())
		if p.Metrics != nil && notifier != nil && notifier.Observe == nil {
			notifier.Observe = func(outcome string) { p.Metrics.Mail.WithLabelValues(outcome).Inc() }
		}
	}
	runNotifier := func(c context.Context) error {
		if notifier == nil {
			return nil
		}
		return notifier.Run(c)
	}
	if p.Metrics != nil {
		mux.Handle("/metrics", p.Metrics.Handler())
		exec.Observe = func(op ledger.Operation, took time.Duration, err error) {
			outcome := "done"
			if err != nil {
				outcome = "failed"
				if tilgang.Retryable(err) && op.Attempts < p.Engine.MaxAttempts {
					outcome = "retry"
				}
			}
			p.Metrics.Latency.WithLabelValues(op.Connector, op.Kind).Observe(took.Seconds())
			p.Metrics.Operations.WithLabelValues(op.Connector, op.Kind, outcome).Inc()
		}
		exec.ObserveTurn = func(op ledger.Operation, waited time.Duration, started bool) {
			if _, limited := p.Connectors[op.Connector].(connectors.Limited); limited {
				p.Metrics.TurnWait.WithLabelValues(op.Connector).Observe(waited.Seconds())
			}
			if !started {
				p.Metrics.NotStarted.WithLabelValues(op.Connector).Inc()
			}
		}
		observe = func(_ engine.Input, out engine.Outcome, _ *jetstream.MsgMetadata) {
			p.Metrics.Messages.WithLabelValues(string(out)).Inc()
		}
		go p.Metrics.Sample(ctx, p.Ledger, p.JS, 15*time.Second)
	}
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
	var inWG sync.WaitGroup
	inWG.Add(1)
	// The executor is not in wg: past the shutdown limit it is left behind
	// when a connector call ignores being cancelled.
	abortCtx, abortWork := context.WithCancel(context.WithoutCancel(ctx))
	defer abortWork()
	execDone := make(chan struct{})
	go func() {
		defer close(execDone)
		if err := exec.RunUntil(workCtx, abortCtx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("executor: %w", err)
		}
	}()
	stopExecutor := func() (abandoned bool) {
		stopWork()
		return p.finishWork(exec, execDone, abortWork)
	}
	if p.Lease == nil {
		start("publisher", pubCtx, pub.Run)
		start("notifier", pubCtx, runNotifier)
		start("intake", inCtx, func(c context.Context) error {
			defer inWG.Done()
			// Without a lease to hand back, the intake starts again itself
			// when JetStream stopped delivering (its consumer was deleted,
			// say); the consumer is ensured again and resumes at its floor.
			for {
				err := runIntake(c)
				if err == nil || c.Err() != nil {
					return err
				}
				p.Log.Warn("intake stopped; starting it again", "err", err)
				t := time.NewTimer(time.Second)
				select {
				case <-c.Done():
				case <-t.C:
				}
				t.Stop()
			}
		})
	} else {
		// The active replica reads the intake and publishes; the others
		// stand by and execute operations.
		start("intake", inCtx, func(c context.Context) error {
			defer inWG.Done()
			return p.Lease.Run(c, func(active context.Context) error {
				// The publisher stops with the intake: an intake that
				// stops by itself (it cannot load the catalogue in force)
				// gives the lease up, and the publishing with it.
				active, stop := context.WithCancel(active)
				defer stop()
				var both sync.WaitGroup
				both.Add(2)
				go func() { defer both.Done(); _ = pub.Run(active) }()
				go func() { defer both.Done(); _ = runNotifier(active) }()
				err := runIntake(active)
				stop()
				both.Wait()
				return err
			})
		})
	}
	if err := p.serveAPI(inCtx, pub); err != nil {
		stopIntake()
		stopExecutor()
		stopPub()
		wg.Wait()
		return err
	}
	p.ready.Store(true)
	p.Log.Info("tilgang is running", "nats", p.NC.ConnectedUrl(), "http", ln.Addr().String(), "catalogue", p.Engine.Catalogue().Version[:12], "holder", p.Holder)
	if ready != nil {
		ready(ln.Addr().String())
	}
	p.runHRSources(inCtx)
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
	abandoned := stopExecutor()
	stopPub()
	wg.Wait()
	if abandoned {
		// A call left running may still change its target: its claim must
		// lapse, not be handed to another replica now.
		p.Log.Warn("stopping: claims not released; they lapse")
	} else if !p.ReleaseOwn {
		// Hand unfinished claims back so other replicas need not wait for them to lapse.
		if n, err := p.Ledger.ReleaseClaims(context.WithoutCancel(ctx), p.Holder); err == nil && n > 0 {
			p.Log.Info("stopping: released claims", "operations", n)
		}
	}
	p.Log.Info("stopped")
	return failure
}

// finishWork waits for the stopped executor to finish the operations in
// flight, for at most ShutdownLimit; then it cancels their calls and
// commits and waits a little more (the limit again, at most 5 s). It
// reports whether the executor was left behind, still running calls that
// ignore being cancelled.
func (p *Parts) finishWork(exec *executor.Executor, done <-chan struct{}, abort func()) (abandoned bool) {
	limit := p.ShutdownLimit
	if limit <= 0 {
		limit = 30 * time.Second
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
	}
	p.Log.Warn("stopping: operations still in flight after the shutdown limit; cancelling their calls and commits: they run again",
		"limit", limit, "operations", exec.InFlight())
	abort()
	t.Reset(min(limit, 5*time.Second))
	select {
	case <-done:
		return false
	case <-t.C:
	}
	p.Log.Error("stopping: abandoning operations whose connector calls ignore being cancelled; their claims lapse and they run again",
		"operations", exec.InFlight())
	return true
}

// workerKeys are the keys anchors are verified with: the worker
// principal's in the principals file, current and retired (anchors are
// history: a retired key verifies those it signed for ever), and the key
// this process signs with, unless the worker principal is revoked.
func (p *Parts) workerKeys() []string {
	set := p.Engine.Principals()
	keys := set.AnchorKeys(publish.WorkerActor)
	if w, ok := set.Get(publish.WorkerActor); ok && !w.Revoked.IsZero() {
		return nil
	}
	if p.WorkerKey != nil {
		if pub, err := p.WorkerKey.PublicKey(); err == nil && !slices.Contains(keys, pub) {
			keys = append(keys, pub)
		}
	}
	return keys
}
