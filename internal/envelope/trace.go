package envelope

import (
	"regexp"
	"strings"
)

// The CloudEvents distributed-tracing extension: traceparent and
// tracestate carry a W3C Trace Context (https://www.w3.org/TR/trace-context/)
// from the sender to the intake, and from there to the connector calls a
// message leads to.
//
// Neither is covered by actorsig (SigningInput is fixed to seven attributes
// and data, and every sender, the HR feeds' adapters too, signs exactly
// that). They are safe to carry unsigned because nothing but tracing reads
// them: they decide nothing, are not chained in the audit, are no part of
// the idempotency key or Nats-Msg-Id, and are checked here to their exact
// W3C form, so the worst a party who may publish on tilgang.in can do
// with them is to file a copy of someone's message under another trace,
// and that copy is dropped as the duplicate it is.

// maxTraceState is the longest tracestate accepted, in bytes (the W3C limit
// a vendor must propagate is 512).
const maxTraceState = 512

var (
	traceStateKey   = regexp.MustCompile(`^(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$`)
	traceStateValue = regexp.MustCompile(`^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$`)
)

// CheckTraceParent checks a traceparent value: version 00, a 32-digit trace
// id and a 16-digit parent id, neither all zeros, and two digits of flags,
// all lower-case hex, joined by '-' ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").
func CheckTraceParent(s string) error {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return invalid("traceparent %s is not a W3C traceparent: want 00-<32 hex digits>-<16 hex digits>-<2 hex digits>", quote(s))
	}
	version, traceID, parentID, flags := s[:2], s[3:35], s[36:52], s[53:]
	for _, p := range []struct{ name, v string }{{"version", version}, {"trace id", traceID}, {"parent id", parentID}, {"flags", flags}} {
		if !isLowerHex(p.v) {
			return invalid("traceparent %s: the %s %q is not lower-case hex", quote(s), p.name, p.v)
		}
	}
	if version != "00" {
		return invalid("traceparent %s: version %s is not accepted, only 00", quote(s), version)
	}
	if strings.Trim(traceID, "0") == "" {
		return invalid("traceparent %s: the trace id is all zeros", quote(s))
	}
	if strings.Trim(parentID, "0") == "" {
		return invalid("traceparent %s: the parent id is all zeros", quote(s))
	}
	return nil
}

// CheckTraceState checks a tracestate value: at most 32 comma-separated
// key=value members in the W3C form, at most 512 bytes in all.
func CheckTraceState(s string) error {
	if len(s) > maxTraceState {
		return invalid("tracestate is %d bytes, more than %d", len(s), maxTraceState)
	}
	members := strings.Split(s, ",")
	if len(members) > 32 {
		return invalid("tracestate has %d members, more than 32", len(members))
	}
	for _, m := range members {
		// W3C allows spaces and tabs around members; tilgang takes spaces
		// only, as attributes hold no control characters.
		if m = strings.Trim(m, " "); m == "" {
			continue // W3C: empty members are allowed
		}
		k, v, ok := strings.Cut(m, "=")
		if !ok || !traceStateKey.MatchString(k) || !traceStateValue.MatchString(v) {
			return invalid("tracestate member %s is not a W3C key=value list member", quote(m))
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// checkTrace checks the trace attributes of a decoded envelope.
func (e *Envelope) checkTrace() error {
	if e.TraceParent != "" {
		if err := CheckTraceParent(e.TraceParent); err != nil {
			return err
		}
	}
	if e.TraceState != "" {
		if e.TraceParent == "" {
			return invalid("tracestate is given without traceparent")
		}
		if err := CheckTraceState(e.TraceState); err != nil {
			return err
		}
	}
	return nil
}
