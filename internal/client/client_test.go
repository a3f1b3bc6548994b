package client_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
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
