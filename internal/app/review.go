package app

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang/internal/review"
)

// reviewer is the replica's access review runner, made once; its metrics
// are served with the worker's.
func (p *Parts) reviewer() *review.Runner {
	p.reviewOnce.Do(func() {
		p.review = &review.Runner{Ledger: p.Ledger, Engine: p.Engine, Connectors: p.Connectors, Log: p.Log}
		if p.Metrics != nil {
			m := review.NewMetrics()
			if err := p.Metrics.Register(m.Collectors()...); err != nil {
				p.Log.Warn("review: metrics not registered", "err", err)
			} else {
				p.review.Metrics = m
			}
		}
	})
	return p.review
}

// reviewEvery is how often the replica looks for campaign work.
const reviewEvery = time.Minute

// reviewOnSchedule does the scheduled campaign work (review.Runner.Tick:
// starts from the systems' review: every, recommendations, closes at the
// end) every ReviewEvery (default a minute), on the replica that takes
// the ledger lease review-schedule for that tick, until ctx ends.
func (p *Parts) reviewOnSchedule(ctx context.Context) {
	every := p.ReviewEvery
	if every <= 0 {
		every = reviewEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tok, err := p.Ledger.AcquireLease(ctx, review.ScheduleLease, p.Holder, 10*time.Minute)
		if err != nil {
			p.Log.Warn("review: schedule: lease", "err", err)
			continue
		}
		if tok == 0 {
			continue // another replica does this tick's work
		}
		if err := p.reviewer().Tick(ctx); err != nil {
			p.Log.Error("review: scheduled work failed", "err", err)
		}
		if err := p.Ledger.ReleaseLease(context.WithoutCancel(ctx), review.ScheduleLease, p.Holder, tok); err != nil {
			p.Log.Warn("review: schedule: release the lease", "err", err)
		}
	}
}
