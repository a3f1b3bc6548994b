package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
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

// Every message of one run carries one trace: TRACEPARENT's span as the
// parent when set, else one new trace; a malformed TRACEPARENT is refused
// by name, and nothing is built.
func TestBuildCarriesTraceParent(t *testing.T) {
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	id := &identity{kp: kp, actor: "1547-2", via: "dev", signer: "dev"}
	build := func(vars map[string]string) (*envelope.Envelope, *envelope.Envelope, error) {
		e := &env{ctx: context.Background(), options: options{Now: time.Now, Getenv: func(k string) string { return vars[k] }}}
		var out []*envelope.Envelope
		for range 2 {
			m, err := e.build(id, tilgang.TypeRequest, "1547-1", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
			if err != nil {
				return nil, nil, err
			}
			env, err := envelope.Decode(m.subject, m.raw)
			require.NoError(t, err)
			out = append(out, env)
		}
		return out[0], out[1], nil
	}

	a, b, err := build(nil)
	require.NoError(t, err)
	require.NoError(t, envelope.CheckTraceParent(a.TraceParent))
	require.Equal(t, a.TraceParent, b.TraceParent, "one trace for the run")
	c, _, err := build(nil)
	require.NoError(t, err)
	require.NotEqual(t, a.TraceParent, c.TraceParent, "a new trace for another run")
	require.True(t, strings.HasSuffix(a.TraceParent, "-01"), "sampled")

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	a, _, err = build(map[string]string{"TRACEPARENT": tp, "TRACESTATE": "rojo=1"})
	require.NoError(t, err)
	require.Equal(t, tp, a.TraceParent)
	require.Equal(t, "rojo=1", a.TraceState)

	_, _, err = build(map[string]string{"TRACEPARENT": "00-xyz"})
	require.ErrorContains(t, err, `TRACEPARENT: envelope: traceparent "00-xyz" is not a W3C traceparent`)
	_, _, err = build(map[string]string{"TRACEPARENT": tp, "TRACESTATE": "Rojo"})
	require.ErrorContains(t, err, `TRACESTATE: envelope: tracestate member "Rojo"`)
}
