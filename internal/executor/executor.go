// Package executor runs the due operations of the outbox against the
// connectors. It claims operations with a lease and a fencing token, never
// holds a database transaction across a network call, stores what it
// resolved before the first call that may create something, and records the
// result and the grant's next state in one transaction. Any number of
// executors may run against one ledger.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/crashpoint"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Executor claims and runs operations.
type Executor struct {
	Ledger     ledger.Ledger
	Engine     *engine.Engine
	Connectors connectors.Set
	Log        *slog.Logger
	Holder     string        // this executor's name in claims
	Lease      time.Duration // default 30 s
	Workers    int           // concurrent operations, default 8
	Timeout    time.Duration // per connector call, default 20 s
	// ReleaseOwn returns operations claimed under Holder to the queue at
	// start: for a process that is the only executor and reuses its name.
	ReleaseOwn bool
	// Committed is called after each commit that may have produced events.
	Committed func()

	wake chan struct{}
	once sync.Once
}

func (x *Executor) init() {
	x.once.Do(func() {
		x.wake = make(chan struct{}, 1)
		if x.Lease == 0 {
			x.Lease = 30 * time.Second
		}
		if x.Workers == 0 {
			x.Workers = 8
		}
		if x.Timeout == 0 {
			x.Timeout = 20 * time.Second
		}
	})
}

// Wake tells the executor that new work may be due. It never blocks.
func (x *Executor) Wake() {
	x.init()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs operations until ctx ends; operations in flight then
// finish (their own calls are bounded by Timeout).
func (x *Executor) Run(ctx context.Context) error {
	x.init()
	if x.ReleaseOwn {
		if n, err := x.Ledger.ReleaseClaims(ctx, x.Holder); err != nil {
			return err
		} else if n > 0 {
			x.Log.Info("executor: released the claims of the previous run", "operations", n)
		}
	}
	sem := make(chan struct{}, x.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Running operations are not claimed twice by this executor, but their
	// chain successors wait in the ledger until they finish.
	for ctx.Err() == nil {
		free := x.Workers - len(sem)
		var ops []ledger.Operation
		var err error
		if free > 0 {
			ops, err = x.Ledger.Claim(ctx, x.Holder, x.Engine.Now(), x.Lease, free)
			if err != nil && ctx.Err() == nil {
				x.Log.Warn("executor: claim failed", "err", err)
			}
		}
		for _, op := range ops {
			sem <- struct{}{}
			wg.Add(1)
			go func(op ledger.Operation) {
				defer func() { <-sem; wg.Done(); x.Wake() }()
				x.run(context.WithoutCancel(ctx), op)
			}(op)
		}
		if len(ops) > 0 && len(ops) == free {
			continue
		}
		wait := time.Second
		if next, err := x.Ledger.NextDue(ctx); err == nil && !next.IsZero() {
			if d := time.Until(next); d < wait {
				wait = max(d, 5*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-x.wake:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// RunOnce claims and runs what is due now, one at a time, and reports how
// many operations it ran; for tests and tools.
func (x *Executor) RunOnce(ctx context.Context) (int, error) {
	x.init()
	n := 0
	for {
		ops, err := x.Ledger.Claim(ctx, x.Holder, x.Engine.Now(), x.Lease, 1)
		if err != nil || len(ops) == 0 {
			return n, err
		}
		x.run(ctx, ops[0])
		n++
	}
}

func (x *Executor) log(op ledger.Operation) *slog.Logger {
	return x.Log.With("operation_id", op.ID, "grant_id", op.GrantID, "person", op.Person, "connector", op.Connector, "kind", op.Kind)
}

// inTx runs f in a ledger transaction and commits it.
func (x *Executor) inTx(ctx context.Context, f func(tx ledger.Tx) error) error {
	tx, err := x.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if x.Committed != nil {
		x.Committed()
	}
	return nil
}

func (x *Executor) run(ctx context.Context, op ledger.Operation) {
	log := x.log(op)
	var err error
	switch {
	case op.Connector == ledger.Internal:
		err = x.inTx(ctx, func(tx ledger.Tx) error { return x.Engine.RunInternal(tx, op) })
	case x.Engine.IsManual(op.Connector):
		err = x.inTx(ctx, func(tx ledger.Tx) error { return x.Engine.Waiting(tx, op) })
	default:
		err = x.call(ctx, op)
	}
	switch {
	case err == nil:
	case tilgang.KindOf(err) == tilgang.Conflict:
		log.Warn("executor: claim lost to another executor; its result is dropped", "err", err)
	default:
		// The claim lapses and the operation is claimed again.
		log.Error("executor: cannot record the operation", "err", err)
	}
}

// call runs a connector operation and records its result.
func (x *Executor) call(ctx context.Context, op ledger.Operation) error {
	log := x.log(op)
	conn, ok := x.Connectors[op.Connector]
	if !ok {
		return x.inTx(ctx, func(tx ledger.Tx) error {
			return x.Engine.Failed(tx, op, tilgang.Errorf(tilgang.Invalid, "no connector instance %q is configured", op.Connector))
		})
	}
	person, err := x.Ledger.Person(ctx, op.Person)
	if err != nil {
		return err
	}
	if person == nil {
		return x.inTx(ctx, func(tx ledger.Tx) error {
			return x.Engine.Failed(tx, op, tilgang.Errorf(tilgang.NotFound, "no HR record for %s", op.Person))
		})
	}
	acct := connectors.Account{Person: person.Person, Ref: op.Target, Disabled: op.Disabled}
	if acct.Ref == nil {
		if a, err := x.Ledger.Account(ctx, op.Person, op.Connector); err != nil {
			return err
		} else if a != nil {
			acct.Ref = a.Ref
		}
	}
	cctx, cancel := context.WithTimeout(ctx, x.Timeout)
	defer cancel()
	if op.Kind == ledger.KindEnsureAccount && op.Target == nil {
		target, err := conn.Resolve(cctx, person.Person, acct.Ref)
		if err != nil {
			return x.failed(ctx, op, err)
		}
		// Stored before the call that may create, so a retry adopts it.
		if err := x.inTx(ctx, func(tx ledger.Tx) error { return x.Engine.Resolved(tx, op, target) }); err != nil {
			return err
		}
		op.Target, acct.Ref = target, target
	}
	start := time.Now()
	var ref connectors.Ref
	var cred *connectors.Credential
	switch op.Kind {
	case ledger.KindEnsureAccount:
		ref, cred, err = conn.EnsureAccount(cctx, acct)
	case ledger.KindEnable:
		err = conn.Enable(cctx, acct)
	case ledger.KindDisable:
		err = conn.Disable(cctx, acct)
	case ledger.KindGrant:
		err = conn.Grant(cctx, acct, op.Entitlement)
	case ledger.KindRevoke:
		err = conn.Revoke(cctx, acct, op.Entitlement)
	default:
		err = tilgang.Errorf(tilgang.Invalid, "unknown operation kind %q", op.Kind)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = tilgang.Wrap(tilgang.Unavailable, err, "%s on %s timed out after %s", op.Kind, op.Connector, x.Timeout)
	}
	if err != nil {
		log.Warn("executor: operation failed", "err", err, "kind_of_error", tilgang.KindOf(err), "attempt", op.Attempts, "took", time.Since(start))
		return x.failed(ctx, op, err)
	}
	crashpoint.Here("executor.mid-operation")
	if cred != nil {
		// Sealing and handing out initial credentials arrives with the
		// connectors that create real accounts; until then a new password
		// is dropped here, never logged or stored.
		log.Warn("executor: connector issued an initial credential; it is not handed out by this build", "username", cred.Username)
		clear(cred.Secret)
	}
	return x.inTx(ctx, func(tx ledger.Tx) error { return x.Engine.Done(tx, op, ref) })
}

func (x *Executor) failed(ctx context.Context, op ledger.Operation, cause error) error {
	return x.inTx(ctx, func(tx ledger.Tx) error {
		return x.Engine.Failed(tx, op, fmt.Errorf("%s %s on %s: %w", op.Kind, op.Entitlement, op.Connector, cause))
	})
}
