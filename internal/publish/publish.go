// Package publish sends the events out that committed transactions left in
// the ledger, each with Nats-Msg-Id set to its row id so a repeat after a
// crash is dropped by JetStream, and publishes the audit chain head as
// audit.anchor at start-up, every minute, at shutdown and before a verify.
//
// An anchor is {seq, hash, prev_anchor: {seq, hash}}, signed by the key of
// the service principal worker. It is published only when the chain still
// runs on from the last anchor (the row at its seq still has its hash and
// every later row chains from it): a rewritten chain is never anchored,
// however many periods pass. Anchors not signed by the worker's key
// (current or retired) are ignored, and reported by Verify.
package publish

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Source is the CloudEvents source of everything tilgang publishes.
const Source = "tilgang"

// Publisher drains the ledger's event rows to JetStream.
type Publisher struct {
	JS     jetstream.JetStream
	Ledger ledger.Ledger
	Log    *slog.Logger
	// AnchorEvery is the anchor period (default one minute).
	AnchorEvery time.Duration
	// Key signs anchors: the seed of the service principal worker. Without
	// it nothing is anchored.
	Key nkeys.KeyPair
	// WorkerKeys lists the public keys an anchor may be signed by (the
	// worker's current key and its retired ones); nil means Key's alone.
	WorkerKeys func() []string
	// Refused, when set, is told each time the head is not anchored
	// because the chain no longer runs on from the last anchor.
	Refused func(problem string)

	wake     chan struct{}
	once     sync.Once
	anchorMu sync.Mutex
	anchored *ledger.Anchor // the last signed anchor seen, under anchorMu
}

func (p *Publisher) init() {
	p.once.Do(func() {
		p.wake = make(chan struct{}, 1)
		if p.AnchorEvery == 0 {
			p.AnchorEvery = time.Minute
		}
	})
}

// Wake says new events may be waiting. It never blocks.
func (p *Publisher) Wake() {
	p.init()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends, then publishes what is left and a last anchor.
func (p *Publisher) Run(ctx context.Context) error {
	p.init()
	if _, err := p.Anchor(ctx); err != nil {
		p.Log.Error("publish: start-up anchor", "err", err)
	}
	tick := time.NewTicker(p.AnchorEvery)
	defer tick.Stop()
	for {
		n, err := p.Flush(ctx)
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("publish: events not published yet", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := p.Flush(final); err != nil {
				p.Log.Warn("publish: events left for the next start", "err", err)
			}
			if _, err := p.Anchor(final); err != nil {
				p.Log.Warn("publish: shutdown anchor", "err", err)
			}
			return nil
		case <-p.wake:
		case <-tick.C:
			if _, err := p.Anchor(ctx); err != nil {
				p.Log.Warn("publish: anchor", "err", err)
			}
		case <-time.After(time.Second):
		}
	}
}

// Envelope builds the event's CloudEvent; the same row always gives the
// same bytes.
func Envelope(e ledger.Event) ([]byte, string, error) {
	subject, err := envelope.EventSubject(e.Kind, e.Person)
	if err != nil {
		return nil, "", err
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, "", err
	}
	env := envelope.Envelope{SpecVersion: "1.0", ID: strconv.FormatInt(e.ID, 10), Source: Source, Type: envelope.EventType(e.Kind),
		Subject: e.Person, Time: e.At.UTC().Format(time.RFC3339Nano), Actor: Source, Data: data}
	b, err := env.Marshal()
	return b, subject, err
}

// Flush publishes pending events in order and marks them; it returns how
// many it published.
func (p *Publisher) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		evs, err := p.Ledger.PendingEvents(ctx, 512)
		if err != nil || len(evs) == 0 {
			return total, err
		}
		futures := make([]jetstream.PubAckFuture, 0, len(evs))
		for _, e := range evs {
			body, subject, err := Envelope(e)
			if err != nil {
				return total, fmt.Errorf("publish: event %d: %w", e.ID, err)
			}
			m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
			m.Header.Set(jetstream.MsgIDHeader, "ev-"+strconv.FormatInt(e.ID, 10))
			f, err := p.JS.PublishMsgAsync(m)
			if err != nil {
				return total, fmt.Errorf("publish: %w", err)
			}
			futures = append(futures, f)
		}
		ids := make([]int64, 0, len(evs))
		for i, f := range futures {
			select {
			case <-f.Ok():
				ids = append(ids, evs[i].ID)
			case err := <-f.Err():
				_ = p.Ledger.MarkPublished(ctx, ids)
				return total + len(ids), fmt.Errorf("publish: event %d: %w", evs[i].ID, err)
			case <-ctx.Done():
				return total, ctx.Err()
			}
		}
		if err := p.Ledger.MarkPublished(ctx, ids); err != nil {
			return total, err
		}
		total += len(ids)
	}
}

// WorkerActor is the actor of anchors: the service principal whose key
// signs them.
const WorkerActor = "worker"

const anchorType = "audit.anchor"

func (p *Publisher) workerKeys() []string {
	if p.WorkerKeys != nil {
		return p.WorkerKeys()
	}
	if p.Key != nil {
		if pub, err := p.Key.PublicKey(); err == nil {
			return []string{pub}
		}
	}
	return nil
}

// Anchor publishes the chain head unless it equals the last anchor, after
// checking that the chain runs on from the last anchor (ChainsFrom). When
// it does not (rows were rewritten or deleted) nothing is anchored: an
// error is logged, Refused is told, and the error says what was found.
func (p *Publisher) Anchor(ctx context.Context) (*ledger.Head, error) {
	p.anchorMu.Lock()
	defer p.anchorMu.Unlock()
	if p.Key == nil {
		return nil, fmt.Errorf("publish: no worker key to sign anchors with: not anchoring")
	}
	last, err := p.lastAnchor(ctx)
	if err != nil {
		return nil, err
	}
	var from ledger.Head
	if last != nil {
		from = last.Head()
	}
	head, err := p.Ledger.ChainsFrom(ctx, from)
	var brk *ledger.ChainBreak
	if errors.As(err, &brk) {
		problem := fmt.Sprintf("the audit chain does not run on from the last anchor (row %d): %s; not anchoring", from.Seq, brk.Problem)
		p.Log.Error("publish: "+problem, "anchor_seq", from.Seq, "bad_seq", brk.Seq)
		if p.Refused != nil {
			p.Refused(problem)
		}
		return &from, fmt.Errorf("publish: %s", problem)
	}
	if err != nil {
		return nil, err
	}
	if head.Seq == 0 || (last != nil && head == from) {
		if last == nil {
			return nil, nil
		}
		return &from, nil
	}
	a := ledger.Anchor{Seq: head.Seq, Hash: head.Hash}
	if last != nil {
		a.Prev = &from
	}
	env := envelope.Envelope{SpecVersion: "1.0", ID: "anchor-" + strconv.FormatInt(head.Seq, 10), Source: Source,
		Type: envelope.EventType(anchorType), Subject: "_", Time: time.Now().UTC().Format(time.RFC3339Nano), Actor: WorkerActor}
	if err := env.SetData(a); err != nil {
		return nil, err
	}
	if err := env.Sign(p.Key); err != nil {
		return nil, fmt.Errorf("publish: sign the anchor: %w", err)
	}
	body, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: streams.AnchorSubject, Data: body, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, "anchor-"+strconv.FormatInt(head.Seq, 10)+"-"+head.Hash[:16]+"-"+env.ActorSig[:16])
	if _, err := p.JS.PublishMsg(ctx, m); err != nil {
		return nil, fmt.Errorf("publish: anchor: %w", err)
	}
	p.anchored = &a
	return &head, nil
}

// lastAnchor is the newest anchor signed by the worker's key, nil when
// none: the newest message on the subject when it is one, else the newest
// of all (an anchor forged by someone who can publish on NATS does not
// stop anchoring).
func (p *Publisher) lastAnchor(ctx context.Context) (*ledger.Anchor, error) {
	raw, ok, err := streams.LastAnchor(ctx, p.JS)
	if err != nil || !ok {
		return nil, err
	}
	keys := p.workerKeys()
	if a, err := openAnchor(raw, keys); err == nil {
		p.anchored = &a
		return &a, nil
	}
	if p.anchored != nil {
		return p.anchored, nil
	}
	all, _, err := Anchors(ctx, p.JS, keys)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	p.anchored = &all[len(all)-1]
	return p.anchored, nil
}

// openAnchor decodes an anchor and checks that the worker signed it with
// one of keys.
func openAnchor(raw []byte, keys []string) (ledger.Anchor, error) {
	var env envelope.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return ledger.Anchor{}, fmt.Errorf("does not decode: %w", err)
	}
	if env.Actor != WorkerActor || env.Type != envelope.EventType(anchorType) || env.Via != "" {
		return ledger.Anchor{}, fmt.Errorf("is not an anchor by %s (actor %q, type %q)", WorkerActor, env.Actor, env.Type)
	}
	if env.ActorSig == "" {
		return ledger.Anchor{}, fmt.Errorf("is not signed")
	}
	sig, err := base64.RawURLEncoding.DecodeString(env.ActorSig)
	if err != nil {
		return ledger.Anchor{}, fmt.Errorf("has an actorsig that is not base64url: %w", err)
	}
	signed := false
	for _, k := range keys {
		if kp, err := nkeys.FromPublicKey(k); err == nil && kp.Verify(env.SigningInput(), sig) == nil {
			signed = true
			break
		}
	}
	if !signed {
		return ledger.Anchor{}, fmt.Errorf("is not signed by the worker's key")
	}
	var a ledger.Anchor
	if err := json.Unmarshal(env.Data, &a); err != nil {
		return ledger.Anchor{}, fmt.Errorf("has data that does not decode: %w", err)
	}
	if a.Seq <= 0 || len(a.Hash) != 64 {
		return ledger.Anchor{}, fmt.Errorf("names no chain row (seq %d, hash %q)", a.Seq, a.Hash)
	}
	return a, nil
}

// Anchors reads every anchor the stream keeps, oldest first: those signed
// by the worker with one of keys, and why each other one is ignored.
func Anchors(ctx context.Context, js jetstream.JetStream, keys []string) ([]ledger.Anchor, []string, error) {
	c, err := js.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.AnchorSubject}})
	if err != nil {
		return nil, nil, fmt.Errorf("publish: read the anchors: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: read the anchors: %w", err)
	}
	pending := info.NumPending
	var (
		valid   []ledger.Anchor
		ignored []string
	)
	for pending > 0 {
		batch, err := c.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, nil, fmt.Errorf("publish: read the anchors: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return nil, nil, fmt.Errorf("publish: read the anchors: %w", err)
			}
			a, err := openAnchor(m.Data(), keys)
			if err != nil {
				ignored = append(ignored, fmt.Sprintf("stream message %d %s", meta.Sequence.Stream, err))
			} else {
				valid = append(valid, a)
			}
			pending = meta.NumPending
		}
		if err := batch.Error(); err != nil {
			return nil, nil, fmt.Errorf("publish: read the anchors: %w", err)
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("publish: read the anchors: %d more were expected but none came", pending)
		}
	}
	return valid, ignored, nil
}

// LastAnchor reads the newest published anchor's head as it is, signed or
// not, nil when none.
func LastAnchor(ctx context.Context, js jetstream.JetStream) (*ledger.Head, error) {
	raw, ok, err := streams.LastAnchor(ctx, js)
	if err != nil || !ok {
		return nil, err
	}
	var env struct {
		Data ledger.Head `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("publish: the newest anchor does not decode: %w", err)
	}
	return &env.Data, nil
}

// Verify checks the chain and the tables beside it against the newest
// anchor, and every anchor the worker signed against the chain: each must
// name a row that still has its hash and extend an anchor published before
// it. Anchors not signed by the worker's key are ignored and listed. Then,
// when all is well, it anchors the head.
func (p *Publisher) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	anchors, ignored, err := Anchors(ctx, p.JS, p.workerKeys())
	if err != nil {
		return ledger.VerifyReport{}, err
	}
	lost, lostNote, err := lostToRestore(ctx, p.Ledger, anchors)
	if err != nil {
		return ledger.VerifyReport{}, err
	}
	var newest *ledger.Head
	for i := len(anchors) - 1; i >= 0 && newest == nil; i-- {
		if _, ok := lost[anchors[i].Head()]; !ok {
			h := anchors[i].Head()
			newest = &h
		}
	}
	rep, err := p.Ledger.Verify(ctx, newest)
	if err != nil {
		return rep, err
	}
	rep.Anchors, rep.Ignored = len(anchors), ignored
	if seq, problem, err := p.checkAnchors(ctx, anchors, lost); err != nil {
		return rep, err
	} else if problem != "" && (rep.OK || seq < rep.BadSeq || rep.BadSeq == 0) {
		rep.OK, rep.BadSeq, rep.Problem = false, seq, problem
	}
	if newest == nil && rep.OK {
		rep.Problem = "warning: no anchor has been published yet, so deleted newest rows cannot be detected"
	}
	if lostNote != "" && rep.OK {
		rep.Problem = strings.TrimPrefix(rep.Problem+"; "+lostNote, "; ")
	}
	if rep.OK {
		if _, err := p.Anchor(ctx); err != nil {
			p.Log.Warn("publish: anchor after verify", "err", err)
		}
	}
	return rep, nil
}

// checkAnchors compares each anchor with the chain, oldest first, and
// checks that each extends an anchor published before it; it returns the
// first problem, naming the lowest row.
func (p *Publisher) checkAnchors(ctx context.Context, anchors []ledger.Anchor, lost map[ledger.Head]ledger.Head) (int64, string, error) {
	if len(anchors) == 0 {
		return 0, "", nil
	}
	seqs := make([]int64, 0, len(anchors))
	for _, a := range anchors {
		seqs = append(seqs, a.Seq)
	}
	hashes, err := p.Ledger.RowHashes(ctx, seqs)
	if err != nil {
		return 0, "", err
	}
	var (
		bad     int64
		problem string
	)
	note := func(seq int64, format string, args ...any) {
		if problem == "" || seq < bad {
			bad, problem = seq, fmt.Sprintf(format, args...)
		}
	}
	published := map[ledger.Head]bool{}
	for i, a := range anchors {
		_, isLost := lost[a.Head()]
		switch got, ok := hashes[a.Seq]; {
		case isLost: // lostToRestore reports it
		case !ok:
			note(a.Seq, "row %d was anchored but is not in the chain: rows were deleted", a.Seq)
		case got != a.Hash:
			note(a.Seq, "row %d differs from its anchored hash: the chain was rewritten at or before it", a.Seq)
		}
		switch {
		case a.Prev == nil && i > 0:
			note(a.Seq, "the anchor of row %d names no previous anchor though %d were published before it", a.Seq, i)
		case a.Prev != nil && !published[*a.Prev]:
			note(a.Seq, "the anchor of row %d extends an anchor of row %d that was never published", a.Seq, a.Prev.Seq)
		case a.Prev != nil && a.Prev.Seq > a.Seq && !lostPrev(lost, a.Prev):
			note(a.Seq, "the anchor of row %d extends an anchor of a later row, %d", a.Seq, a.Prev.Seq)
		}
		published[a.Head()] = true
	}
	return bad, problem, nil
}

// lostToRestore asks a ledger that records restores (sqlledger) which
// anchors were lost to one: published before the ledger went back to a
// backup, for rows it no longer has as anchored. They are reported by
// Verify as a warning, not a failure.
func lostToRestore(ctx context.Context, l ledger.Ledger, anchors []ledger.Anchor) (map[ledger.Head]ledger.Head, string, error) {
	r, ok := l.(interface {
		LostToRestore(ctx context.Context, anchors []ledger.Head) (map[ledger.Head]ledger.Head, error)
	})
	if !ok || len(anchors) == 0 {
		return nil, "", nil
	}
	heads := make([]ledger.Head, 0, len(anchors))
	for _, a := range anchors {
		heads = append(heads, a.Head())
	}
	lost, err := r.LostToRestore(ctx, heads)
	if err != nil || len(lost) == 0 {
		return nil, "", err
	}
	byRestore := map[int64][]string{}
	var order []int64
	for _, h := range heads {
		to, ok := lost[h]
		if !ok {
			continue
		}
		if _, seen := byRestore[to.Seq]; !seen {
			order = append(order, to.Seq)
		}
		byRestore[to.Seq] = append(byRestore[to.Seq], strconv.FormatInt(h.Seq, 10))
	}
	notes := make([]string, 0, len(order))
	for _, seq := range order {
		notes = append(notes, fmt.Sprintf("warning: the anchors of rows %s were lost to the restore at seq %d", strings.Join(byRestore[seq], ", "), seq))
	}
	return lost, strings.Join(notes, "; "), nil
}

// lostPrev says whether prev, the anchor an anchor extends, was lost to a
// restore: the first anchor after a restore extends the last one before
// it, which may name a later row.
func lostPrev(lost map[ledger.Head]ledger.Head, prev *ledger.Head) bool {
	_, ok := lost[*prev]
	return ok
}
