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
	// MaxDeliver bounds redeliveries of a message that cannot be committed;
	// on the last one it is recorded as rejected and terminated.
	MaxDeliver = 8
)

// Options of the streams; zero values take the defaults.
type Options struct {
	Replicas   int           // 1 embedded, 3 in a cluster
	InMaxAge   time.Duration // default 400 days: the messages are the input record
	EvMaxAge   time.Duration // default 400 days
	AckWait    time.Duration // default 60 s
	Duplicates time.Duration // default 2 min
}

// Ensure creates or updates both streams and the intake consumer.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Consumer, error) {
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
		o.AckWait = 60 * time.Second
	}
	if o.Duplicates == 0 {
		o.Duplicates = 2 * time.Minute
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: In, Subjects: []string{InSubjects}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
			MaxAge: o.InMaxAge, Replicas: o.Replicas, Duplicates: o.Duplicates, MaxMsgSize: 64 << 10,
			Description: "tilgang: messages in (requests, decisions, HR events)"},
		{Name: Events, Subjects: []string{EventsSubjects}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
			MaxAge: o.EvMaxAge, Replicas: o.Replicas, Duplicates: o.Duplicates,
			Description: "tilgang: events out and audit anchors"},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("streams: create or update %s: %w", cfg.Name, err)
		}
	}
	c, err := js.CreateOrUpdateConsumer(ctx, In, jetstream.ConsumerConfig{
		Durable: Intake, AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.AckWait, MaxDeliver: MaxDeliver,
		FilterSubject: InSubjects, MaxAckPending: 20000, DeliverPolicy: jetstream.DeliverAllPolicy,
		Description: "tilgang intake",
	})
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
