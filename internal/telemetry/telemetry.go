// Package telemetry carries W3C trace contexts through tilgang and, when
// the worker config asks for it, exports the spans over OTLP/HTTP
// (DESIGN.md "Operations over years": traces).
//
// A message's trace starts with its sender: the CLI, the portal and hr sync
// put a traceparent on every envelope (Outgoing), the one of the span the
// sender is in, else a new one. The intake opens a span for each message as
// the child of the sender's (Incoming), and keeps that span's context beside
// the message's stream sequence in the ledger; the executor, on any
// replica and however much later, opens each operation's span as its child,
// and the connectors' HTTP requests (Transport) and LDAP calls (Start) are
// spans below that, an HTTP request carrying its traceparent header on to
// the target system.
//
// Without `telemetry.otlp_endpoint` in the config nothing of this runs in
// the worker: no provider is made, the intake and executor have no tracer,
// no trace context is stored, and Transport and Start pass straight
// through, since the context holds no span.
package telemetry

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config is the worker config's `telemetry:` section:
//
//	telemetry:
//	  otlp_endpoint: https://otel-collector.ror-ikt.no:4318   # OTLP/HTTP; /v1/traces is added to a URL without a path
//	  service_name: tilgang                                  # default tilgang
//	  sample_ratio: 1                                        # of traces tilgang starts itself; default 1
//
// A message whose sender says sampled (or not) is traced as the sender
// says; sample_ratio applies only to traces that start in tilgang
// (messages without a traceparent). Headers (an API key for the
// collector), client certificates and timeouts come from the standard
// OTEL_EXPORTER_OTLP_* environment variables, so no secret is written in
// the config; the endpoint itself only from here, so that an environment
// variable alone never turns export on.
type Config struct {
	OTLPEndpoint string   `yaml:"otlp_endpoint"`
	ServiceName  string   `yaml:"service_name"`
	SampleRatio  *float64 `yaml:"sample_ratio"`
}

// Enabled reports whether spans are exported.
func (c *Config) Enabled() bool { return c != nil && c.OTLPEndpoint != "" }

// Check calls add for each problem, with the field's name under telemetry.
func (c *Config) Check(add func(field, format string, args ...any)) {
	if c == nil {
		return
	}
	if c.OTLPEndpoint == "" {
		if c.ServiceName != "" || c.SampleRatio != nil {
			add("otlp_endpoint", "missing: the OTLP/HTTP endpoint of the collector (e.g. https://otel-collector:4318); without it nothing is exported")
		}
	} else if msg := checkEndpoint(c.OTLPEndpoint); msg != "" {
		add("otlp_endpoint", "%s", msg)
	}
	if c.ServiceName != "" && strings.TrimSpace(c.ServiceName) != c.ServiceName {
		add("service_name", "%q has white space around it", c.ServiceName)
	}
	if r := c.SampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		add("sample_ratio", "%v is not between 0 and 1", *r)
	}
}

func checkEndpoint(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q is not an http:// or https:// URL (OTLP/HTTP, port 4318 by custom)", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("%q names no host", s)
	}
	if u.User != nil {
		return "the URL holds a user or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS instead"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q has a query or fragment", s)
	}
	return ""
}

// Provider exports the spans of one process.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New makes the provider the config asks for; nil, and no error, when it
// asks for none. instance names the replica (service.instance.id).
func New(ctx context.Context, c *Config, instance string) (*Provider, error) {
	if !c.Enabled() {
		return nil, nil
	}
	endpoint := c.OTLPEndpoint
	if u, err := url.Parse(endpoint); err == nil && (u.Path == "" || u.Path == "/") {
		u.Path = "/v1/traces"
		endpoint = u.String()
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", endpoint, err)
	}
	name := c.ServiceName
	if name == "" {
		name = "tilgang"
	}
	ratio := 1.0
	if c.SampleRatio != nil {
		ratio = *c.SampleRatio
	}
	res := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.instance.id", instance))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return &Provider{tp: tp}, nil
}

// Tracer is the named tracer; nil from a nil Provider (tracing off).
func (p *Provider) Tracer(name string) trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tp.Tracer(name)
}

// Shutdown exports what is left and stops; nil Provider: nothing.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// ForceFlush exports the spans ended so far.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}

var tc propagation.TraceContext

// Outgoing is the traceparent and tracestate a sender puts on an envelope:
// those of the span in ctx, or a new trace (sampled) when ctx holds none,
// so that the worker's spans of every message share a trace with nothing
// but the message's sender.
func Outgoing(ctx context.Context) (traceparent, tracestate string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		sc = NewRoot()
	}
	return Format(sc)
}

// Format writes a span context as traceparent and tracestate.
func Format(sc trace.SpanContext) (traceparent, tracestate string) {
	if !sc.IsValid() {
		return "", ""
	}
	carrier := propagation.MapCarrier{}
	tc.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return carrier.Get("traceparent"), carrier.Get("tracestate")
}

// NewRoot is a new random span context, sampled, for a sender that is in
// no span.
func NewRoot() trace.SpanContext {
	var b [24]byte
	_, _ = rand.Read(b[:])
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], b[:16])
	copy(sid[:], b[16:])
	if !tid.IsValid() || !sid.IsValid() {
		tid[0], sid[0] = 1, 1
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

// Parse reads a traceparent and tracestate (as envelope.Decode checked
// them); an invalid span context when traceparent is empty or unreadable.
func Parse(traceparent, tracestate string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	return trace.SpanContextFromContext(tc.Extract(context.Background(), carrier))
}

// Incoming is ctx with the remote span context of traceparent and
// tracestate as the parent of the spans started under it (ctx unchanged
// when traceparent is empty or unreadable).
func Incoming(ctx context.Context, traceparent, tracestate string) context.Context {
	sc := Parse(traceparent, tracestate)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// TraceID is the hex trace id of a traceparent ("" when unreadable), for
// logs.
func TraceID(traceparent string) string {
	sc := Parse(traceparent, "")
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
