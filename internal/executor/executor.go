// Package executor runs the due operations of the outbox against the
// connectors. It claims operations with a lease and a fencing token, never
// holds a database transaction across a network call, stores what it
// resolved before the first call that may create something, and records
// each result and the grant's next state in a transaction. Any number of
// executors may run against one ledger.
//
// Results are group-committed: one recorder writes whatever results have
// arrived in one transaction (falling back to one transaction per result
// when that fails), so a burst of joiners costs a few commits, not two per
// operation.
//
// A connector call never outlives its claim: when the claim lapses, another
// executor claims the operation and calls again. A single call gets
// Timeout (creating an account is two calls, resolve and ensure, each with
// its own); a bulk call (connectors.Bulk) one Timeout per 20 accounts, at
// most MaxBulkTimeouts of them, so the config can require the claim lease
// to be longer than that bound (config's validate does). Whatever the
// settings, every call's deadline is also cut to its claim's end, less a
// tenth of the lease left for recording the result. A bulk call is bounded
// rather than its claim extended while it runs: an extension is one more
// write per call that can fail, and a bulk call cut short loses nothing,
// since the accounts it did not reach fail as unavailable and are retried.
//
// A connector instance that serves only so many calls at once
// (connectors.Limited, the ad connector's pool) gets no more than that from
// the executor: an operation beyond it waits for a turn, and its call's
// time starts only when it has one. An operation whose turn comes so late
// that its claim is about to end does not start: it goes back to the queue
// with the attempt its claim counted taken back, so waiting never costs a
// retry.
package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/crashpoint"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// Executor claims and runs operations.
type Executor struct {
	Ledger     ledger.Ledger
	Engine     *engine.Engine
	Connectors connectors.Set
	Log        *slog.Logger
	Holder     string        // this executor's name in claims
	Lease      time.Duration // default 60 s; longer than Timeout
	Workers    int           // operations in flight at once, default 32
	Timeout    time.Duration // per connector call, default 20 s
	// ReleaseOwn returns operations claimed under Holder to the queue at
	// start: for a process that is the only executor and reuses its name.
	ReleaseOwn bool
	// Committed is called after each commit that may have produced events.
	Committed func()
	// Observe, when set, is told each connector call's duration and error.
	Observe func(op ledger.Operation, took time.Duration, err error)
	// ObserveTurn, when set, is told how long each connector call waited
	// for its turn at its instance (connectors.Limited; 0 for an instance
	// without a bound), and whether it then started: false when the turn
	// came too late in the claim and the operation went back to the queue.
	// A bulk call is told once, for its first operation.
	ObserveTurn func(op ledger.Operation, waited time.Duration, started bool)
	// Tracer, when set (telemetry configured), makes each connector call a
	// span, the child of the intake span of the message that planned the
	// operation (the ledger's TraceReader); the connector's own requests
	// are spans below it. Nil: no span, no read.
	Tracer trace.Tracer

	wake     chan struct{}
	once     sync.Once
	inflight atomic.Int64

	runningMu sync.Mutex
	running   map[int64]bool // ids of the operations in flight

	slotsMu sync.Mutex
	slots   map[string]chan struct{} // by connector instance; nil: not limited
	// stopping is Run's context's end: an operation still waiting for its
	// turn then goes back to the queue instead of starting.
	stopping <-chan struct{}
}

// MaxBulkTimeouts bounds a bulk call: it gets one Timeout per 20 accounts,
// from one up to this many Timeouts.
const MaxBulkTimeouts = 2

// bulkTimeout is the time a bulk call for n accounts gets.
func bulkTimeout(timeout time.Duration, n int) time.Duration {
	return timeout * time.Duration(min(1+n/20, MaxBulkTimeouts))
}

// callContext bounds a connector call by d and by the claim's end (less
// the margin left for recording the result).
func (x *Executor) callContext(ctx context.Context, d time.Duration, claimEnd time.Time) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if end := claimEnd.Add(-x.Lease / 10); end.Before(deadline) {
		deadline = end
	}
	return context.WithDeadline(ctx, deadline)
}

// slot is the connector instance's semaphore of calls in flight (its
// MaxInFlight), nil when the instance sets no bound.
func (x *Executor) slot(connector string) chan struct{} {
	x.slotsMu.Lock()
	defer x.slotsMu.Unlock()
	if s, ok := x.slots[connector]; ok {
		return s
	}
	var s chan struct{}
	if l, ok := x.Connectors[connector].(connectors.Limited); ok && l.MaxInFlight() > 0 {
		s = make(chan struct{}, l.MaxInFlight())
	}
	x.slots[connector] = s
	return s
}

// turn waits for a free call on the connector instance of op and returns
// the call's context: d from now (the wait left out), cut to the claim's
// end as callContext does. It reports false, with nothing to release, when
// the turn did not come while the claim had min(d, Lease/4) left before
// that cut, or ctx or Run ended while it waited: the call must not start.
// done ends the call's turn.
func (x *Executor) turn(ctx context.Context, op ledger.Operation, d time.Duration, claimEnd time.Time) (cctx context.Context, done func(), ok bool) {
	start := time.Now()
	defer func() {
		if x.ObserveTurn != nil {
			x.ObserveTurn(op, time.Since(start), ok)
		}
	}()
	latest := claimEnd.Add(-x.Lease/10 - min(d, x.Lease/4))
	slot := x.slot(op.Connector)
	if slot != nil {
		select {
		case slot <- struct{}{}:
		default:
			t := time.NewTimer(time.Until(latest))
			select {
			case slot <- struct{}{}:
				t.Stop()
			case <-t.C:
				return nil, nil, false
			case <-ctx.Done():
				t.Stop()
				return nil, nil, false
			case <-x.stopping:
				t.Stop()
				return nil, nil, false
			}
		}
	}
	free := func() {
		if slot != nil {
			<-slot
		}
	}
	if time.Now().After(latest) || ctx.Err() != nil {
		free()
		return nil, nil, false
	}
	cctx, cancel := x.callContext(ctx, d, claimEnd)
	return cctx, func() { cancel(); free() }, true
}

// notStarted gives an operation whose turn came too late (or that was
// still waiting at shutdown) back to the queue.
func (x *Executor) notStarted(op ledger.Operation) record {
	x.log(op).Info("executor: no turn on the connector instance before the claim's end or shutdown; the operation goes back to the queue")
	return record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.NotStarted(tx, op) }}
}

// errNotStarted ends the span of a call that did not start.
var errNotStarted = errors.New("not started: no free call on the connector instance before the claim ends")

func (x *Executor) init() {
	x.once.Do(func() {
		x.wake = make(chan struct{}, 1)
		if x.Timeout == 0 {
			x.Timeout = 20 * time.Second
		}
		if x.Lease == 0 {
			x.Lease = 3 * x.Timeout
		}
		if x.Workers == 0 {
			x.Workers = 32
		}
		x.running = map[int64]bool{}
		x.slots = map[string]chan struct{}{}
	})
}

// InFlight lists the ids of the operations in flight, in id order.
func (x *Executor) InFlight() []int64 {
	x.init()
	x.runningMu.Lock()
	defer x.runningMu.Unlock()
	ids := make([]int64, 0, len(x.running))
	for id := range x.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (x *Executor) track(ops []ledger.Operation, on bool) {
	x.runningMu.Lock()
	defer x.runningMu.Unlock()
	for _, op := range ops {
		if on {
			x.running[op.ID] = true
		} else {
			delete(x.running, op.ID)
		}
	}
}

// Wake tells the executor that new work may be due. It never blocks.
func (x *Executor) Wake() {
	x.init()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// record is one write the recorder makes for a worker.
type record struct {
	op    ledger.Operation
	apply func(tx ledger.Tx) error
	reply chan error // nil when nobody waits
}

// Run claims and runs operations until ctx ends; operations in flight then
// finish (each call is bounded by Timeout) and their results are recorded.
func (x *Executor) Run(ctx context.Context) error {
	return x.RunUntil(ctx, context.WithoutCancel(ctx))
}

// RunUntil is Run, except that when abort ends (a shutdown limit passed),
// the connector calls and result commits still in flight are cancelled:
// their claims lapse and the operations run again, as after a crash. A
// connector call that ignores its context keeps RunUntil from returning.
func (x *Executor) RunUntil(ctx, abort context.Context) error {
	x.init()
	if x.ReleaseOwn {
		if n, err := x.Ledger.ReleaseClaims(ctx, x.Holder); err != nil {
			return err
		} else if n > 0 {
			x.Log.Info("executor: released the claims of the previous run", "operations", n)
		}
	}
	bg := abort
	x.stopping = ctx.Done()
	records := make(chan record, 4*x.Workers)
	recDone := make(chan struct{})
	go func() { defer close(recDone); x.recorder(bg, records) }()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(records)
		<-recDone
	}()
	for ctx.Err() == nil {
		free := x.Workers - int(x.inflight.Load())
		var ops []ledger.Operation
		// Claim when a quarter of the workers are free (or all are): each
		// claim reads the queue, and one per finished operation would read
		// it for every operation.
		// The claims end a lease after this at the earliest (by the clock
		// the calls' deadlines use).
		claimEnd := time.Now().Add(x.Lease)
		if free > 0 && (free >= max(1, x.Workers/4) || free == x.Workers) {
			var err error
			ops, err = x.Ledger.Claim(ctx, x.Holder, x.Engine.Now(), x.Lease, free)
			if err != nil && ctx.Err() == nil {
				x.Log.Warn("executor: claim failed", "err", err)
			}
		}
		ops = x.traced(ctx, ops, records)
		pre := x.prefetch(ctx, ops)
		if pre != nil || x.Tracer != nil {
			if pre == nil {
				pre = &known{}
			}
			pre.traces = x.traces(ctx, ops)
		}
		singles, bulks := x.bulkGroups(ops)
		for _, op := range singles {
			x.inflight.Add(1)
			wg.Add(1)
			x.track([]ledger.Operation{op}, true)
			go func(op ledger.Operation) {
				defer func() { x.track([]ledger.Operation{op}, false); x.inflight.Add(-1); wg.Done(); x.Wake() }()
				x.work(bg, op, records, pre, claimEnd)
			}(op)
		}
		for _, group := range bulks {
			n := int64(len(group))
			x.inflight.Add(n)
			wg.Add(1)
			x.track(group, true)
			go func() {
				defer func() { x.track(group, false); x.inflight.Add(-n); wg.Done(); x.Wake() }()
				x.bulk(bg, group, records, pre, claimEnd)
			}()
		}
		if len(ops) > 0 && len(ops) == free {
			continue
		}
		// With work in flight, its results wake the loop; only an idle
		// executor needs to know when the next operation falls due.
		wait := time.Second
		if len(ops) == 0 && x.inflight.Load() == 0 {
			if next, err := x.Ledger.NextDue(ctx); err == nil && !next.IsZero() {
				if d := time.Until(next); d < wait {
					wait = max(d, 5*time.Millisecond)
				}
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

// traced returns the operations the audit chain records as planned by
// tilgang (ledger.Untraced); any other (a row put in the outbox behind the
// ledger's back, or edited there) is not run: it fails at once, with an
// error logged. When the chain cannot be read none runs now, and their
// claims lapse.
func (x *Executor) traced(ctx context.Context, ops []ledger.Operation, out chan<- record) []ledger.Operation {
	if len(ops) == 0 {
		return ops
	}
	bad, err := x.Ledger.Untraced(ctx, ops)
	if err != nil {
		x.Log.Warn("executor: cannot read the chain rows of the claimed operations; their claims lapse and they run later", "err", err)
		return nil
	}
	kept := ops[:0:0]
	for _, op := range ops {
		if problem, ok := bad[op.ID]; ok {
			x.log(op).Error("executor: refusing an operation the audit chain does not record", "problem", problem)
			out <- x.fail(op, tilgang.Errorf(tilgang.Invalid, "not run: %s", problem))
			continue
		}
		kept = append(kept, op)
	}
	return kept
}

// recorder commits what workers send, as many as have arrived at once.
func (x *Executor) recorder(ctx context.Context, in <-chan record) {
	for r := range in {
		batch := []record{r}
	more:
		for len(batch) < 256 {
			select {
			case r, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		// In operation id order, as every transaction takes its row locks:
		// two writers then wait for each other instead of deadlocking.
		slices.SortStableFunc(batch, func(a, b record) int { return cmp.Compare(a.op.ID, b.op.ID) })
		x.commit(ctx, batch)
		x.Wake()
	}
}

func (x *Executor) commit(ctx context.Context, batch []record) {
	err := x.inTx(ctx, func(tx ledger.Tx) error {
		// The batch's people in a few statements, not a few per result.
		persons := make([]string, 0, len(batch))
		for _, r := range batch {
			persons = append(persons, r.op.Person)
		}
		if err := ledger.Preload(tx, persons, nil); err != nil {
			return err
		}
		for _, r := range batch {
			if err := r.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, r := range batch {
			if r.reply != nil {
				r.reply <- nil
			}
		}
		return
	}
	if len(batch) > 1 {
		x.Log.Debug("executor: batch not recorded; one transaction per result", "size", len(batch), "err", err)
	}
	for _, r := range batch {
		if len(batch) > 1 {
			err = x.inTx(ctx, func(tx ledger.Tx) error {
				if err := ledger.Preload(tx, []string{r.op.Person}, nil); err != nil {
					return err
				}
				return r.apply(tx)
			})
		}
		switch {
		case err == nil:
		case tilgang.KindOf(err) == tilgang.Conflict:
			x.log(r.op).Warn("executor: claim lost to another executor; its result is dropped", "err", err)
		default:
			// The claim lapses and the operation is claimed again.
			x.log(r.op).Error("executor: cannot record the operation", "err", err)
		}
		if r.reply != nil {
			r.reply <- err
		}
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

// work runs one operation and sends its result to the recorder.
func (x *Executor) work(ctx context.Context, op ledger.Operation, out chan<- record, pre *known, claimEnd time.Time) {
	switch {
	case op.Connector == ledger.Internal:
		out <- record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.RunInternal(tx, op) }}
	case x.Engine.IsManual(op.Connector):
		out <- record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.Waiting(tx, op) }}
	default:
		x.call(ctx, op, out, pre, claimEnd)
	}
}

// known holds the people and accounts of a claim's operations, read in
// two statements; what it lacks is read on its own.
type known struct {
	people   map[string]*ledger.PersonRow
	accounts map[[2]string]*ledger.AccountRow
	traces   map[uint64]ledger.TraceContext // by stream sequence; nil without a Tracer
}

// traces reads the trace contexts of the operations' messages; nil
// without a Tracer or when they cannot be read (the calls are then traced
// on their own).
func (x *Executor) traces(ctx context.Context, ops []ledger.Operation) map[uint64]ledger.TraceContext {
	r, ok := x.Ledger.(ledger.TraceReader)
	if x.Tracer == nil || !ok || len(ops) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(ops))
	for _, op := range ops {
		if op.Seq != 0 && !slices.Contains(seqs, op.Seq) {
			seqs = append(seqs, op.Seq)
		}
	}
	tcs, err := r.Traces(ctx, seqs)
	if err != nil {
		x.Log.Warn("executor: cannot read trace contexts; the calls are traced on their own", "err", err)
		return nil
	}
	return tcs
}

// startSpan opens the span of a connector call on ops (one, or a bulk
// call's), the child of the first one's message's intake span and linked
// to the others'; ctx and no span without a Tracer.
func (x *Executor) startSpan(ctx context.Context, pre *known, ops []ledger.Operation) (context.Context, trace.Span) {
	if x.Tracer == nil {
		return ctx, nil
	}
	var tcs map[uint64]ledger.TraceContext
	if pre != nil {
		tcs = pre.traces
	}
	op := ops[0]
	parent := ctx
	if tc, ok := tcs[op.Seq]; ok {
		parent = telemetry.Incoming(ctx, tc.TraceParent, tc.TraceState)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		attribute.String("tilgang.connector", op.Connector), attribute.String("tilgang.operation_kind", op.Kind),
		attribute.String("tilgang.entitlement", op.Entitlement), attribute.Int64("tilgang.operation_id", op.ID),
		attribute.Int("tilgang.attempt", op.Attempts+1), attribute.Int("tilgang.operations", len(ops)))}
	for _, o := range ops[1:] {
		if tc, ok := tcs[o.Seq]; ok {
			if sc := telemetry.Parse(tc.TraceParent, tc.TraceState); sc.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
			}
		}
	}
	return x.Tracer.Start(parent, "connector "+op.Kind, opts...)
}

// endSpan ends a call's span (nil: none).
func endSpan(span trace.Span, err error) {
	if span != nil {
		telemetry.End(span, err)
	}
}

// prefetch reads the people and accounts of the claimed operations that
// call a connector; nil when there are none or the read failed.
func (x *Executor) prefetch(ctx context.Context, ops []ledger.Operation) *known {
	var ids []string
	for _, op := range ops {
		if op.Connector != ledger.Internal && !x.Engine.IsManual(op.Connector) && !slices.Contains(ids, op.Person) {
			ids = append(ids, op.Person)
		}
	}
	if len(ids) < 2 {
		return nil
	}
	people, accts, err := x.Ledger.People(ctx, ids)
	if err != nil {
		return nil
	}
	k := &known{people: map[string]*ledger.PersonRow{}, accounts: map[[2]string]*ledger.AccountRow{}}
	for _, id := range ids {
		k.people[id] = people[id] // nil: read, and there is no record
	}
	for i := range accts {
		k.accounts[[2]string{accts[i].Person, accts[i].Connector}] = &accts[i]
	}
	return k
}

// person is the operation's person, from the claim's read when it has it.
func (x *Executor) person(ctx context.Context, pre *known, id string) (*ledger.PersonRow, error) {
	if pre != nil {
		if p, ok := pre.people[id]; ok {
			return p, nil
		}
	}
	return x.Ledger.Person(ctx, id)
}

// account is the person's account on the connector, likewise.
func (x *Executor) account(ctx context.Context, pre *known, person, connector string) (*ledger.AccountRow, error) {
	if pre != nil {
		if _, read := pre.people[person]; read {
			return pre.accounts[[2]string{person, connector}], nil
		}
	}
	return x.Ledger.Account(ctx, person, connector)
}

func (x *Executor) fail(op ledger.Operation, cause error) record {
	err := fmt.Errorf("%s %s on %s: %w", op.Kind, op.Entitlement, op.Connector, cause)
	return record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.Failed(tx, op, err) }}
}

// call runs a connector operation.
func (x *Executor) call(ctx context.Context, op ledger.Operation, out chan<- record, pre *known, claimEnd time.Time) {
	log := x.log(op)
	conn, ok := x.Connectors[op.Connector]
	if !ok {
		out <- x.fail(op, tilgang.Errorf(tilgang.Invalid, "no connector instance %q is configured", op.Connector))
		return
	}
	person, err := x.person(ctx, pre, op.Person)
	if err != nil {
		log.Warn("executor: cannot read the person; the claim lapses and it runs again", "err", err)
		return
	}
	if person == nil {
		out <- x.fail(op, tilgang.Errorf(tilgang.NotFound, "no HR record for %s", op.Person))
		return
	}
	// The record as in effect now: a change HR recorded ahead shows on its date.
	acct := connectors.Account{Person: person.Person.At(x.Engine.Now()), Ref: op.Target, Disabled: op.Disabled}
	if acct.Ref == nil {
		a, err := x.account(ctx, pre, op.Person, op.Connector)
		if err != nil {
			log.Warn("executor: cannot read the account; the claim lapses and it runs again", "err", err)
			return
		}
		if a != nil {
			acct.Ref = a.Ref
		}
	}
	// The span covers the waits for a turn as well as the calls.
	sctx, span := x.startSpan(ctx, pre, []ledger.Operation{op})
	defer func() { endSpan(span, err) }()
	if op.Kind == ledger.KindEnsureAccount && op.Target == nil {
		cctx, done, ok := x.turn(sctx, op, x.Timeout, claimEnd)
		if !ok {
			err = errNotStarted
			out <- x.notStarted(op)
			return
		}
		var target connectors.Ref
		target, err = conn.Resolve(cctx, acct.Person, acct.Ref)
		done()
		if errors.Is(err, context.DeadlineExceeded) {
			err = tilgang.Wrap(tilgang.Unavailable, err, "resolve on %s timed out after %s", op.Connector, x.Timeout)
		}
		if err != nil {
			out <- x.fail(op, err)
			return
		}
		// Stored before the call that may create, so a retry adopts it.
		reply := make(chan error, 1)
		resolved := op
		out <- record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.Resolved(tx, resolved, target) }, reply: reply}
		if err := <-reply; err != nil {
			return
		}
		op.Target, acct.Ref = target, target
	}
	cctx, done, ok := x.turn(sctx, op, x.Timeout, claimEnd)
	if !ok {
		err = errNotStarted
		out <- x.notStarted(op)
		return
	}
	defer done()
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
	if x.Observe != nil {
		x.Observe(op, time.Since(start), err)
	}
	if err != nil {
		log.Warn("executor: operation failed", "err", err, "error_kind", tilgang.KindOf(err), "attempt", op.Attempts, "took", time.Since(start))
		out <- x.fail(op, err)
		return
	}
	crashpoint.Here("executor.mid-operation")
	out <- record{op: op, apply: func(tx ledger.Tx) error {
		if cred != nil {
			if err := x.Engine.Credential(tx, op, cred); err != nil {
				return err
			}
		}
		return x.Engine.Done(tx, op, ref)
	}}
}

// bulkGroups sets apart the grants and revokes of one entitlement on a
// connector that changes many memberships at once (connectors.Bulk): a
// school-year onboarding's thousand adds to one group go out as a few
// requests, not a thousand.
func (x *Executor) bulkGroups(ops []ledger.Operation) (singles []ledger.Operation, groups [][]ledger.Operation) {
	type key struct{ connector, kind, entitlement string }
	byKey := map[key][]ledger.Operation{}
	var order []key
	for _, op := range ops {
		_, bulk := x.Connectors[op.Connector].(connectors.Bulk)
		if !bulk || (op.Kind != ledger.KindGrant && op.Kind != ledger.KindRevoke) {
			singles = append(singles, op)
			continue
		}
		k := key{op.Connector, op.Kind, op.Entitlement}
		if _, seen := byKey[k]; !seen {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	for _, k := range order {
		if g := byKey[k]; len(g) == 1 {
			singles = append(singles, g[0])
		} else {
			groups = append(groups, g)
		}
	}
	return singles, groups
}

// bulk runs one entitlement's grants (or revokes) in one call and records
// each result on its own.
func (x *Executor) bulk(ctx context.Context, ops []ledger.Operation, out chan<- record, pre *known, claimEnd time.Time) {
	conn := x.Connectors[ops[0].Connector].(connectors.Bulk)
	var accounts []connectors.Account
	var ready []ledger.Operation
	for _, op := range ops {
		person, err := x.person(ctx, pre, op.Person)
		if err != nil {
			x.log(op).Warn("executor: cannot read the person; the claim lapses and it runs again", "err", err)
			continue
		}
		if person == nil {
			out <- x.fail(op, tilgang.Errorf(tilgang.NotFound, "no HR record for %s", op.Person))
			continue
		}
		a := connectors.Account{Person: person.Person.At(x.Engine.Now()), Ref: op.Target}
		if a.Ref == nil {
			acct, err := x.account(ctx, pre, op.Person, op.Connector)
			if err != nil {
				x.log(op).Warn("executor: cannot read the account; the claim lapses and it runs again", "err", err)
				continue
			}
			if acct != nil {
				a.Ref = acct.Ref
			}
		}
		accounts = append(accounts, a)
		ready = append(ready, op)
	}
	if len(ready) == 0 {
		return
	}
	var errs []error
	sctx, span := x.startSpan(ctx, pre, ready)
	defer func() { endSpan(span, errors.Join(errs...)) }()
	cctx, done, ok := x.turn(sctx, ready[0], bulkTimeout(x.Timeout, len(ready)), claimEnd)
	if !ok {
		errs = []error{errNotStarted}
		for _, op := range ready {
			out <- x.notStarted(op)
		}
		return
	}
	defer done()
	start := time.Now()
	if ready[0].Kind == ledger.KindGrant {
		errs = conn.GrantMany(cctx, accounts, ready[0].Entitlement)
	} else {
		errs = conn.RevokeMany(cctx, accounts, ready[0].Entitlement)
	}
	took := time.Since(start)
	for i, op := range ready {
		err := errs[i]
		if errors.Is(err, context.DeadlineExceeded) {
			err = tilgang.Wrap(tilgang.Unavailable, err, "%s on %s timed out", op.Kind, op.Connector)
		}
		if x.Observe != nil {
			x.Observe(op, took, err)
		}
		if err != nil {
			out <- x.fail(op, err)
			continue
		}
		out <- record{op: op, apply: func(tx ledger.Tx) error { return x.Engine.Done(tx, op, nil) }}
	}
}
