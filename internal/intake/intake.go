// Package intake reads messages in from JetStream and commits them to the
// ledger through the engine: a batch in one transaction, falling back to
// one transaction per message when the batch fails. Messages are
// acknowledged only after their transaction commits, so a crash at any
// point redelivers them and the ledger's idempotency key makes the repeat a
// no-op. A message that still fails on its last delivery is recorded as
// rejected with the error and terminated, never left undelivered.
//
// Only this package acks, naks or terminates messages.
package intake

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/crashpoint"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Intake is the single active reader of the intake consumer.
type Intake struct {
	Consumer jetstream.Consumer
	Ledger   ledger.Ledger
	Engine   *engine.Engine
	Log      *slog.Logger
	// Batch is the most messages taken and committed at once (default 256).
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
}

// Run consumes until ctx ends. It returns nil on a clean stop.
func (in *Intake) Run(ctx context.Context) error {
	batch := in.Batch
	if batch <= 0 || batch > streams.MaxBatch {
		batch = streams.MaxBatch
	}
	for ctx.Err() == nil {
		msgs, err := in.Consumer.Fetch(batch, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			in.Log.Warn("intake: fetch failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var got []jetstream.Msg
		for m := range msgs.Messages() {
			got = append(got, m)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			in.Log.Warn("intake: fetch ended with an error", "err", err)
		}
		if len(got) == 0 {
			continue
		}
		in.process(ctx, got)
	}
	return nil
}

type item struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	in   engine.Input
	out  engine.Outcome
}

func (in *Intake) process(ctx context.Context, msgs []jetstream.Msg) {
	items := make([]item, 0, len(msgs))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			in.Log.Error("intake: message without metadata; terminated", "subject", m.Subject(), "err", err)
			_ = m.TermWithReason("no metadata")
			continue
		}
		items = append(items, item{msg: m, meta: meta})
	}
	if len(items) == 0 {
		return
	}
	// Decoding and signature checks need no ledger: do them on every core
	// before the transaction.
	workers := min(runtime.GOMAXPROCS(0), len(items))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(items); i += workers {
				it := &items[i]
				it.in = engine.Decode(it.msg.Subject(), it.msg.Data(), it.meta.Sequence.Stream)
				in.Engine.Check(&it.in)
			}
		}(w)
	}
	wg.Wait()
	parts := in.partition(items)
	if len(parts) == 1 {
		in.apply(ctx, items)
		return
	}
	var pw sync.WaitGroup
	for _, p := range parts {
		pw.Add(1)
		go func() { defer pw.Done(); in.apply(ctx, p) }()
	}
	pw.Wait()
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
// it answers), then applied one message at a time, and a message that
// still fails after a few tries is recorded as rejected with its error and
// terminated. Only a lost lease hands the batch back: the replica that
// holds the lease now resumes from the ack floor, in order.
func (in *Intake) apply(ctx context.Context, items []item) {
	err := in.commit(ctx, items)
	for err != nil && in.ledgerDown(ctx, err) {
		if !in.holdUntilLedger(ctx, items) {
			return
		}
		err = in.commit(ctx, items)
	}
	if err == nil {
		in.done(items)
		return
	}
	if in.handBack(items, err) {
		return
	}
	if len(items) > 1 {
		in.Log.Warn("intake: batch failed; one transaction per message", "size", len(items), "err", err)
	}
	for i := range items {
		one := items[i : i+1]
		if len(items) > 1 {
			err = in.commit(ctx, one)
		}
		for try := 1; err != nil && try < maxTries; try++ {
			if in.handBack(items[i:], err) {
				return
			}
			if in.ledgerDown(ctx, err) {
				if !in.holdUntilLedger(ctx, items[i:]) {
					return
				}
				try--
			} else {
				in.Log.Warn("intake: message not committed; trying again", "subject", items[i].msg.Subject(),
					"seq", items[i].meta.Sequence.Stream, "try", try, "err", err)
				sleep(ctx, time.Duration(try)*200*time.Millisecond)
			}
			err = in.commit(ctx, one)
		}
		if err == nil {
			in.done(one)
			continue
		}
		if in.handBack(items[i:], err) {
			return
		}
		in.reject(ctx, &items[i], err)
	}
}

// maxTries bounds the attempts at one message that keeps failing while the
// ledger is up: then it is recorded as rejected, never left undelivered.
const maxTries = 4

// handBack returns the items to JetStream when this replica lost the
// intake lease; it reports whether it did.
func (in *Intake) handBack(items []item, err error) bool {
	var lost *leaseLost
	if !errors.As(err, &lost) {
		return false
	}
	in.Log.Warn("intake: lease lost; returning the batch", "size", len(items), "err", err)
	for _, it := range items {
		_ = it.msg.Nak()
	}
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

// holdUntilLedger keeps the items (telling JetStream they are in progress)
// until the ledger answers again; false when ctx ended (the items are then
// handed back).
func (in *Intake) holdUntilLedger(ctx context.Context, items []item) bool {
	in.Log.Warn("intake: the ledger is unavailable; holding the batch until it answers", "size", len(items))
	for d := 500 * time.Millisecond; ; d = min(2*d, 5*time.Second) {
		for _, it := range items {
			_ = it.msg.InProgress()
		}
		sleep(ctx, d)
		if ctx.Err() != nil {
			for _, it := range items {
				_ = it.msg.Nak()
			}
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
	// The lease is checked (and extended) last, so its row is locked only
	// for the commit: partitions commit side by side, and a replica that
	// lost the lease meanwhile cannot commit what it applied.
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
	if in.Committed != nil {
		in.Committed()
	}
}

// reject records a message that could not be committed as rejected with
// the error, then terminates it.
func (in *Intake) reject(ctx context.Context, it *item, cause error) {
	failed := it.in
	failed.Env, failed.DecodeErr = nil, fmt.Errorf("not applied after %d tries: %v", maxTries, cause)
	tx, err := in.Ledger.Begin(ctx)
	if err == nil && in.Fence != nil {
		if err = in.Fence(tx); err != nil {
			tx.Rollback()
		}
	}
	if err == nil {
		if _, err = in.Engine.Apply(tx, failed); err != nil {
			tx.Rollback()
		} else {
			err = tx.Commit()
		}
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

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// leaseLost is a commit refused because this replica no longer holds the
// intake lease.
type leaseLost struct{ err error }

func (e *leaseLost) Error() string { return "intake lease lost: " + e.err.Error() }
func (e *leaseLost) Unwrap() error { return e.err }
