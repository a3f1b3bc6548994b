// Package publish sends the events out that committed transactions left in
// the ledger, each with Nats-Msg-Id set to its row id so a repeat after a
// crash is dropped by JetStream, and publishes the audit chain head as
// audit.anchor at start-up, every minute, at shutdown and before a verify.
package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

	wake     chan struct{}
	once     sync.Once
	anchorMu sync.Mutex
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

// Anchor publishes the chain head unless it equals the newest anchor. A
// head behind the newest anchor means rows were deleted: it is not
// published (that would hide the loss) and the error says so.
func (p *Publisher) Anchor(ctx context.Context) (*ledger.Head, error) {
	p.anchorMu.Lock()
	defer p.anchorMu.Unlock()
	head, err := p.Ledger.Head(ctx)
	if err != nil {
		return nil, err
	}
	last, err := LastAnchor(ctx, p.JS)
	if err != nil {
		return nil, err
	}
	if last != nil && last.Seq > head.Seq {
		return last, fmt.Errorf("publish: the audit chain ends at row %d but row %d was anchored: rows were deleted; not anchoring", head.Seq, last.Seq)
	}
	if head.Seq == 0 || (last != nil && *last == head) {
		return last, nil
	}
	data, _ := json.Marshal(head)
	env := envelope.Envelope{SpecVersion: "1.0", ID: "anchor-" + strconv.FormatInt(head.Seq, 10), Source: Source,
		Type: envelope.EventType("audit.anchor"), Subject: "_", Time: time.Now().UTC().Format(time.RFC3339Nano), Actor: Source, Data: data}
	body, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: streams.AnchorSubject, Data: body, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, "anchor-"+strconv.FormatInt(head.Seq, 10)+"-"+head.Hash[:16])
	if _, err := p.JS.PublishMsg(ctx, m); err != nil {
		return nil, fmt.Errorf("publish: anchor: %w", err)
	}
	return &head, nil
}

// LastAnchor reads the newest published anchor, nil when none.
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

// Verify checks the chain against the newest anchor, then anchors the head.
func (p *Publisher) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	last, err := LastAnchor(ctx, p.JS)
	if err != nil {
		return ledger.VerifyReport{}, err
	}
	rep, err := p.Ledger.Verify(ctx, last)
	if err != nil {
		return rep, err
	}
	if last == nil {
		rep.Problem = "warning: no anchor has been published yet, so deleted newest rows cannot be detected"
	}
	if rep.OK {
		if _, err := p.Anchor(ctx); err != nil {
			p.Log.Warn("publish: anchor after verify", "err", err)
		}
	}
	return rep, nil
}
