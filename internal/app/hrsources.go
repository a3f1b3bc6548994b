package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/hrsync"
)

// HRSourceRun is an HR source the worker syncs on a schedule (config
// hr_sources). Every replica keeps the schedule; the first to take a slot's
// lease ("hr-sync/NAME", held until the slot ends and never released) runs
// it, so each slot runs once across the replicas. A replica that stops
// during a run loses that slot: the next slot runs again.
type HRSourceRun struct {
	Name  string
	Every time.Duration // slots counted from the Unix epoch; or
	Daily []string      // times of day "HH:MM", Oslo
	Key   nkeys.KeyPair // signs the events and the API calls
	Actor string        // a principal holding hr
	// Prepare gives a run's options afresh (the file opened, the source
	// opened); NC, Client, Key, Actor and Now are filled in here.
	Prepare func() (hrsync.Options, error)
}

// slot is the schedule's slot holding t: its start and end.
func (s HRSourceRun) slot(t time.Time) (time.Time, time.Time, bool) {
	if s.Every > 0 {
		start := t.Truncate(s.Every)
		return start, start.Add(s.Every), true
	}
	if len(s.Daily) == 0 {
		return time.Time{}, time.Time{}, false
	}
	var mins []int
	for _, d := range s.Daily {
		var h, m int
		if _, err := fmt.Sscanf(d, "%d:%d", &h, &m); err == nil {
			mins = append(mins, h*60+m)
		}
	}
	sort.Ints(mins)
	local := t.In(tilgang.Oslo)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, tilgang.Oslo)
	at := func(day time.Time, i int) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), mins[i]/60, mins[i]%60, 0, 0, tilgang.Oslo)
	}
	// The latest time at or before t, today or else the last one yesterday.
	start := at(day.AddDate(0, 0, -1), len(mins)-1)
	next := at(day, 0)
	for i := range mins {
		if c := at(day, i); !c.After(t) {
			start = c
			if i+1 < len(mins) {
				next = at(day, i+1)
			} else {
				next = at(day.AddDate(0, 0, 1), 0)
			}
		}
	}
	return start, next, true
}

// runHRSources keeps the schedule of every source until ctx ends.
func (p *Parts) runHRSources(ctx context.Context) {
	for _, s := range p.HRSources {
		if _, _, ok := s.slot(time.Now()); !ok {
			continue
		}
		go p.scheduleHRSource(ctx, s)
	}
}

func (p *Parts) scheduleHRSource(ctx context.Context, s HRSourceRun) {
	log := p.Log.With("hr_source", s.Name)
	var done time.Time // the start of the last slot this replica ran or saw taken
	for ctx.Err() == nil {
		now := time.Now()
		start, end, _ := s.slot(now)
		wake := end
		if !start.Equal(done) {
			tok, err := p.Ledger.AcquireLease(ctx, "hr-sync/"+s.Name, p.Holder, end.Sub(now))
			switch {
			case err != nil:
				log.Warn("hr sync: cannot take the slot's lease; trying again in a minute", "err", err)
				wake = now.Add(time.Minute)
			case tok == 0:
				done = start // another replica runs this slot
			default:
				done = start
				if p.hrRan != nil {
					p.hrRan(s.Name, start)
				} else {
					p.runHRSource(ctx, s, log)
				}
			}
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RunHRSource runs one sync of s now and logs its summary.
func (p *Parts) runHRSource(ctx context.Context, s HRSourceRun, log *slog.Logger) {
	o, err := s.Prepare()
	if err != nil {
		log.Error("hr sync: cannot prepare the run", "err", err)
		return
	}
	o.Name, o.NC, o.Key, o.Actor, o.Now = s.Name, p.NC, s.Key, s.Actor, p.Engine.Now
	o.Client = &api.Client{NC: p.NC, Key: s.Key, Actor: s.Actor, Timeout: 15 * time.Second, Now: p.Engine.Now}
	last := time.Now()
	o.Progress = func(stage string, n, total int) {
		if time.Since(last) >= 10*time.Second || n == total {
			log.Info("hr sync: progress", "stage", stage, "done", n, "of", total)
			last = time.Now()
		}
	}
	log.Info("hr sync: running the scheduled sync")
	if p.Tracer != nil {
		var span trace.Span
		ctx, span = p.Tracer.Start(ctx, "hr sync "+s.Name)
		defer span.End()
	}
	rep, err := hrsync.Run(ctx, o)
	attrs := []any{"people", rep.People, "joiners", rep.Joiners, "movers", rep.Movers, "leavers", rep.Leavers,
		"unchanged", rep.Unchanged, "rejected", rep.Rejected, "later", rep.Later, "sent", rep.Sent, "accepted", rep.Accepted,
		"held", rep.Held}
	for _, r := range rep.Rejections {
		log.Warn("hr sync: rejected", "person", r.Person, "by", r.By, "kind", r.Kind, "request_id", r.RequestID, "reason", r.Reason)
	}
	for _, w := range rep.Warnings {
		log.Warn("hr sync: data quality", "person", w.PersonID, "warning", w.Message)
	}
	switch {
	case errors.Is(err, hrsync.ErrHeld):
		log.Error("hr sync: held by the fail-safe; nothing was sent", append(attrs, "reasons", rep.Reasons)...)
	case err != nil:
		log.Error("hr sync: failed", append(attrs, "err", err)...)
	default:
		log.Info("hr sync: done", attrs...)
	}
}

// catchUpChanges plans, once at start, the dated HR changes that records
// already in the ledger hold ahead with none planned
// (engine.CatchUpChangesOnce), on the replica that takes the lease.
func (p *Parts) catchUpChanges(ctx context.Context) {
	n, taken, err := p.Engine.CatchUpChangesOnce(ctx, p.Ledger, p.Holder)
	switch {
	case err != nil && ctx.Err() == nil:
		p.Log.Error("hr: planning the changes ahead failed", "err", err)
	case taken && n > 0:
		p.Log.Info("hr: planned changes ahead that were not planned", "people", n)
	}
}
