package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/rest"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/cli"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/telemetry"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// receiver is an OTLP/HTTP trace receiver: it decodes each export request
// as a collector would and keeps the spans with their service name.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	names map[*tracepb.Span]string // service.name
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{names: map[*tracepb.Span]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces, application/x-protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ex collector.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &ex); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range ex.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					r.spans = append(r.spans, sp)
					r.names[sp] = service
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

// named are the spans received with this name, of the trace.
func (r *receiver) named(traceID, name string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, sp := range r.spans {
		if hex.EncodeToString(sp.TraceId) == traceID && sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

func (r *receiver) children(parent *tracepb.Span) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, sp := range r.spans {
		if bytes.Equal(sp.TraceId, parent.TraceId) && bytes.Equal(sp.ParentSpanId, parent.SpanId) {
			out = append(out, sp)
		}
	}
	return out
}

func attr(sp *tracepb.Span, key string) string {
	for _, a := range sp.Attributes {
		if a.Key == key {
			if s := a.GetValue().GetStringValue(); s != "" {
				return s
			}
			return fmt.Sprint(a.GetValue().GetIntValue())
		}
	}
	return ""
}

// fagsystem answers the rest connector's account and membership requests
// and keeps the traceparent header of each.
type fagsystem struct {
	*httptest.Server
	mu     sync.Mutex
	parent map[string]string // "METHOD path" -> traceparent
}

func newFagsystem(t *testing.T) *fagsystem {
	f := &fagsystem{parent: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.parent[r.Method+" "+r.URL.Path] = r.Header.Get("traceparent")
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/users":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "u1"})
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/members"):
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{}`))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fagsystem) traceparent(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parent[key]
}

// One trace runs from `tilgang request grant` (its TRACEPARENT) through
// the worker's intake to the connector's calls and on into the target
// system's requests, exported over OTLP/HTTP: the intake span is the
// child of the sender's span, each connector call the child of the intake
// span, each HTTP request the child of its call, and the target system
// receives that request span as traceparent.
func TestTraceFromCLIToConnector(t *testing.T) {
	ctx := context.Background()
	recv := newReceiver(t)
	tp, err := telemetry.New(ctx, &telemetry.Config{OTLPEndpoint: recv.URL, ServiceName: "tilgang-test"}, "test-worker")
	require.NoError(t, err)
	t.Cleanup(func() { _ = tp.Shutdown(ctx) })

	f := newFagsystem(t)
	t.Setenv("TILGANG_TEST_TRACE_TOKEN", "s3cret")
	conn, err := rest.Open("gerica", rest.Config{
		BaseURL: f.URL + "/api/",
		Auth:    rest.Auth{Type: "bearer", TokenEnv: "TILGANG_TEST_TRACE_TOKEN"},
		Operations: rest.Operations{
			EnsureAccount: &rest.Request{Method: "POST", Path: "/users", Body: `{"employeeNumber": {{ .Person.ID | json }}}`,
				Success: []int{201}, Ref: map[string]string{"user_id": "id"}},
			Disable: &rest.Request{Method: "POST", Path: "/users/{{ .Ref.user_id | path }}/deactivate", Success: []int{204}},
			Enable:  &rest.Request{Method: "POST", Path: "/users/{{ .Ref.user_id | path }}/activate", Success: []int{204}},
			Grant: &rest.Request{Method: "POST", Path: "/roles/{{ .Entitlement | path }}/members", Body: `{"user": {{ .Ref.user_id | json }}}`,
				Success: []int{201}},
			Revoke: &rest.Request{Method: "DELETE", Path: "/roles/{{ .Entitlement | path }}/members/{{ .Ref.user_id | path }}", Success: []int{204}},
		},
	}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })

	cat := map[string]string{"gerica.yaml": `system: gerica
name: Gerica
owner: Helse
administrators: [1547-20001]
connectors: [gerica]
roles:
  - id: bruker
    entitlements: {gerica: [Gerica-Bruker]}
    requestable_by: [manager]
    approval: []
`}
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{Connectors: connectors.Set{"gerica": conn}, Catalogue: cat,
		Change: func(_ string, o *app.WorkerOptions) { o.Telemetry = tp }})
	people := testenv.People()
	e.Joiner(people...)
	employee := people[0]

	const traceID, senderSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	t.Setenv("TRACEPARENT", "00-"+traceID+"-"+senderSpan+"-01")
	t.Setenv("TILGANG_NATS", e.URL)
	t.Setenv("TILGANG_KEY", filepath.Join(e.Data, "keys", principals.DevSeedFile))
	var out, errOut bytes.Buffer
	code := cli.Main(ctx, []string{"request", "grant", "--person", employee.ID, "--system", "gerica", "--role", "bruker",
		"--reason", "ny i heimetenesta", "--as", "1547-2"}, &out, &errOut)
	require.Equal(t, 0, code, "stdout %s\nstderr %s", out.String(), errOut.String())
	e.Wait("grant.active", employee.ID, nil)
	require.NoError(t, tp.ForceFlush(ctx))

	intake := recv.named(traceID, "intake "+tilgang.TypeRequest)
	require.Len(t, intake, 1, "one intake span in the sender's trace")
	in := intake[0]
	require.Equal(t, senderSpan, hex.EncodeToString(in.ParentSpanId), "the intake span is the child of the sender's span")
	require.Equal(t, "tilgang-test", recv.names[in])
	require.Equal(t, tracepb.Span_SPAN_KIND_CONSUMER, in.Kind)
	require.Equal(t, "accepted", attr(in, "tilgang.outcome"))
	require.Len(t, attr(in, "tilgang.request_id"), 64)

	calls := map[string]*tracepb.Span{}
	for _, sp := range recv.children(in) {
		calls[sp.Name] = sp
	}
	for _, kind := range []string{"ensure_account", "grant"} {
		call := calls["connector "+kind]
		require.NotNil(t, call, "the %s call is the child of the intake span; children: %v", kind, calls)
		require.Equal(t, "gerica", attr(call, "tilgang.connector"))
		reqs := recv.children(call)
		require.Len(t, reqs, 1, "one HTTP request under the %s call", kind)
		req := reqs[0]
		require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, req.Kind)
		require.Equal(t, "HTTP POST", req.Name)
		path := attr(req, "url.path")
		require.Equal(t, "00-"+traceID+"-"+hex.EncodeToString(req.SpanId)+"-01", f.traceparent("POST "+path),
			"the target system got the request span as traceparent")
	}
	require.Equal(t, "201", attr(recv.children(calls["connector grant"])[0], "http.response.status_code"))
	require.Equal(t, "/api/roles/Gerica-Bruker/members", attr(recv.children(calls["connector grant"])[0], "url.path"))
}

// Without a provider nothing is traced: the intake and executor get no
// tracer and the target system sees no traceparent.
func TestNoTelemetryNoTraceparentDownstream(t *testing.T) {
	tp, err := telemetry.New(context.Background(), &telemetry.Config{}, "x")
	require.NoError(t, err)
	require.Nil(t, tp)
	require.Nil(t, tp.Tracer(telemetry.Scope))
	require.NoError(t, tp.Shutdown(context.Background()))

	f := newFagsystem(t)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, f.URL+"/api/users", nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: telemetry.Transport(nil), Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, f.traceparent("POST /api/users"))
}
