package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// A message JetStream acknowledges as a duplicate on its first publish was
// dropped (someone published under its Nats-Msg-Id first): the CLI says so
// as an error, for one message and in an import, instead of printing a
// request id that will never be processed.
func TestPublishDuplicateIsAnError(t *testing.T) {
	w := newWorld(t)
	e := &env{ctx: context.Background(), options: options{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Now: time.Now}}
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	id := &identity{kp: kp, actor: "1547-2", via: "dev", signer: "dev"}
	build := func() *outMsg {
		m, err := e.build(id, tilgang.TypeRequest, "1547-1", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
		require.NoError(t, err)
		return m
	}
	squat := func(m *outMsg) {
		junk := natsMsg(m)
		junk.Data = []byte("junk")
		_, err := w.js.PublishMsg(context.Background(), junk)
		require.NoError(t, err)
	}

	m := build()
	squat(m)
	err = e.publish(e.ctx, w.nc, m)
	require.ErrorContains(t, err, "duplicate")

	ok, dup := build(), build()
	squat(dup)
	n, err := e.publishAll(w.nc, []*outMsg{ok, dup})
	require.ErrorContains(t, err, "duplicate")
	require.Equal(t, 1, n)
}
