// Package hrsync runs one sync of an HR source (DESIGN.md "HR sources"):
// read a snapshot, diff it against the snapshot the ledger keeps, hold it
// when the fail-safe trips, else send joiner, mover and leaver events signed
// by a principal holding hr, and follow the worker processing them. Both
// `tilgang hr sync` and the worker's schedule (config hr_sources) run it,
// over NATS and the signed API, so a scheduled run is checked exactly like
// one from the command line.
package hrsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// DefaultDaysBeforeStart is how many days before their first start a
// future joiner is sent when the source says nothing: two weeks, so that
// access can be asked for and approved before day one (the account is
// made disabled and enabled at 00:00 Oslo on the start date).
const DefaultDaysBeforeStart = 14

// Options are one run.
type Options struct {
	Name   string          // the source's name: "hr-sync/NAME" and its kept snapshot
	Source hrsource.Source // opened
	Input  hrsource.Input  // Today is filled from Now when zero
	// Shares of the fail-safe; zero: the defaults.
	MaxLeaveShare, MaxChangeShare float64
	// DaysBeforeStart: a person the kept snapshot does not hold yet whose
	// every employment starts more than this many days after today is left
	// out of this run (counted in Report.Later). Negative: no limit.
	DaysBeforeStart int
	DryRun          bool
	Allow           bool          // --allow-changes: send a held plan (the worker checks who may)
	Wait            time.Duration // follow the worker for up to this long; 0 only publishes

	NC     *nats.Conn
	Client *api.Client   // signs API calls (snapshot, hold, allow, status)
	Key    nkeys.KeyPair // signs the events
	Actor  string        // the events' actor (a principal holding hr)
	Via    string        // the signer when it signs for Actor
	Now    func() time.Time
	// Progress, when set, is told how far a long run has come: stage is
	// "published" or "processed".
	Progress func(stage string, done, total int)
}

// Report is what a run did: DESIGN.md's summary, then what became of the
// events sent and every rejection by person.
type Report struct {
	hrsource.Summary
	DryRun     bool               `json:"dry_run,omitempty"`
	Later      int                `json:"later"` // future joiners left for a later run (days_before_start)
	Sent       int                `json:"sent"`
	Accepted   int                `json:"accepted"`
	Ignored    int                `json:"ignored"`
	Unknown    int                `json:"not_processed"` // not processed before Wait ran out
	Rejections []Rejection        `json:"rejections"`
	Warnings   []hrsource.Warning `json:"warnings"`
}

// Rejection is one person not taken: by the read (the record keeps its
// previous state) or by the worker (the event sent was rejected).
type Rejection struct {
	Person    string `json:"person"`
	By        string `json:"by"` // read | worker
	Kind      string `json:"kind,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Reason    string `json:"reason"`
}

// WorkerRejected counts the rejections by the worker.
func (r Report) WorkerRejected() int {
	n := 0
	for _, rj := range r.Rejections {
		if rj.By == "worker" {
			n++
		}
	}
	return n
}

// Errors of a run that read and planned but did not (all) go through;
// the Report says what happened.
var (
	// ErrHeld: the fail-safe held the plan and Allow was not given (or
	// DryRun): nothing was sent.
	ErrHeld = errors.New("held")
	// ErrRefused: Allow was given and the worker refused it.
	ErrRefused = errors.New("refused")
)

// Run runs one sync. A failed or incomplete read, a kept snapshot that
// cannot be read or a refused allowance sends nothing. The error wraps
// ErrHeld when the fail-safe held the plan.
func Run(ctx context.Context, o Options) (Report, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	in := o.Input
	if in.Today.IsZero() {
		in.Today = tilgang.DateOf(now())
	}
	today := in.Today
	snap, err := o.Source.Read(ctx, in)
	if err != nil {
		return Report{}, fmt.Errorf("read source %s: %w: nothing was sent", o.Name, err)
	}
	if !snap.Complete {
		return Report{}, tilgang.Errorf(tilgang.Invalid, "read source %s: the snapshot is incomplete: nothing was sent", o.Name)
	}
	kept, err := o.Client.HRSnapshotAll(ctx, o.Name)
	if err != nil {
		return Report{}, fmt.Errorf("read the snapshot the ledger keeps of %s: %w: nothing was sent", o.Name, err)
	}
	prev := make(map[string]hrsource.Stored, len(kept))
	for _, k := range kept {
		prev[k.Person] = hrsource.Stored{Person: k.Record, Version: k.Version}
	}
	later := 0
	if o.DaysBeforeStart >= 0 {
		snap.People, later = hrsource.NotYet(snap.People, prev, today, o.DaysBeforeStart)
	}
	// Versions grow with the clock, as hr import's: above any version an
	// earlier sync or import gave.
	next := now().UnixMilli()
	plan := hrsource.Diff(prev, snap, hrsource.FailSafe{Today: today, MaxLeaveShare: o.MaxLeaveShare,
		MaxChangeShare: o.MaxChangeShare, Next: func() int64 { next++; return next }})
	rep := Report{Summary: plan.Summary(o.Name, len(snap.People)), DryRun: o.DryRun, Later: later, Rejections: []Rejection{},
		Warnings: append([]hrsource.Warning{}, plan.Warnings...)}
	for _, r := range plan.Rejected {
		rep.Rejections = append(rep.Rejections, Rejection{Person: r.PersonID, By: "read", Reason: r.Reason})
	}
	if o.DryRun {
		if plan.Held {
			return rep, fmt.Errorf("%w: the fail-safe would hold this sync: %s", ErrHeld, strings.Join(plan.Reasons, "; "))
		}
		return rep, nil
	}
	if plan.Held {
		var res api.HRSyncResult
		if !o.Allow {
			msg := fmt.Sprintf("held: nothing was sent: %s; a principal with both hr and operator may send it with --allow-changes",
				strings.Join(plan.Reasons, "; "))
			if err := o.Client.Call(ctx, api.MethodHRSyncHeld, api.HRSyncArgs{Summary: rep.Summary}, &res); err != nil {
				msg += fmt.Sprintf(" (announcing the hold failed: %v)", err)
			}
			return rep, fmt.Errorf("%w: %s", ErrHeld, msg)
		}
		if err := o.Client.Call(ctx, api.MethodHRSyncAllow, api.HRSyncArgs{Summary: rep.Summary}, &res); err != nil {
			if tilgang.KindOf(err) == tilgang.Denied {
				return rep, fmt.Errorf("%w: --allow-changes refused: %s: nothing was sent", ErrRefused, trimAPI(err))
			}
			return rep, fmt.Errorf("allow the held changes of %s: %w: nothing was sent", o.Name, err)
		}
	}

	msgs := make([]*nats.Msg, len(plan.Events))
	ids := make([]string, len(plan.Events))
	// One trace for the sync: its events are the children of the span it
	// runs in (a scheduled sync's), else of one new root.
	tp, ts := telemetry.Outgoing(ctx)
	for i, ev := range plan.Events {
		m, key, err := build(o, now(), ev, tp, ts)
		if err != nil {
			return rep, fmt.Errorf("%s %s: %w: nothing was sent", ev.Kind, ev.Person.ID, err)
		}
		msgs[i], ids[i] = m, key
	}
	n, err := publishAll(ctx, o, msgs)
	rep.Sent = n
	if err != nil {
		return rep, fmt.Errorf("sent %d of %d events, then: %w", n, len(msgs), err)
	}
	if o.Wait <= 0 || len(msgs) == 0 {
		return rep, nil
	}
	sts, followErr := follow(ctx, o, ids)
	for i, st := range sts {
		switch st.Outcome {
		case "accepted":
			rep.Accepted++
		case "ignored":
			rep.Ignored++
		case "rejected":
			ev := plan.Events[i]
			rep.Rejections = append(rep.Rejections, Rejection{Person: ev.Person.ID, By: "worker", Kind: string(ev.Kind),
				RequestID: st.RequestID, Reason: st.Why})
		default:
			rep.Unknown++
		}
	}
	switch {
	case followErr != nil:
		return rep, fmt.Errorf("follow the sync (%d of %d events not known yet): %w", rep.Unknown, len(msgs), followErr)
	case rep.WorkerRejected() > 0:
		return rep, fmt.Errorf("the worker rejected %d of %d events", rep.WorkerRejected(), len(msgs))
	case rep.Unknown > 0:
		return rep, fmt.Errorf("%d events were not processed within %s", rep.Unknown, o.Wait)
	}
	return rep, nil
}

// build signs ev as the envelope of an HR event from source o.Name and
// decodes it again as the worker will.
func build(o Options, now time.Time, ev hrsource.Event, traceparent, tracestate string) (*nats.Msg, string, error) {
	typ, person := ev.Kind.EventType(), ev.Person.ID
	subject, err := envelope.SubjectFor(typ, person)
	if err != nil {
		return nil, "", err
	}
	env := &envelope.Envelope{SpecVersion: envelope.SpecVersion, ID: hrsource.EventID(o.Name, person, ev.Version),
		Source: hrsource.EnvelopeSource(o.Name), Type: typ, Subject: person, Time: now.UTC().Format(time.RFC3339Nano),
		Actor: o.Actor, Via: o.Via, TraceParent: traceparent, TraceState: tracestate}
	if err := env.SetData(ev.Data()); err != nil {
		return nil, "", err
	}
	if err := env.Sign(o.Key); err != nil {
		return nil, "", err
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, "", err
	}
	if _, err := envelope.Decode(subject, raw); err != nil {
		return nil, "", err
	}
	msg := nats.NewMsg(subject)
	msg.Data = raw
	msg.Header.Set(jetstream.MsgIDHeader, env.MsgID())
	return msg, env.Key(), nil
}

const publishBatch = 256

func publishAll(ctx context.Context, o Options, msgs []*nats.Msg) (int, error) {
	js, err := jetstream.New(o.NC)
	if err != nil {
		return 0, err
	}
	done := 0
	for start := 0; start < len(msgs); start += publishBatch {
		batch := msgs[start:min(start+publishBatch, len(msgs))]
		futures := make([]jetstream.PubAckFuture, 0, len(batch))
		for _, m := range batch {
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				return done, fmt.Errorf("publish to %s: %w", m.Subject, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				if err := client.CheckAck(f.Msg(), ack); err != nil {
					return done, err
				}
			case err := <-f.Err():
				return done, fmt.Errorf("publish to %s: %w", batch[i].Subject, err)
			case <-time.After(30 * time.Second):
				return done, fmt.Errorf("publish to %s: no acknowledgement in 30s", batch[i].Subject)
			case <-ctx.Done():
				return done, ctx.Err()
			}
			done++
		}
		if o.Progress != nil {
			o.Progress("published", done, len(msgs))
		}
	}
	return done, nil
}

// follow polls the statuses of the requests ids until every one is
// recorded or o.Wait has passed, and returns them in order (those not
// recorded with state unknown).
func follow(ctx context.Context, o Options, ids []string) ([]api.Status, error) {
	sts := make([]api.Status, len(ids))
	pending := make([]int, len(ids))
	for i, id := range ids {
		pending[i] = i
		sts[i] = api.Status{RequestID: id, State: api.StateUnknown}
	}
	deadline := time.Now().Add(o.Wait)
	for {
		ask := make([]string, len(pending))
		for j, i := range pending {
			ask[j] = ids[i]
		}
		got, err := o.Client.StatusAll(ctx, ask, nil)
		var still []int
		for j, i := range pending {
			if j >= len(got) || got[j].State == api.StateUnknown {
				still = append(still, i)
				continue
			}
			sts[i] = got[j]
		}
		pending = still
		if o.Progress != nil {
			o.Progress("processed", len(ids)-len(pending), len(ids))
		}
		if err != nil {
			return sts, err
		}
		if len(pending) == 0 || !time.Now().Before(deadline) {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			return sts, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// trimAPI is the worker's message of err without the "api: " prefix.
func trimAPI(err error) string {
	var te *tilgang.Error
	if errors.As(err, &te) {
		return strings.TrimPrefix(te.Message, "api: ")
	}
	return err.Error()
}
