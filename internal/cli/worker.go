package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/config"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// runWorkerConfig runs one worker replica as its config file says: it
// refuses to start on any problem in the config, the principals file or
// the catalogue, opens the ledger (migrating it under a lock), the
// connector instances and then app.Worker until a signal stops it.
func runWorkerConfig(e *env, path string) error {
	cfg, err := config.Load(path, config.DefaultRegistry())
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: %s is not a valid config:\n%v", path, err)}
	}
	log := cfg.Logger(e.Stderr)
	ps, err := principals.Load(cfg.Principals)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: principals: %v", err)}
	}
	var workerKey nkeys.KeyPair
	if cfg.WorkerKey != "" {
		if workerKey, err = principals.LoadSeed(cfg.WorkerKey); err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: worker_key: %v", err)}
		}
	}
	po, err := portalOptions(cfg)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: portal: %v", err)}
	}
	hrRuns, err := hrSourceRuns(cfg)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: %v", err)}
	}
	dsn, err := cfg.DSN()
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: ledger: %v", err)}
	}
	var store ledger.Ledger
	partitions := 1 // SQLite has one writer
	switch cfg.Ledger.Driver {
	case "postgres":
		store, err = sqlledger.OpenPostgres(e.ctx, dsn, cfg.Ledger.MaxConns)
		partitions = max(1, min(4, cfg.Ledger.MaxConns/2))
	default:
		store, err = sqlledger.OpenSQLite(e.ctx, dsn)
	}
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: ledger: %v", err)}
	}
	defer store.Close()
	conns := connectors.Set{}
	defer conns.Close()
	for name, c := range cfg.ConnectorConfigs() {
		conn, err := c.Open(name, log) // each connector adds connector=<name> itself
		if err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: connector %s: %v", name, err)}
		}
		conns[name] = conn
	}
	natsOpts, err := cfg.NATSOptions()
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: nats: %v", err)}
	}
	var no *app.NotifyOptions
	if cfg.Notify != nil {
		sender, err := cfg.NotifySender()
		if err != nil {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: %v", err)}
		}
		no = &app.NotifyOptions{SMTP: sender, From: cfg.Notify.From, PublicURL: cfg.NotifyPublicURL(), Digest: cfg.Notify.Digest,
			RemindAfter: cfg.Notify.Reminders.RemindAfter, EscalateAfter: cfg.Notify.Reminders.EscalateAfter}
	}
	tp, err := telemetry.New(e.ctx, cfg.Telemetry, cfg.Name)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("worker: telemetry: %v", err)}
	}
	if tp != nil {
		log.Info("telemetry: exporting traces", "otlp_endpoint", cfg.Telemetry.OTLPEndpoint)
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("telemetry: the last spans were not exported", "err", err)
			}
		}()
	}
	err = app.Worker(e.ctx, app.WorkerOptions{
		Name: cfg.Name, NATS: cfg.NATS.URL, NATSOptions: natsOpts, Streams: cfg.StreamOptions(), Ledger: store,
		Principals: ps, LoadPrincipals: func() (*principals.Set, error) { return principals.Load(cfg.Principals) }, WorkerKey: workerKey, Policies: cfg.Policies, Connectors: conns, HTTP: cfg.HTTP, Log: log,
		Batch: cfg.Intake.Batch, Partitions: partitions, Workers: cfg.Executor.Workers, LeaseTTL: cfg.Intake.LeaseTTL,
		ClaimLease: cfg.Executor.ClaimLease, CallTimeout: cfg.Executor.CallTimeout, MaxAttempts: cfg.Executor.MaxAttempts,
		EraseLimit:  cfg.Retention.Limit,
		Reconcile:   app.ReconcileSchedule{Every: cfg.Reconcile.Every, Fix: cfg.Reconcile.Fix},
		Portal:      po,
		Notify:      no,
		HRSources:   hrRuns,
		Telemetry:   tp,
		VerifyEvery: cfg.Audit.VerifyEvery,
		Ready: func(httpAddr string) {
			fmt.Fprintf(e.Stdout, "tilgang worker %s: health http://%s, pid %d\n", cfg.Name, httpAddr, os.Getpid())
		},
	})
	if err != nil {
		return &exitError{code: exitFailed, msg: "worker: " + err.Error()}
	}
	return nil
}
