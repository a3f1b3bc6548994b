// Package envelope reads, validates, signs and writes the CloudEvents 1.0
// structured-mode JSON envelope that every message into tilgang and every
// event out of it travels in (DESIGN.md "Messages in", "Principals and
// signatures").
//
// Decode is strict, because a signature covers what the document says and
// different JSON parsers must not be able to read it differently:
//
//   - the document is at most MaxSize bytes of valid UTF-8 holding one JSON
//     object;
//   - a key repeated in any object, at any depth (also inside data), is
//     rejected: encoding/json would keep the last one, other parsers the
//     first;
//   - only the attributes of Envelope are accepted. CloudEvents allows
//     extension attributes, but tilgang's signature does not cover them, so
//     an unknown attribute is rejected rather than silently carried along.
//     The one extension taken is distributed tracing's traceparent and
//     tracestate (trace.go says why they may go unsigned), each checked to
//     its exact W3C form;
//   - attribute values must be JSON strings (null is not a string); time,
//     via, actorsig, traceparent and tracestate may be left out but, when
//     present, must not be empty;
//   - data must be a JSON object. Its bytes are kept exactly as they appear
//     (Envelope.Data) because actorsig covers them, and Marshal writes them
//     back verbatim;
//   - the typed payload (Envelope.Payload) takes object keys only exactly as
//     spelled in the schema: encoding/json on its own matches keys without
//     regard to case and would accept {"Action": ...}.
//
// Decode does not verify actorsig: that needs the principals file (package
// principals, Set.Verify).
//
// Events out travel in the same envelope. Their type is EventType(kind),
// e.g. "no.tilgang.request.rejected.v1", their NATS subject
// EventSubject(kind, person), and their data an object whose fields the
// publisher chooses (Payload stays nil for them).
package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
)

// MaxSize is the largest document accepted, in bytes.
const MaxSize = 64 << 10

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// maxAttr is the longest attribute value accepted, in characters.
const maxAttr = 256

// Envelope is one CloudEvents 1.0 structured-mode message.
type Envelope struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Subject     string          `json:"subject"`
	Time        string          `json:"time,omitempty"`
	Actor       string          `json:"actor"`
	Via         string          `json:"via,omitempty"`
	ActorSig    string          `json:"actorsig,omitempty"`
	TraceParent string          `json:"traceparent,omitempty"` // W3C trace context; not signed (trace.go)
	TraceState  string          `json:"tracestate,omitempty"`
	Data        json.RawMessage `json:"data"` // the exact bytes as they appear in the document
	Payload     any             `json:"-"`    // after Decode: *Request, *Decision, *Training, *Task, *Operator or *HR; nil for events out
}

// attributes are the known top-level keys, in the order Marshal writes them.
var attributes = []string{"specversion", "id", "source", "type", "subject", "time", "actor", "via", "actorsig", "traceparent", "tracestate", "data"}

// Decode parses and strictly validates one message that arrived on the NATS
// subject natsSubject ("" skips the subject check, e.g. for events read
// back). Every error is a *tilgang.Error of kind Invalid whose message names
// the attribute or field and the offending value.
func Decode(natsSubject string, raw []byte) (*Envelope, error) {
	if len(raw) > MaxSize {
		return nil, invalid("document is %d bytes, more than the %d allowed", len(raw), MaxSize)
	}
	if !utf8.Valid(raw) {
		return nil, invalid("document is not valid UTF-8")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, invalid("document is empty")
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return nil, invalid("document is not valid JSON: %s", strings.TrimPrefix(fmt.Sprint(err), "json: "))
	}
	if err := checkJSON(raw); err != nil {
		return nil, err
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil || attrs == nil {
		return nil, invalid("document must be a JSON object")
	}
	for k := range attrs {
		if !isAttribute(k) {
			return nil, invalid("unknown attribute %s (extension attributes are not accepted)", quote(k))
		}
	}

	e := &Envelope{}
	fields := []struct {
		name     string
		dst      *string
		optional bool
	}{
		{"specversion", &e.SpecVersion, false},
		{"id", &e.ID, false},
		{"source", &e.Source, false},
		{"type", &e.Type, false},
		{"subject", &e.Subject, false},
		{"time", &e.Time, true},
		{"actor", &e.Actor, false},
		{"via", &e.Via, true},
		{"actorsig", &e.ActorSig, true},
		{"traceparent", &e.TraceParent, true},
		{"tracestate", &e.TraceState, true},
	}
	for _, f := range fields {
		v, ok := attrs[f.name]
		if !ok {
			if f.optional {
				continue
			}
			return nil, invalid("attribute %s is missing", f.name)
		}
		if len(v) == 0 || v[0] != '"' {
			return nil, invalid("attribute %s must be a string, not %s", f.name, jsonKind(v))
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, invalid("attribute %s is not a valid JSON string", f.name)
		}
		if *f.dst == "" {
			if f.optional {
				return nil, invalid("attribute %s is empty: leave it out instead", f.name)
			}
			return nil, invalid("attribute %s is empty", f.name)
		}
		if f.dst == &e.TraceState {
			continue // longer than other attributes; checkTrace checks it
		}
		if err := checkText(f.name, *f.dst, maxAttr); err != nil {
			return nil, err
		}
	}
	if err := e.checkTrace(); err != nil {
		return nil, err
	}

	if e.SpecVersion != SpecVersion {
		return nil, invalid("specversion %s must be %q", quote(e.SpecVersion), SpecVersion)
	}
	for _, t := range []struct{ name, v string }{{"subject", e.Subject}, {"actor", e.Actor}, {"via", e.Via}} {
		if t.v != "" && !tilgang.ValidToken(t.v) {
			return nil, invalid("%s %s must be one subject token: letters, digits, '-' or '_'", t.name, quote(t.v))
		}
	}
	if e.Time != "" {
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			return nil, invalid("time %s is not an RFC 3339 timestamp", quote(e.Time))
		}
	}
	inKind, isIn := inKinds[e.Type]
	evKind, isEvent := eventKinds[e.Type]
	if !isIn && !isEvent {
		return nil, invalid("type %s is not a known message type", quote(e.Type))
	}

	data, ok := attrs["data"]
	if !ok {
		return nil, invalid("attribute data is missing")
	}
	if data[0] != '{' {
		return nil, invalid("data must be a JSON object, not %s", jsonKind(data))
	}
	e.Data = data

	if natsSubject != "" {
		if err := checkNATSSubject(natsSubject, e, inKind, evKind, isIn); err != nil {
			return nil, err
		}
	}
	if isIn {
		p, err := decodePayload(e)
		if err != nil {
			return nil, err
		}
		e.Payload = p
	}
	return e, nil
}

func checkNATSSubject(natsSubject string, e *Envelope, inKind, evKind string, isIn bool) error {
	var want string
	if isIn {
		want = "tilgang.in." + inKind + "."
	} else {
		want = "tilgang.event." + evKind + "."
	}
	person, ok := strings.CutPrefix(natsSubject, want)
	if !ok {
		return invalid("NATS subject %s does not fit type %s: want %s<person>", quote(natsSubject), e.Type, want)
	}
	if person != e.Subject {
		return invalid("NATS subject %s names person %s but the envelope's subject is %s", quote(natsSubject), quote(person), quote(e.Subject))
	}
	return nil
}

// Signer is the principal whose key signs the envelope: Via when set, else Actor.
func (e *Envelope) Signer() string {
	if e.Via != "" {
		return e.Via
	}
	return e.Actor
}

// SigningInput is what actorsig signs: id, source, type, subject, time,
// actor and via joined by "\n" (a missing one is empty), then "\n", then
// the exact bytes of data. Decode refuses control characters in attributes,
// so no attribute can hide a "\n" and shift the fields.
func (e *Envelope) SigningInput() []byte {
	var b bytes.Buffer
	b.Grow(len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) + len(e.Time) + len(e.Actor) + len(e.Via) + 7 + len(e.Data))
	for _, s := range []string{e.ID, e.Source, e.Type, e.Subject, e.Time, e.Actor, e.Via} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(e.Data)
	return b.Bytes()
}

// Sign sets ActorSig to the unpadded base64url Ed25519 signature of
// SigningInput by kp, which must be the key of Signer() (the caller's
// business: the envelope cannot know it). Set Data before signing.
func (e *Envelope) Sign(kp nkeys.KeyPair) error {
	if kp == nil {
		return tilgang.Errorf(tilgang.Invalid, "envelope: sign: no key")
	}
	sig, err := kp.Sign(e.SigningInput())
	if err != nil {
		return tilgang.Wrap(tilgang.Invalid, err, "envelope: sign")
	}
	e.ActorSig = base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

// SetData stores v, marshalled to JSON, as Data; the bytes are what a
// following Sign covers and what Marshal writes.
func (e *Envelope) SetData(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return tilgang.Wrap(tilgang.Invalid, err, "envelope: data")
	}
	if len(b) == 0 || b[0] != '{' {
		return invalid("data must be a JSON object, not %s", jsonKind(b))
	}
	e.Data = b
	return nil
}

// Marshal writes the envelope as structured-mode JSON. Data is written
// verbatim, so a signature still verifies on the result, and strings are
// escaped minimally, so a document that Decode accepted never grows.
// Marshal does not validate the attributes; Decode does.
func (e *Envelope) Marshal() ([]byte, error) {
	if !json.Valid(e.Data) {
		return nil, invalid("data is not valid JSON")
	}
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 || data[0] != '{' {
		return nil, invalid("data must be a JSON object, not %s", jsonKind(data))
	}
	if !bytes.Equal(data, e.Data) {
		// Surrounding white space would not survive a round trip and
		// would change the signing input.
		return nil, invalid("data has white space around the object")
	}
	spec := e.SpecVersion
	if spec == "" {
		spec = SpecVersion
	}
	vals := []struct {
		name, v  string
		optional bool
	}{
		{"specversion", spec, false},
		{"id", e.ID, false},
		{"source", e.Source, false},
		{"type", e.Type, false},
		{"subject", e.Subject, false},
		{"time", e.Time, true},
		{"actor", e.Actor, false},
		{"via", e.Via, true},
		{"actorsig", e.ActorSig, true},
		{"traceparent", e.TraceParent, true},
		{"tracestate", e.TraceState, true},
	}
	var b bytes.Buffer
	b.Grow(len(e.Data) + 512)
	b.WriteByte('{')
	for _, a := range vals {
		if a.optional && a.v == "" {
			continue
		}
		writeString(&b, a.name)
		b.WriteByte(':')
		writeString(&b, a.v)
		b.WriteByte(',')
	}
	b.WriteString(`"data":`)
	b.Write(e.Data)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeString writes s as a JSON string, escaping only what JSON requires.
func writeString(b *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&0xf])
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteString(`\ufffd`)
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
	b.WriteByte('"')
}

// KeyHash is the SHA-256 hex of signer, source and id joined by "\n": the
// idempotency key as one string, used as request_id.
func KeyHash(signer, source, id string) string {
	h := sha256.Sum256([]byte(signer + "\n" + source + "\n" + id))
	return hex.EncodeToString(h[:])
}

// Key is KeyHash(e.Signer(), e.Source, e.ID).
func (e *Envelope) Key() string { return KeyHash(e.Signer(), e.Source, e.ID) }

// MsgIDHash is the SHA-256 hex of signer, source, id and actorsig joined by
// "\n": the Nats-Msg-Id of a message in. The request id alone would not do:
// a sender's source and id are predictable, and anyone who may publish on
// tilgang.in could first publish junk under the Nats-Msg-Id the sender will
// use, so that JetStream drops the real message as a duplicate. Nobody but
// the signer knows the signature before the message is sent.
func MsgIDHash(signer, source, id, actorsig string) string {
	h := sha256.Sum256([]byte(signer + "\n" + source + "\n" + id + "\n" + actorsig))
	return hex.EncodeToString(h[:])
}

// MsgID is MsgIDHash(e.Signer(), e.Source, e.ID, e.ActorSig).
func (e *Envelope) MsgID() string { return MsgIDHash(e.Signer(), e.Source, e.ID, e.ActorSig) }

func isAttribute(k string) bool {
	for _, a := range attributes {
		if a == k {
			return true
		}
	}
	return false
}

// checkText refuses control characters (a "\n" would shift the fields of
// the signing input; others hide in logs) and values longer than max
// characters.
func checkText(name, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters, more than %d", name, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s %s contains the control character %U", name, quote(s), r)
		}
	}
	return nil
}

// checkFreeText is checkText for reasons and comments, where line breaks and
// tabs are allowed.
func checkFreeText(name, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters, more than %d", name, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return invalid("%s %s contains the control character %U", name, quote(s), r)
		}
	}
	return nil
}

// quote quotes a value for an error message, shortened so that a hostile
// document cannot flood the logs.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	r := []rune(s)
	return fmt.Sprintf("%q...", string(r[:max]))
}

func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func invalid(format string, args ...any) error {
	return tilgang.Errorf(tilgang.Invalid, "envelope: "+format, args...)
}

// Claimed reads the attributes of a document Decode refused, so that the
// rejection can name what its sender sent (DESIGN.md "Messages in": a
// sender must be able to match every rejection). It returns nil unless id,
// source, type, subject and actor are strings that Decode would take as
// attributes (no control characters, subject, actor and via subject
// tokens) and data is present: only then does SigningInput mean one thing,
// so that a signature that verifies over it is the sender's word for these
// very attributes. The returned envelope has no Payload.
//
// signable is false when what may make the document invalid lies outside
// what the signature covers (a key given twice, specversion, an extension
// attribute): anyone could make such a variant of another's valid message,
// so a signature that verifies over it must not let its rejection take
// that message's key; the claim is still worth naming.
func Claimed(raw []byte) (e *Envelope, signable bool) {
	if len(raw) > MaxSize || !utf8.Valid(raw) || !json.Valid(raw) {
		return nil, false
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil || attrs == nil {
		return nil, false
	}
	signable = checkJSON(raw) == nil
	for k := range attrs {
		if !isAttribute(k) {
			signable = false
		}
	}
	// The trace attributes lie outside what the signature covers too.
	var trace Envelope
	for _, a := range []struct {
		name string
		dst  *string
	}{{"traceparent", &trace.TraceParent}, {"tracestate", &trace.TraceState}} {
		if v, ok := attrs[a.name]; ok {
			if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, a.dst) != nil || *a.dst == "" {
				signable = false
			}
		}
	}
	if trace.checkTrace() != nil {
		signable = false
	}
	if v, ok := attrs["specversion"]; !ok || string(v) != `"`+SpecVersion+`"` {
		signable = false
	}
	e = &Envelope{SpecVersion: SpecVersion}
	for _, f := range []struct {
		name     string
		dst      *string
		optional bool
	}{{"id", &e.ID, false}, {"source", &e.Source, false}, {"type", &e.Type, false}, {"subject", &e.Subject, false},
		{"time", &e.Time, true}, {"actor", &e.Actor, false}, {"via", &e.Via, true}, {"actorsig", &e.ActorSig, true}} {
		v, ok := attrs[f.name]
		if !ok {
			if f.optional {
				continue
			}
			return nil, false
		}
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, f.dst) != nil || (*f.dst == "" && !f.optional) ||
			checkText(f.name, *f.dst, maxAttr) != nil {
			return nil, false
		}
	}
	for _, t := range []string{e.Subject, e.Actor, e.Via} {
		if t != "" && !tilgang.ValidToken(t) {
			return nil, false
		}
	}
	data, ok := attrs["data"]
	if !ok || len(data) == 0 {
		return nil, false
	}
	e.Data = data
	return e, signable
}
