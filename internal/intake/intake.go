// Package intake reads messages in from JetStream and commits them to the
// ledger through the engine: a batch in one transaction, falling back to
// one transaction per message when the batch fails. Messages are
// acknowledged only after their transaction commits, so a crash at any
// point redelivers them and the ledger's idempotency key makes the repeat a
// no-op. A message that still fails on its last delivery is recorded as
// rejected with the error and terminated, never left undelivered.
//
// Messages flow through two stages: while one batch commits, the next is
// collected from what JetStream has delivered and verified on every core.
// A batch is whatever is waiting, up to Batch messages, so a message that
// arrives at an idle intake is committed at once, and under load batches
// grow. Batches commit one after another, in stream order.
//
// Every transaction first checks that the engine decides with the
// catalogue the ledger holds in force (Intake.Catalogue); a batch is never
// decided with a stale one.
//
// Only this package acks, naks or terminates messages.
package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/crashpoint"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// Intake is the single active reader of the intake consumer.
type Intake struct {
	Consumer jetstream.Consumer
	Ledger   ledger.Ledger
	Engine   *engine.Engine
	Log      *slog.Logger
	// Batch is the most messages committed at once (default and at most
	// streams.MaxBatch).
	Batch int
	// Committed is called after each commit (wakes the executor and the
	// publisher); it must not block.
	Committed func()
	// Partitions is how many transactions a batch is split into, by
	// person, committed side by side (default 1). Use more on PostgreSQL.
	Partitions int
	// Fence, when set, is called last in every transaction, before the commit: it extends the
	// intake lease and fails when this replica no longer holds it.
	Fence func(tx ledger.Tx) error
	// Observe, when set, is told each message's outcome.
	Observe func(in engine.Input, out engine.Outcome, meta *jetstream.MsgMetadata)
	// Catalogue, when set, is called first in every transaction that
	// applies messages: it makes the engine decide with the catalogue the
	// ledger holds in force (one small read; loading it when the engine has
	// another), and fails when that cannot be loaded here. No batch is
	// decided with a stale catalogue: on such a failure the batch is handed
	// back, Run returns the error, and the lease goes to a replica that may
	// load it. A failure of kind Unavailable is the ledger's and is waited
	// out like any other.
	Catalogue func(tx ledger.Tx) error
	// Tracer, when set (telemetry configured), opens a span for each
	// message as the child of its sender's traceparent, and keeps the
	// span's context in the ledger for the operations the message leads
	// to. Nil: no span, nothing kept.
	Tracer trace.Tracer
}

// commitGrace is how long a transaction under way may still take to
// finish after Run's context ends.
const commitGrace = 5 * time.Second

// Run consumes until ctx ends, and returns nil then. It returns an error
// when this replica lost the intake lease (a commit's Fence failed) or
// JetStream stopped delivering (the consumer was deleted, the connection
// closed); either way, what it held and did not commit is handed back.
func (in *Intake) Run(ctx context.Context) error {
	batch := in.Batch
	if batch <= 0 || batch > streams.MaxBatch {
		batch = streams.MaxBatch
	}
	info := in.Consumer.CachedInfo()
	ackWait, room := streams.DefaultAckWait, streams.MaxAckPending
	if info != nil {
		if info.Config.AckWait > 0 {
			ackWait = info.Config.AckWait
		}
		room = max(room, info.Config.MaxAckPending)
	}

	// stop ends consuming: when ctx ends, the lease is lost, or JetStream
	// stopped delivering.
	stop, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	h := &held{msgs: map[jetstream.Msg]time.Time{}}
	// The handler runs on the connection's delivery goroutine: it only
	// queues. The queue has room for every message the consumer lets this
	// reader hold, so it does not wait.
	queue := make(chan jetstream.Msg, room)
	var lastErr errBox
	cc, err := in.Consumer.Consume(func(m jetstream.Msg) {
		h.add(m)
		select {
		case queue <- m:
		case <-stop.Done():
		}
	}, jetstream.PullMaxMessages(streams.PullMaxMessages), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		lastErr.set(err)
		if stop.Err() == nil {
			in.Log.Warn("intake: consuming", "err", err)
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Nothing more comes: stop, and let the consumer be ensured again.
			halt(fmt.Errorf("intake: JetStream stopped delivering: %w", err))
		}
	}))
	if err != nil {
		return fmt.Errorf("intake: consume: %w", err)
	}

	alive, stopAlive := context.WithCancel(context.Background())
	defer stopAlive()
	go h.keepAlive(alive, ackWait)
	ready := make(chan []item, 1)
	var collector sync.WaitGroup
	collector.Add(1)
	go func() { defer collector.Done(); in.collect(stop, queue, ready, batch, h) }()
	go func() {
		select {
		case <-cc.Closed():
			halt(fmt.Errorf("intake: JetStream stopped delivering: %w", lastErr.get()))
		case <-stop.Done():
		}
	}()

	// A transaction under way finishes even when ctx ends, within
	// commitGrace; waiting (for the ledger, between tries) ends with stop.
	txCtx, cancelTx := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTx()
	go func() {
		select {
		case <-ctx.Done():
			t := time.NewTimer(commitGrace)
			defer t.Stop()
			select {
			case <-t.C:
				cancelTx()
			case <-txCtx.Done():
			}
		case <-txCtx.Done():
		}
	}()

	var lost error
	for lost == nil {
		var items []item
		select {
		case items = <-ready:
		case <-stop.Done():
		}
		if stop.Err() != nil {
			break
		}
		lost = in.process(stop, txCtx, items)
		h.remove(items)
	}
	halt(lost)
	cc.Stop()
	select {
	case <-cc.Closed():
	case <-time.After(5 * time.Second):
		in.Log.Warn("intake: JetStream delivery did not stop in 5 s")
	}
	collector.Wait()
	h.returnAll(in.Log)
	stopAlive()
	if lost != nil {
		return fmt.Errorf("intake: %w", lost)
	}
	if ctx.Err() != nil {
		return nil
	}
	return context.Cause(stop)
}

type item struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	in   engine.Input
	out  engine.Outcome
	span trace.Span // nil without a Tracer
}

// startSpan opens the message's intake span, the child of the span its
// sender named (a new trace when it named none or the document could not
// be read). Ids only: no person or free text goes to the collector.
func (in *Intake) startSpan(it *item) {
	ctx, name := context.Background(), "intake message"
	attrs := []attribute.KeyValue{attribute.String("messaging.system", "nats"),
		attribute.Int64("tilgang.stream_seq", int64(it.meta.Sequence.Stream))}
	if e := it.in.Env; e != nil {
		ctx = telemetry.Incoming(ctx, e.TraceParent, e.TraceState)
		name = "intake " + e.Type
		attrs = append(attrs, attribute.String("tilgang.type", e.Type), attribute.String("tilgang.request_id", e.Key()))
	}
	_, it.span = in.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// endSpans ends the items' spans with what became of them.
func endSpans(items []item, outcome string, err error) {
	for i := range items {
		if sp := items[i].span; sp != nil {
			o := outcome
			if o == "" {
				o = string(items[i].out)
			}
			sp.SetAttributes(attribute.String("tilgang.outcome", o))
			telemetry.End(sp, err)
			items[i].span = nil
		}
	}
}

// keepTraces stores the context of each sampled intake span by stream
// sequence, in the message's transaction, for the executor.
func (in *Intake) keepTraces(tx ledger.Tx, items []item) error {
	tw, ok := tx.(ledger.TraceWriter)
	if !ok || in.Tracer == nil {
		return nil
	}
	for i := range items {
		sp := items[i].span
		if sp == nil || !sp.SpanContext().IsSampled() || items[i].out != engine.Accepted {
			continue
		}
		tp, ts := telemetry.Format(sp.SpanContext())
		if err := tw.PutTrace(items[i].meta.Sequence.Stream, ledger.TraceContext{TraceParent: tp, TraceState: ts}); err != nil {
			return err
		}
	}
	return nil
}

// collect takes the first message waiting (waiting for one), then whatever
// else is already waiting up to batch, decodes and verifies them, and hands
// them to the committer, in delivery order, until stop ends.
func (in *Intake) collect(stop context.Context, queue <-chan jetstream.Msg, ready chan<- []item, batch int, h *held) {
	for {
		var first jetstream.Msg
		select {
		case first = <-queue:
		case <-stop.Done():
			return
		}
		msgs := append(make([]jetstream.Msg, 0, batch), first)
	drain:
		for len(msgs) < batch {
			select {
			case m := <-queue:
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		items := in.decode(msgs, h)
		if len(items) == 0 {
			continue
		}
		select {
		case ready <- items:
		case <-stop.Done():
			return
		}
	}
}

// decode reads the messages' metadata, decodes them and checks their
// signatures. Decoding and signature checks need no ledger: they are done
// on every core while the batch before commits.
func (in *Intake) decode(msgs []jetstream.Msg, h *held) []item {
	items := make([]item, 0, len(msgs))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			in.Log.Error("intake: message without metadata; terminated", "subject", m.Subject(), "err", err)
			_ = m.TermWithReason("no metadata")
			h.remove([]item{{msg: m}})
			continue
		}
		items = append(items, item{msg: m, meta: meta})
	}
	workers := min(runtime.GOMAXPROCS(0), len(items))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(items); i += workers {
				it := &items[i]
				it.in = engine.Decode(it.msg.Subject(), it.msg.Data(), it.meta.Sequence.Stream)
				if in.Tracer != nil {
					in.startSpan(it)
				}
				in.Engine.Check(&it.in)
			}
		}(w)
	}
	wg.Wait()
	return items
}

// process commits a batch, split by person into partitions committed side
// by side. It returns an error only when the lease was lost (the items not
// committed were handed back).
func (in *Intake) process(ctx, txCtx context.Context, items []item) error {
	parts := in.partition(items)
	if len(parts) == 1 {
		return in.apply(ctx, txCtx, items)
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = in.apply(ctx, txCtx, p) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// partition splits a batch by person into at most Partitions groups, each
// in stream order: one person's messages stay in one transaction, in
// order, while different people's are committed side by side (on
// PostgreSQL; SQLite has one writer, so it keeps one partition).
func (in *Intake) partition(items []item) [][]item {
	n := min(in.Partitions, len(items))
	if n <= 1 {
		return [][]item{items}
	}
	parts := make([][]item, n)
	for _, it := range items {
		h := fnv.New32a()
		h.Write([]byte(personOf(it)))
		k := int(h.Sum32() % uint32(n))
		parts[k] = append(parts[k], it)
	}
	out := parts[:0]
	for _, p := range parts {
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// personOf is the person a message is about: its subject's last token.
func personOf(it item) string {
	if it.in.Env != nil {
		return it.in.Env.Subject
	}
	s := it.msg.Subject()
	return s[strings.LastIndexByte(s, '.')+1:]
}

// apply commits the items in stream order. Nothing is handed back to
// JetStream to be redelivered later, since a later message would overtake
// it: a batch that fails is retried here (while the ledger is down, until
// it answers; after a deadlock or serialization failure, a few times),
// then applied one message at a time, and a message that still fails after
// a few tries is recorded as rejected with its error and terminated. Only a
// lost lease hands the items back, and apply returns that error: the
// replica that holds the lease now resumes from the ack floor, in order.
// When ctx ends, what is not committed by then is handed back too.
//
// Transactions run in txCtx; waiting for the ledger and between tries ends
// with ctx.
func (in *Intake) apply(ctx, txCtx context.Context, items []item) error {
	err := in.commit(txCtx, items)
	for retry := 0; err != nil && ctx.Err() == nil; {
		if in.ledgerDown(ctx, err) {
			if !in.holdUntilLedger(ctx, items) {
				return nil
			}
		} else if len(items) > 1 && retry < len(batchRetries) && tilgang.KindOf(err) == tilgang.Unavailable && !isLost(err) {
			// The ledger answers, so the batch met another transaction
			// (a deadlock or serialization failure on PostgreSQL): it
			// likely goes through as a whole on a second try.
			sleep(ctx, batchRetries[retry])
			retry++
		} else {
			break
		}
		err = in.commit(txCtx, items)
	}
	if err == nil {
		in.done(items)
		return nil
	}
	if lost := in.handBack(items, err); lost != nil {
		return lost
	}
	if in.stopping(ctx, items) {
		return nil
	}
	if len(items) > 1 {
		in.Log.Warn("intake: batch failed; one transaction per message", "size", len(items), "err", err)
	}
	for i := range items {
		one := items[i : i+1]
		if len(items) > 1 {
			err = in.commit(txCtx, one)
		}
		for try := 1; err != nil && try < maxTries; try++ {
			if lost := in.handBack(items[i:], err); lost != nil {
				return lost
			}
			if in.stopping(ctx, items[i:]) {
				return nil
			}
			if in.ledgerDown(ctx, err) {
				if !in.holdUntilLedger(ctx, items[i:]) {
					return nil
				}
				try--
			} else {
				in.Log.Warn("intake: message not committed; trying again", "subject", items[i].msg.Subject(),
					"seq", items[i].meta.Sequence.Stream, "try", try, "err", err)
				sleep(ctx, time.Duration(try)*200*time.Millisecond)
			}
			err = in.commit(txCtx, one)
		}
		if err == nil {
			in.done(one)
			continue
		}
		if lost := in.handBack(items[i:], err); lost != nil {
			return lost
		}
		if in.stopping(ctx, items[i:]) {
			return nil
		}
		in.reject(txCtx, &items[i], err)
	}
	return nil
}

// maxTries bounds the attempts at one message that keeps failing while the
// ledger is up: then it is recorded as rejected, never left undelivered.
const maxTries = 4

// batchRetries are the pauses before a failed batch is tried again as a
// whole when the ledger reports it unavailable but still answers.
var batchRetries = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}

// handBack returns the items to JetStream when this replica lost the
// intake lease or cannot load the catalogue in force; it returns that
// error, nil when err is another.
func (in *Intake) handBack(items []item, err error) error {
	var lost *leaseLost
	var stale *staleCatalogue
	var stop error
	switch {
	case errors.As(err, &lost):
		in.Log.Warn("intake: lease lost; returning the batch", "size", len(items), "err", err)
		stop = lost
	case errors.As(err, &stale):
		in.Log.Error("intake: the catalogue in force cannot be loaded on this replica; returning the batch undecided and stopping",
			"size", len(items), "err", err)
		stop = stale
	default:
		return nil
	}
	for _, it := range items {
		_ = it.msg.Nak()
	}
	endSpans(items, "handed back", err)
	return stop
}

func isLost(err error) bool {
	var lost *leaseLost
	return errors.As(err, &lost)
}

// stopping hands the items back when ctx ended (they are not tried again
// or rejected on the way out); it reports whether it did.
func (in *Intake) stopping(ctx context.Context, items []item) bool {
	if ctx.Err() == nil {
		return false
	}
	for _, it := range items {
		_ = it.msg.Nak()
	}
	endSpans(items, "handed back", nil)
	return true
}

// ledgerDown reports whether err means the ledger itself is unavailable
// (it does not answer a read either), not this message.
func (in *Intake) ledgerDown(ctx context.Context, err error) bool {
	if tilgang.KindOf(err) != tilgang.Unavailable || ctx.Err() != nil {
		return false
	}
	_, herr := in.Ledger.Head(ctx)
	return herr != nil
}

// holdUntilLedger keeps the items until the ledger answers again (the
// keep-alive tells JetStream they are in progress); false when ctx ended
// (the items are then handed back).
func (in *Intake) holdUntilLedger(ctx context.Context, items []item) bool {
	in.Log.Warn("intake: the ledger is unavailable; holding the batch until it answers", "size", len(items))
	for d := 500 * time.Millisecond; ; d = min(2*d, 5*time.Second) {
		sleep(ctx, d)
		if in.stopping(ctx, items) {
			return false
		}
		if _, err := in.Ledger.Head(ctx); err == nil {
			in.Log.Info("intake: the ledger answers again")
			return true
		}
	}
}

// commit applies the items in one transaction.
func (in *Intake) commit(ctx context.Context, items []item) error {
	tx, err := in.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	if in.Catalogue != nil {
		if err := in.Catalogue(tx); err != nil {
			tx.Rollback()
			if tilgang.KindOf(err) == tilgang.Unavailable {
				return err
			}
			return &staleCatalogue{err}
		}
	}
	ins := make([]engine.Input, len(items))
	for i := range items {
		ins[i] = items[i].in
	}
	if err := in.Engine.Prefetch(tx, ins); err != nil {
		tx.Rollback()
		return fmt.Errorf("prefetch: %w", err)
	}
	for i := range items {
		if i == len(items)/2 {
			crashpoint.Here("intake.mid-batch")
			crashpoint.Pause("intake.mid-batch")
		}
		out, err := in.Engine.Apply(tx, items[i].in)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("seq %d: %w", items[i].meta.Sequence.Stream, err)
		}
		items[i].out = out
	}
	if err := in.keepTraces(tx, items); err != nil {
		tx.Rollback()
		return fmt.Errorf("keep trace contexts: %w", err)
	}
	// The rows are written first; the lease is checked (and extended) last,
	// so its row is locked only for the commit (the chain's few rows):
	// partitions write side by side, and a replica that lost the lease
	// meanwhile cannot commit what it applied.
	if err := ledger.Flush(tx); err != nil {
		tx.Rollback()
		return err
	}
	if in.Fence != nil {
		if err := in.Fence(tx); err != nil {
			tx.Rollback()
			return &leaseLost{err}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	crashpoint.Here("intake.after-commit")
	return nil
}

// done acknowledges committed messages.
func (in *Intake) done(items []item) {
	for _, it := range items {
		if err := it.msg.Ack(); err != nil {
			// The commit stands; a redelivery will be a duplicate.
			in.Log.Warn("intake: ack failed", "seq", it.meta.Sequence.Stream, "err", err)
		}
		if in.Observe != nil {
			in.Observe(it.in, it.out, it.meta)
		}
		if it.out == engine.Rejected || it.out == engine.Conflict {
			in.Log.Info("intake: message rejected", "subject", it.msg.Subject(), "seq", it.meta.Sequence.Stream, "outcome", it.out)
		}
	}
	endSpans(items, "", nil)
	if in.Committed != nil {
		in.Committed()
	}
}

// reject records a message that could not be committed as rejected with
// the error, then terminates it.
func (in *Intake) reject(ctx context.Context, it *item, cause error) {
	reason := fmt.Sprintf("not applied after %d tries: %v", maxTries, cause)
	defer func() { endSpans([]item{*it}, "not applied", cause); it.span = nil }()
	// Under its own key first, so a copy still on its way is a duplicate;
	// when that cannot be written either, under its bytes.
	err := in.fenced(ctx, func(tx ledger.Tx) error {
		_, err := in.Engine.RejectUnapplied(tx, it.in, reason)
		return err
	})
	if err != nil {
		failed := it.in
		failed.Env, failed.DecodeErr, failed.ByBytes = nil, errors.New(reason), true
		err = in.fenced(ctx, func(tx ledger.Tx) error {
			_, err := in.Engine.Apply(tx, failed)
			return err
		})
	}
	if err != nil {
		in.Log.Error("intake: cannot record a failing message; redelivering", "seq", it.meta.Sequence.Stream, "err", err)
		_ = it.msg.NakWithDelay(time.Second)
		return
	}
	in.Log.Error("intake: message could not be applied; recorded as rejected and terminated",
		"subject", it.msg.Subject(), "seq", it.meta.Sequence.Stream, "err", cause)
	_ = it.msg.TermWithReason("not applied: " + cause.Error())
	if in.Committed != nil {
		in.Committed()
	}
}

// fenced runs f in a transaction that checks the lease, and commits it.
func (in *Intake) fenced(ctx context.Context, f func(tx ledger.Tx) error) error {
	tx, err := in.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	if in.Fence != nil {
		if err := in.Fence(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// held is every message a Run holds unacknowledged, from its delivery
// until its batch is done, with when JetStream last heard of it.
type held struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]time.Time
}

func (h *held) add(m jetstream.Msg) {
	h.mu.Lock()
	h.msgs[m] = time.Now()
	h.mu.Unlock()
}

func (h *held) remove(items []item) {
	h.mu.Lock()
	for _, it := range items {
		delete(h.msgs, it.msg)
	}
	h.mu.Unlock()
}

// keepAlive tells JetStream that messages held for half of AckWait are in
// progress (waiting behind a slow batch, or for the ledger), so none is
// redelivered while this reader holds it.
func (h *held) keepAlive(ctx context.Context, ackWait time.Duration) {
	t := time.NewTicker(max(ackWait/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var due []jetstream.Msg
			h.mu.Lock()
			for m, at := range h.msgs {
				if now.Sub(at) >= ackWait/2 {
					due = append(due, m)
					h.msgs[m] = now
				}
			}
			h.mu.Unlock()
			for _, m := range due {
				_ = m.InProgress()
			}
		}
	}
}

// returnAll naks what is still held, in stream order, so it is delivered
// again first.
func (h *held) returnAll(log *slog.Logger) {
	h.mu.Lock()
	type seqMsg struct {
		seq uint64
		msg jetstream.Msg
	}
	var left []seqMsg
	for m := range h.msgs {
		var seq uint64
		if meta, err := m.Metadata(); err == nil {
			seq = meta.Sequence.Stream
		}
		left = append(left, seqMsg{seq, m})
	}
	clear(h.msgs)
	h.mu.Unlock()
	slices.SortFunc(left, func(a, b seqMsg) int { return cmp.Compare(a.seq, b.seq) })
	for _, l := range left {
		_ = l.msg.Nak()
	}
	if len(left) > 0 {
		log.Info("intake: stopped; messages not committed handed back", "messages", len(left))
	}
}

// errBox holds the last error JetStream reported while consuming.
type errBox struct {
	mu  sync.Mutex
	err error
}

func (b *errBox) set(err error) { b.mu.Lock(); b.err = err; b.mu.Unlock() }

func (b *errBox) get() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		return errors.New("consuming ended")
	}
	return b.err
}

// staleCatalogue is a batch not decided because the catalogue the ledger
// holds in force could not be loaded.
type staleCatalogue struct{ err error }

func (e *staleCatalogue) Error() string {
	return "not deciding with a stale catalogue: " + e.err.Error()
}
func (e *staleCatalogue) Unwrap() error { return e.err }

// leaseLost is a commit refused because this replica no longer holds the
// intake lease.
type leaseLost struct{ err error }

func (e *leaseLost) Error() string { return "intake lease lost: " + e.err.Error() }
func (e *leaseLost) Unwrap() error { return e.err }
