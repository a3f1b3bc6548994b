package app

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// ReconcileSchedule is the worker config's reconcile: block: how often the
// worker reconciles every system by itself, and whether it fixes.
type ReconcileSchedule struct {
	Every time.Duration // 0: never on a schedule
	Fix   bool
}

// reconciler is the replica's reconciliation runner, made once; its
// metrics are served with the worker's.
func (p *Parts) reconciler() *reconcile.Runner {
	p.reconOnce.Do(func() {
		p.recon = &reconcile.Runner{Ledger: p.Ledger, Engine: p.Engine, Connectors: p.Connectors, Log: p.Log}
		if p.Metrics != nil {
			m := reconcile.NewMetrics()
			if err := p.Metrics.Register(m.Collectors()...); err != nil {
				p.Log.Warn("reconcile: metrics not registered", "err", err)
			} else {
				p.recon.Metrics = m
			}
		}
	})
	return p.recon
}

// reconcileOnSchedule reconciles every system each s.Every while this
// replica is the active one (holds the intake lease, or is the only one),
// until ctx ends. A run's findings go to the log, the chain, the events and
// the metrics, as a command's do.
func (p *Parts) reconcileOnSchedule(ctx context.Context, s ReconcileSchedule) {
	if s.Every <= 0 {
		return
	}
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.Lease != nil && p.Lease.Token() == 0 {
			continue
		}
		reps, err := p.reconciler().Run(ctx, reconcile.Options{All: true, Fix: s.Fix, Actor: "schedule"})
		if err != nil {
			p.Log.Error("reconcile: the scheduled run failed", "err", err)
			continue
		}
		for _, r := range reps {
			p.Log.Info("reconcile: scheduled run", "system", r.System, "findings", reconcile.Summary(r), "held", r.Held,
				"fixed", r.Fixed, "error", r.Error)
		}
	}
}
