// Package client builds, signs and publishes messages in, as the CLI, an HR
// feed adapter or a portal would: a CloudEvent on its tilgang.in subject
// with Nats-Msg-Id set to envelope.MsgIDHash (the request id and the
// signature), so JetStream drops quick repeats of the same signed message
// and nobody can squat a sender's id.
package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/nats-io/nuid"

	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// Sender signs messages with one key.
type Sender struct {
	Key    nkeys.KeyPair
	Source string // CloudEvents source, default "tilgang-cli"
	// Via, when set, is the principal whose key Key is, acting for actors.
	Via string
	Now func() time.Time
}

// New builds and signs a message about person, asked by actor.
func (s *Sender) New(typ, person, actor string, data any) (*envelope.Envelope, error) {
	src := s.Source
	if src == "" {
		src = "tilgang-cli"
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	e := &envelope.Envelope{SpecVersion: "1.0", ID: nuid.Next(), Source: src, Type: typ, Subject: person,
		Time: now().UTC().Format(time.RFC3339), Actor: actor, Via: s.Via}
	if e.Via == actor {
		e.Via = ""
	}
	if err := e.SetData(data); err != nil {
		return nil, err
	}
	if err := e.Sign(s.Key); err != nil {
		return nil, err
	}
	return e, nil
}

// Msg is the NATS message for an envelope: its subject, bytes and
// Nats-Msg-Id header.
func Msg(e *envelope.Envelope) (*nats.Msg, error) {
	subject, err := envelope.SubjectFor(e.Type, e.Subject)
	if err != nil {
		return nil, err
	}
	body, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, e.MsgID())
	return m, nil
}

// Publish sends one envelope and waits for the stream to store it; it
// returns the request id. An envelope without a traceparent gets the one of
// the span in ctx, or a new trace (telemetry.Outgoing): the trace context is
// not signed, so it may be set after Sign. A message JetStream already holds under the same
// Nats-Msg-Id is not stored again: Publish returns ErrDuplicate, since the
// message it was asked to send is not the one that will be processed
// unless the caller sent this very message before (then it may ignore it).
func Publish(ctx context.Context, js jetstream.JetStream, e *envelope.Envelope) (string, error) {
	if e.TraceParent == "" {
		e.TraceParent, e.TraceState = telemetry.Outgoing(ctx)
	}
	m, err := Msg(e)
	if err != nil {
		return "", err
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return "", fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	if err := CheckAck(m, ack); err != nil {
		return "", err
	}
	return e.Key(), nil
}

// ErrDuplicate is returned when JetStream acknowledges a first publish as a
// duplicate of a message it already holds.
var ErrDuplicate = errors.New("JetStream already holds a message with this Nats-Msg-Id and dropped this one as a duplicate")

// CheckAck returns an error wrapping ErrDuplicate if ack says that m, on
// its first publish, was dropped as a duplicate.
func CheckAck(m *nats.Msg, ack *jetstream.PubAck) error {
	if ack != nil && ack.Duplicate {
		return fmt.Errorf("publish %s (Nats-Msg-Id %s): %w", m.Subject, m.Header.Get(jetstream.MsgIDHeader), ErrDuplicate)
	}
	return nil
}
