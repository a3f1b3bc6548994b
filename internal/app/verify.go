package app

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// DefaultVerifyEvery is how often the worker verifies the audit chain by
// itself when the config does not say.
const DefaultVerifyEvery = 24 * time.Hour

// VerifyActor is who a scheduled audit verify is recorded as.
const VerifyActor = "worker"

// verifyOnSchedule runs audit verify while this replica is the active one
// (holds the intake lease, or is the only one) whenever the last recorded
// run, by anyone, is older than every: restarts and a lease moving between
// replicas neither skip a run nor add one. Each run is recorded as any
// verify is (the portal's audit page shows it; the metrics sampler serves
// its result as tilgang_audit_verify_ok).
func (p *Parts) verifyOnSchedule(ctx context.Context, srv *api.Server, every time.Duration) {
	vr, ok := p.Ledger.(ledger.VerifyRuns)
	if !ok || srv.Verify == nil {
		return
	}
	if every <= 0 {
		every = DefaultVerifyEvery
	}
	t := time.NewTicker(max(10*time.Millisecond, min(every/4, time.Minute)))
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
		last, err := vr.LastVerify(ctx)
		if err != nil {
			p.Log.Warn("audit verify: cannot read the last run; trying again", "err", err)
			continue
		}
		if last != nil && p.Engine.Now().Sub(last.At) < every {
			continue
		}
		rep, err := srv.VerifyNow(ctx, VerifyActor)
		switch {
		case err != nil:
			p.Log.Error("audit verify: the scheduled run failed", "err", err)
		case !rep.OK:
			p.Log.Error("audit verify: the chain does not verify", "bad_seq", rep.BadSeq, "problem", rep.Problem, "rows", rep.Rows)
		default:
			p.Log.Info("audit verify: the chain verifies", "rows", rep.Rows, "anchors", rep.Anchors)
		}
	}
}
