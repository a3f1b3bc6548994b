package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// With a tracer, each request to the portal is a span named by its route
// (not its path, which holds a person's id), and the message a form sends
// carries that span's trace; a traceparent the browser sends is ignored.
func TestPortalSpanCarriedByTheMessage(t *testing.T) {
	w := startWorld(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := w.portal(t, portal.Options{Tracer: tp.Tracer(telemetry.Scope)})
	c := signIn(t, h, "1547-2")

	res := do(h, http.MethodGet, "/people/1547-1", nil, c)
	require.Equal(t, http.StatusOK, res.StatusCode, bodyOf(t, res))
	r := request(http.MethodPost, "/requests", url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"bruker"}, "reason": {"ny i kassen"}})
	r.AddCookie(c)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	res = serve(h, r)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, bodyOf(t, res))

	names := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		names[s.Name()] = s
	}
	require.Contains(t, names, "portal GET /people/{person}", "named by the route")
	post, ok := names["portal POST /requests"]
	require.True(t, ok, "the form's span: %v", names)
	for n := range names {
		require.NotContains(t, n, "1547-1", "no person id in a span's name")
	}
	require.NotEqual(t, "4bf92f3577b34da6a3ce929d0e0e4736", post.SpanContext().TraceID().String(), "the browser's traceparent is not followed")

	js, err := w.JS.Stream(context.Background(), streams.In)
	require.NoError(t, err)
	m, err := js.GetLastMsgForSubject(context.Background(), "tilgang.in.>")
	require.NoError(t, err)
	var env envelope.Envelope
	require.NoError(t, json.Unmarshal(m.Data, &env))
	require.Equal(t, "ny i kassen", func() string {
		var req envelope.Request
		require.NoError(t, json.Unmarshal(env.Data, &req))
		return req.Reason
	}(), "the last message in is the form's")
	require.Equal(t, post.SpanContext().TraceID().String(), telemetry.TraceID(env.TraceParent), "the message carries the portal's trace")
}
