package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/lease"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/metrics"
	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// WorkerOptions configure one `tilgang worker` replica. The caller opens
// the ledger (and closes it after Worker returns) and the connectors.
type WorkerOptions struct {
	Name        string // unique per replica: claims and the intake lease carry it
	NATS        string // server URLs, comma separated
	NATSOptions []nats.Option
	Streams     streams.Options
	Ledger      ledger.Ledger
	Principals  *principals.Set
	// LoadPrincipals, when set, reads the principals anew on SIGHUP (the
	// principals file after `tilgang principal add|rotate|revoke`).
	LoadPrincipals func() (*principals.Set, error)
	WorkerKey      nkeys.KeyPair // signs audit anchors; without it none are published
	Policies       string
	Connectors     connectors.Set
	HTTP           string
	Log            *slog.Logger
	Batch          int
	Partitions     int // intake transactions per batch, by person; 4 suits PostgreSQL
	Workers        int
	LeaseTTL       time.Duration // intake lease, default 10 s
	ClaimLease     time.Duration
	CallTimeout    time.Duration
	MaxAttempts    int
	// Portal, when set, is served on HTTP (config portal:); NC, JS and
	// Log are filled in here.
	Portal *portal.Options
	// Ready, when set, is called once everything listens.
	Ready func(httpAddr string)
	// EraseLimit is the newest time an erasure may reach (retention.min).
	EraseLimit func(now time.Time) time.Time
	// HRSources are synced on their schedules (config hr_sources).
	HRSources []HRSourceRun
	// Reconcile is the reconcile: schedule (config).
	Reconcile ReconcileSchedule
	// Notify configures the notifier (config notify:); nil or without an
	// SMTP server, no e-mail is sent (logged once).
	Notify *NotifyOptions
	// ReviewEvery is how often the replica looks for access review work
	// (default a minute; tests make it shorter).
	ReviewEvery time.Duration
	// Telemetry exports traces (config telemetry:); nil: none are made.
	// The caller shuts it down.
	Telemetry *telemetry.Provider
	// VerifyEvery is how often the audit chain is verified on a schedule
	// (config audit.verify_every; 0: DefaultVerifyEvery).
	VerifyEvery time.Duration
	// Now, when set, is the engine's clock (tests: what falls due days
	// later); default time.Now.
	Now func() time.Time
}

// NotifyOptions configure the notifier of a worker.
type NotifyOptions struct {
	SMTP      *notify.SMTP // nil: no e-mail
	From      string
	PublicURL string // the portal's address, the base of links
	Digest    int
	// RemindAfter and EscalateAfter are the working days after which a
	// pending approval or manual task is reminded and escalated (0: never).
	RemindAfter, EscalateAfter int
}

// Worker runs one replica until ctx ends: every replica executes operations
// and answers the API; the one holding the intake lease also reads the
// stream and publishes events. Several replicas share one NATS cluster and
// one PostgreSQL database.
func Worker(ctx context.Context, o WorkerOptions) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("replica", o.Name)
	if o.WorkerKey == nil {
		// Without anchors a rewritten or deleted chain row goes unnoticed.
		return fmt.Errorf("worker: no worker key (worker_key: the seed of the service principal worker, which signs audit anchors), not starting")
	}
	cat, err := policy.Load(o.Policies, o.Connectors.Names())
	if err != nil {
		return fmt.Errorf("worker: the catalogue in %s is invalid, not starting:\n%w", o.Policies, err)
	}
	opts := append([]nats.Option{nats.Name("tilgang-worker " + o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats: disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: reconnected", "url", c.ConnectedUrl()) })}, o.NATSOptions...)
	nc, err := nats.Connect(o.NATS, opts...)
	if err != nil {
		return fmt.Errorf("worker: nats %s: %w", o.NATS, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if s, ok := o.Ledger.(*sqlledger.Store); ok {
		unlock, err := s.Lock() // `tilgang restore` refuses while held
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		defer unlock()
	}
	if err := afterRestore(ctx, o.Ledger, js, o.Streams, log); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	eng := engine.New(cat, o.Principals, o.Connectors, now, log)
	if o.Notify != nil {
		eng.Reminders = engine.Reminders{RemindAfter: o.Notify.RemindAfter, EscalateAfter: o.Notify.EscalateAfter}
	}
	if o.MaxAttempts > 0 {
		eng.MaxAttempts = o.MaxAttempts
	}
	ttl := o.LeaseTTL
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	m := metrics.New(o.Name)
	l := &lease.Lease{Ledger: o.Ledger, Name: "intake", Holder: o.Name, TTL: ttl, Log: log,
		OnChange: func(active bool) {
			if active {
				m.LeaseHeld.Set(1)
			} else {
				m.LeaseHeld.Set(0)
			}
		}}
	p := &Parts{Log: log, NC: nc, JS: js, Ledger: o.Ledger, Engine: eng, Connectors: o.Connectors, Streams: o.Streams,
		PoliciesDir: o.Policies, Holder: o.Name, Lease: l, Batch: o.Batch, Partitions: o.Partitions, Workers: o.Workers, ClaimLease: o.ClaimLease,
		CallTimeout: o.CallTimeout, Metrics: m, WorkerKey: o.WorkerKey, Tracer: o.Telemetry.Tracer(telemetry.Scope)}
	p.LoadPrincipals = o.LoadPrincipals
	p.EraseLimit = o.EraseLimit
	p.HRSources = o.HRSources
	p.Reconcile = o.Reconcile
	p.ReviewEvery = o.ReviewEvery
	p.VerifyEvery = o.VerifyEvery
	if o.Portal != nil {
		po := *o.Portal
		po.NC, po.JS, po.Log = nc, js, log
		if po.Tracer == nil {
			po.Tracer = p.Tracer
		}
		p.Portal = func(ctx context.Context, _ string) (http.Handler, error) {
			pt, err := portal.New(ctx, po)
			if err != nil {
				return nil, err
			}
			return pt.Handler(), nil
		}
	}
	p.Notify = func(string) *notify.Notifier {
		ob, ok := o.Ledger.(notify.Outbox)
		if !ok {
			log.Warn("notify: this ledger keeps no mail outbox: no e-mail is sent")
			return nil
		}
		n := &notify.Notifier{Ledger: ob, Catalogue: eng.Catalogue, Log: log, Now: now}
		if o.Notify != nil {
			n.From, n.PublicURL, n.Digest = o.Notify.From, o.Notify.PublicURL, o.Notify.Digest
			if o.Notify.SMTP != nil {
				n.Sender = o.Notify.SMTP
			}
		}
		return n
	}
	defer p.ReloadOnSIGHUP(ctx)()
	return p.Run(ctx, o.HTTP, o.Ready)
}
