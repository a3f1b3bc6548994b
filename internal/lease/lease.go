// Package lease keeps exactly one replica active for a job: the intake
// (and the publisher beside it). A replica holds the lease row in the
// ledger until the database's now+TTL and renews it every TTL/3; the
// others wait and take it over when it lapses. Each takeover raises a
// fencing token, and every intake transaction extends the lease with its
// token inside the transaction (Fence), so a replica that lost its lease
// while paused cannot commit anything when it wakes up.
package lease

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Lease is one replica's hold on a named lease.
type Lease struct {
	Ledger ledger.Ledger
	Name   string
	Holder string
	TTL    time.Duration
	Log    *slog.Logger
	// OnChange, when set, is told when this replica becomes active or stops.
	OnChange func(active bool)

	token atomic.Int64
	// until is when the lease lapses at the latest by this replica's
	// clock (Unix ns): TTL after the start of the last take or renewal
	// that succeeded. The database's own end is later, so a replica never
	// believes it holds a lease another may already have taken.
	until atomic.Int64
}

// Token is the fencing token while the lease is held, 0 otherwise: also 0
// once the lease has lapsed by this replica's clock, before the next
// renewal finds out (a replica paused or cut off from the database).
func (l *Lease) Token() int64 {
	if time.Now().UnixNano() >= l.until.Load() {
		return 0
	}
	return l.token.Load()
}

// Fence extends the lease inside tx; the transaction must not commit when
// it fails.
func (l *Lease) Fence(tx ledger.Tx) error {
	tok := l.Token()
	if tok == 0 {
		return tilgang.Errorf(tilgang.Conflict, "lease %s is not held by %s", l.Name, l.Holder)
	}
	return tx.Fence(l.Name, l.Holder, tok, l.TTL)
}

func (l *Lease) set(tok int64) {
	was := l.token.Swap(tok)
	if l.OnChange != nil && (was == 0) != (tok == 0) {
		l.OnChange(tok != 0)
	}
}

// Run waits for the lease and runs active while it is held; when the lease
// is lost, active's context is cancelled and Run waits for the lease again.
// When ctx ends, active is stopped and the lease released for the next
// replica at once.
func (l *Lease) Run(ctx context.Context, active func(ctx context.Context) error) error {
	every := l.TTL / 3
	for ctx.Err() == nil {
		start := time.Now()
		tok, err := l.Ledger.AcquireLease(ctx, l.Name, l.Holder, l.TTL)
		if err != nil || tok == 0 {
			if err != nil && ctx.Err() == nil {
				l.Log.Warn("lease: cannot take the lease", "lease", l.Name, "err", err)
			}
			sleep(ctx, every)
			continue
		}
		l.until.Store(start.Add(l.TTL).UnixNano())
		l.set(tok)
		l.Log.Info("lease: this replica is active", "lease", l.Name, "holder", l.Holder, "token", tok)
		l.hold(ctx, tok, every, active)
		l.set(0)
	}
	return nil
}

// hold runs active until the lease is lost, active ends, or ctx ends.
func (l *Lease) hold(ctx context.Context, tok int64, every time.Duration, active func(ctx context.Context) error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- active(actx) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			release, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := l.Ledger.ReleaseLease(release, l.Name, l.Holder, tok); err != nil {
				l.Log.Warn("lease: not released; it lapses by itself", "lease", l.Name, "err", err)
			}
			stop()
			return
		case err := <-done:
			if err != nil {
				l.Log.Error("lease: the active part stopped; giving the lease up", "lease", l.Name, "err", err)
			}
			_ = l.Ledger.ReleaseLease(context.WithoutCancel(ctx), l.Name, l.Holder, tok)
			sleep(ctx, every)
			return
		case <-tick.C:
			start := time.Now()
			err := l.Ledger.RenewLease(ctx, l.Name, l.Holder, tok, l.TTL)
			switch {
			case err == nil:
				renewed = start
				l.until.Store(start.Add(l.TTL).UnixNano())
				continue
			case tilgang.KindOf(err) == tilgang.Conflict:
				l.Log.Warn("lease: lost to another replica; standing by", "lease", l.Name, "token", tok)
			case time.Since(renewed) < l.TTL:
				l.Log.Warn("lease: renewal failed; trying again", "lease", l.Name, "err", err)
				continue
			default:
				l.Log.Warn("lease: not renewed within its TTL; standing by", "lease", l.Name, "err", err)
			}
			cancel()
			<-done
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
