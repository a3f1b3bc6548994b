package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang/internal/envelope"
)

func TestOutgoingAndParse(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc := Parse(tp, "rojo=1,congo=2")
	require.True(t, sc.IsValid())
	require.True(t, sc.IsRemote())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", sc.TraceID().String())
	gotTP, gotTS := Outgoing(trace.ContextWithSpanContext(context.Background(), sc))
	require.Equal(t, tp, gotTP)
	require.Equal(t, "rojo=1,congo=2", gotTS)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", TraceID(tp))

	// Outside a span: a new, sampled trace, in the form the envelope takes.
	a, _ := Outgoing(context.Background())
	b, _ := Outgoing(context.Background())
	require.NoError(t, envelope.CheckTraceParent(a))
	require.NotEqual(t, TraceID(a), TraceID(b))
	require.True(t, Parse(a, "").IsSampled())

	for _, bad := range []string{"", "00-x", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		require.False(t, Parse(bad, "").IsValid(), bad)
		require.Equal(t, context.Background(), Incoming(context.Background(), bad, ""))
		require.Empty(t, TraceID(bad))
	}
	require.Equal(t, sc.TraceID(), trace.SpanContextFromContext(Incoming(context.Background(), tp, "")).TraceID())
}

// Under a recording span an HTTP request is a client span of its own and
// carries it as traceparent; Start nests under it; outside one, both pass
// through.
func TestTransportAndStart(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "connector grant")
	hc := &http.Client{Transport: Transport(nil)}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/roles/x/members", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	lctx, ldap := Start(ctx, "LDAP", trace.SpanKindClient)
	require.NotEqual(t, ctx, lctx)
	End(ldap, errors.New("busy"))
	parent.End()

	spans := rec.Ended()
	require.Len(t, spans, 3)
	httpSpan := spans[0]
	require.Equal(t, "HTTP POST", httpSpan.Name())
	require.Equal(t, parent.SpanContext().SpanID(), httpSpan.Parent().SpanID())
	require.Equal(t, codes.Error, httpSpan.Status().Code, "a 502 is an error")
	require.Equal(t, []string{"00-" + parent.SpanContext().TraceID().String() + "-" + httpSpan.SpanContext().SpanID().String() + "-01"}, got)
	require.Equal(t, "LDAP", spans[1].Name())
	require.Equal(t, codes.Error, spans[1].Status().Code)
	require.Equal(t, "busy", spans[1].Status().Description)

	// No span: no header, no span.
	req, err = http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err = hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "", got[1])
	c, sp := Start(context.Background(), "LDAP", trace.SpanKindClient)
	require.Equal(t, context.Background(), c)
	require.False(t, sp.IsRecording())
	require.Len(t, rec.Ended(), 3)
}
