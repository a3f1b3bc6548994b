package client_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/telemetry"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// Junk published first under the Nats-Msg-Id a sender's predictable source
// and id give (its request id) must not make the sender's real message a
// JetStream duplicate that is never processed.
func TestMsgIDCannotBeSquatted(t *testing.T) {
	e := testenv.Start(t, "", "")
	people := testenv.People()
	e.Joiner(people...)

	env, err := e.Sender.New(tilgang.TypeRequest, people[0].ID, people[1].ID,
		envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny i jobben"})
	require.NoError(t, err)
	subject, err := envelope.SubjectFor(env.Type, env.Subject)
	require.NoError(t, err)
	junk := nats.NewMsg(subject)
	junk.Data = []byte("junk")
	junk.Header.Set(jetstream.MsgIDHeader, envelope.KeyHash(env.Signer(), env.Source, env.ID))
	_, err = e.JS.PublishMsg(context.Background(), junk)
	require.NoError(t, err)

	m, err := client.Msg(env)
	require.NoError(t, err)
	require.Equal(t, env.MsgID(), m.Header.Get(jetstream.MsgIDHeader))
	id, err := client.Publish(context.Background(), e.JS, env)
	require.NoError(t, err)
	require.Equal(t, env.Key(), id)
	e.Wait(tilgang.EvRequestAccepted, people[0].ID, testenv.ForRequest(id))
}

// A publish whose first acknowledgement says duplicate was never stored:
// Publish says so as an error rather than returning a request id that
// nothing will ever process.
func TestPublishDuplicateIsAnError(t *testing.T) {
	ns := testenv.NATS(t, t.TempDir())
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"tilgang.in.>"}})
	require.NoError(t, err)

	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	s := &client.Sender{Key: kp, Source: "test"}
	env, err := s.New(tilgang.TypeTraining, "1547-1", "1547-20001", envelope.Training{System: "kasse", Role: "bruker"})
	require.NoError(t, err)
	m, err := client.Msg(env)
	require.NoError(t, err)
	_, err = js.PublishMsg(ctx, m)
	require.NoError(t, err)

	_, err = client.Publish(ctx, js, env)
	require.Error(t, err)
	require.Contains(t, err.Error(), "duplicate")
}

// Publish puts on an envelope without one the traceparent of the span in
// ctx, else a new trace; the signature still verifies, as the trace
// context is not signed.
func TestPublishCarriesTraceParent(t *testing.T) {
	e := testenv.Start(t, "", "")
	people := testenv.People()
	e.Joiner(people...)
	stream, err := e.JS.Stream(context.Background(), streams.In)
	require.NoError(t, err)
	sent := func(ctx context.Context) *envelope.Envelope {
		env, err := e.Sender.New(tilgang.TypeRequest, people[0].ID, people[1].ID,
			envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny i jobben"})
		require.NoError(t, err)
		_, err = client.Publish(ctx, e.JS, env)
		require.NoError(t, err)
		subject, err := envelope.SubjectFor(env.Type, env.Subject)
		require.NoError(t, err)
		raw, err := stream.GetLastMsgForSubject(context.Background(), subject)
		require.NoError(t, err)
		got, err := envelope.Decode(subject, raw.Data)
		require.NoError(t, err)
		require.Equal(t, env.ID, got.ID)
		require.NoError(t, principalsVerify(t, e, got))
		return got
	}

	sc := telemetry.Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1")
	got := sent(trace.ContextWithSpanContext(context.Background(), sc))
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", got.TraceParent)
	require.Equal(t, "rojo=1", got.TraceState)

	a, b := sent(context.Background()), sent(context.Background())
	require.NoError(t, envelope.CheckTraceParent(a.TraceParent))
	require.NotEqual(t, telemetry.TraceID(a.TraceParent), telemetry.TraceID(b.TraceParent), "a new trace each")
}

func principalsVerify(t *testing.T, e *testenv.Env, env *envelope.Envelope) error {
	t.Helper()
	ps, err := principals.EnsureDev(e.Data)
	require.NoError(t, err)
	_, err = ps.Verify(env)
	return err
}
