// Package streams names tilgang's JetStream streams, subjects and the
// intake consumer, and creates or updates them at start-up.
package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// In holds every message in: requests, decisions, HR events, ...
	In         = "TILGANG_IN"
	InSubjects = "tilgang.in.>"
	// Events holds every event out, including audit anchors.
	Events         = "TILGANG_EVENTS"
	EventsSubjects = "tilgang.event.>"
	// Intake is the durable pull consumer the active intake reads.
	Intake = "intake"
	// AnchorSubject carries the audit chain head.
	AnchorSubject = "tilgang.event.audit.anchor._"
	// APIPrefix is where the worker answers reads and admin calls.
	APIPrefix = "tilgang.api."
	// MaxBatch is the most messages the intake commits at once.
	MaxBatch = 1024
	// MaxAckPending is the most messages the intake holds unacknowledged:
	// room for the batch committing, the one being verified and those
	// waiting behind them. Messages a stopped reader held are still applied
	// in stream order: the next active intake resets the consumer to its ack
	// floor (EnsureConsumer), and what was applied already is a no-op the
	// second time (the ledger's idempotency key).
	MaxAckPending = 4 * MaxBatch
	// PullMaxMessages is how many messages the intake keeps asked for
	// (Consume's PullMaxMessages); JetStream sends them as they come.
	PullMaxMessages = MaxBatch
	// DefaultAckWait is the intake consumer's AckWait unless Options say
	// otherwise.
	DefaultAckWait = 10 * time.Second
	// MaxDeliver bounds redeliveries of a message that cannot be committed;
	// on the last one it is recorded as rejected and terminated.
	MaxDeliver = 8
)

// Options of the streams; zero values take the defaults.
type Options struct {
	Replicas   int           // 1 embedded, 3 in a cluster
	InMaxAge   time.Duration // default 400 days: the messages are the input record
	EvMaxAge   time.Duration // default 400 days
	AckWait    time.Duration // default DefaultAckWait: the intake keeps what it holds alive; what a crashed reader held comes back this soon
	Duplicates time.Duration // default 2 min
}

// Ensure creates or updates both streams and the intake consumer. Only the
// active intake calls it: it may reset the consumer to its ack floor.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Consumer, error) {
	if err := EnsureStreams(ctx, js, o); err != nil {
		return nil, err
	}
	return EnsureConsumer(ctx, js, o)
}

func (o *Options) defaults() {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.InMaxAge == 0 {
		o.InMaxAge = 400 * 24 * time.Hour
	}
	if o.EvMaxAge == 0 {
		o.EvMaxAge = 400 * 24 * time.Hour
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Duplicates == 0 {
		o.Duplicates = 2 * time.Minute
	}
}

// EnsureStreams creates or updates both streams; any replica may.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o Options) error {
	o.defaults()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: In, Subjects: []string{InSubjects}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
			MaxAge: o.InMaxAge, Replicas: o.Replicas, Duplicates: o.Duplicates, MaxMsgSize: 64 << 10,
			Description: "tilgang: messages in (requests, decisions, HR events)"},
		{Name: Events, Subjects: []string{EventsSubjects}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
			MaxAge: o.EvMaxAge, Replicas: o.Replicas, Duplicates: o.Duplicates,
			Description: "tilgang: events out and audit anchors"},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("streams: create or update %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// EnsureConsumer creates or updates the intake consumer (an existing one
// takes the current settings, MaxAckPending among them). Only the active
// intake calls it: it may reset the consumer to its ack floor.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Consumer, error) {
	o.defaults()
	cfg := jetstream.ConsumerConfig{
		Durable: Intake, AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.AckWait, MaxDeliver: MaxDeliver,
		FilterSubject: InSubjects, MaxAckPending: MaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy,
		Description: "tilgang intake",
	}
	existing, err := js.Consumer(ctx, In, Intake)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, fmt.Errorf("streams: consumer %s: %w", Intake, err)
	default:
		info := existing.CachedInfo()
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		if info.NumAckPending > 0 {
			// The reader before us stopped with messages in hand. Start again
			// right after the ack floor, so they come back now and in stream
			// order instead of after AckWait behind newer messages.
			// Anything above the floor that was applied is a no-op the
			// second time (the ledger's idempotency key).
			if err := js.DeleteConsumer(ctx, In, Intake); err != nil {
				return nil, fmt.Errorf("streams: reset consumer %s: %w", Intake, err)
			}
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.AckFloor.Stream+1
		}
	}
	c, err := js.CreateOrUpdateConsumer(ctx, In, cfg)
	if err != nil {
		return nil, fmt.Errorf("streams: create or update consumer %s: %w", Intake, err)
	}
	return c, nil
}

// LastAnchor reads the newest published chain head; ok is false when none.
func LastAnchor(ctx context.Context, js jetstream.JetStream) (data []byte, ok bool, err error) {
	s, err := js.Stream(ctx, Events)
	if err != nil {
		return nil, false, fmt.Errorf("streams: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, AnchorSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("streams: last anchor: %w", err)
	}
	return m.Data, true, nil
}

// ResumeAt makes the intake consumer deliver from the stream sequence seq
// on (after a ledger restore: one past the highest sequence the restored
// ledger recorded), so the messages committed after the backup are applied
// again rather than skipped. The streams are ensured first.
func ResumeAt(ctx context.Context, js jetstream.JetStream, o Options, seq uint64) error {
	if err := EnsureStreams(ctx, js, o); err != nil {
		return err
	}
	if err := js.DeleteConsumer(ctx, In, Intake); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("streams: reset consumer %s: %w", Intake, err)
	}
	o.defaults()
	cfg := jetstream.ConsumerConfig{
		Durable: Intake, AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.AckWait, MaxDeliver: MaxDeliver,
		FilterSubject: InSubjects, MaxAckPending: MaxAckPending, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: max(seq, 1), Description: "tilgang intake",
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, In, cfg); err != nil {
		return fmt.Errorf("streams: consumer %s from %d: %w", Intake, seq, err)
	}
	return nil
}
