package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/ror-ikt/tilgang"
)

// Method names, the last tokens of tilgang.api.<method>.
const (
	MethodStatus       = "status"
	MethodStatusMany   = "status.many"
	MethodGrants       = "grants"
	MethodGrant        = "grant"
	MethodOperation    = "operation"
	MethodTasks        = "tasks"
	MethodAudit        = "audit"
	MethodAuditVerify  = "audit.verify"
	MethodPolicyReload = "policy.reload"
)

// QueueGroup is the queue group every replica serves in.
const QueueGroup = "tilgang-api"

// MaxRequest is the largest request body accepted, in bytes.
const MaxRequest = 64 << 10

// MaxSkew is how far a request's time may be from the server's clock.
const MaxSkew = 5 * time.Minute

// MaxStatusMany is the most request ids one status.many call takes.
const MaxStatusMany = 1000

// MaxGrants is the most grants one grants answer holds: more are asked
// for in pages (GrantsArgs.Limit and After); without a limit a call that
// would answer more is refused.
const MaxGrants = 1000

// MaxManyWhy is the most bytes of a status's why that status.many answers
// (cut at a character boundary, with "…" after it); status answers all of
// it. With it an answer's size is bounded by its number of ids.
const MaxManyWhy = 1024

// PartHeader marks one part of a response split over several messages.
const PartHeader = "Tilgang-Part"

// Request is the body of a call (see the package doc).
type Request struct {
	Actor string          `json:"actor"`
	Via   string          `json:"via,omitempty"`
	Time  string          `json:"time"`
	Nonce string          `json:"nonce"`
	Args  json.RawMessage `json:"args"`
	Sig   string          `json:"sig"`
}

// Signer is the principal whose key signs: Via when set, else Actor.
func (r *Request) Signer() string {
	if r.Via != "" {
		return r.Via
	}
	return r.Actor
}

// Response is the body of an answer.
type Response struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ErrorBody      `json:"error,omitempty"`
}

// ErrorBody is a refused or failed call.
type ErrorBody struct {
	Kind    tilgang.Kind `json:"kind"`
	Message string       `json:"message"`
}

// SigningInput is what sig signs: method, actor, via, time and nonce joined
// by "\n", then "\n", then the exact bytes of args. None of the five fields
// can hold a "\n" once validated, so no field can shift into another.
func SigningInput(method, actor, via, t, nonce string, args []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(method) + len(actor) + len(via) + len(t) + len(nonce) + 5 + len(args))
	for _, s := range []string{method, actor, via, t, nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(args)
	return b.Bytes()
}

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)

var requestFields = map[string]bool{"actor": true, "via": true, "time": true, "nonce": true, "args": true, "sig": true}

// decodeRequest parses a request body strictly: one JSON object, only the
// six known keys, none repeated, string fields as JSON strings, args an
// object (or absent). It checks the shape of each field; the signature and
// the time window are the server's to check.
func decodeRequest(data []byte) (*Request, time.Time, error) {
	if len(data) > MaxRequest {
		return nil, time.Time{}, invalidf("request is %d bytes, more than the %d allowed", len(data), MaxRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, time.Time{}, invalidf("request must be a JSON object")
	}
	r := &Request{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, time.Time{}, invalidf("request is not valid JSON: %v", err)
		}
		k, _ := tok.(string)
		if !requestFields[k] {
			return nil, time.Time{}, invalidf("request has the unknown field %q", k)
		}
		if seen[k] {
			return nil, time.Time{}, invalidf("request field %q is repeated", k)
		}
		seen[k] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, time.Time{}, invalidf("request field %q is not valid JSON: %v", k, err)
		}
		if k == "args" {
			if !bytes.HasPrefix(raw, []byte("{")) {
				return nil, time.Time{}, invalidf("args must be a JSON object")
			}
			r.Args = raw
			continue
		}
		if !bytes.HasPrefix(raw, []byte(`"`)) {
			return nil, time.Time{}, invalidf("request field %q must be a string", k)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, time.Time{}, invalidf("request field %q is not a valid string", k)
		}
		switch k {
		case "actor":
			r.Actor = s
		case "via":
			r.Via = s
		case "time":
			r.Time = s
		case "nonce":
			r.Nonce = s
		case "sig":
			r.Sig = s
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, time.Time{}, invalidf("request is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, time.Time{}, invalidf("request has more after the JSON object")
	}
	if !tilgang.ValidToken(r.Actor) {
		return nil, time.Time{}, invalidf("actor %q must be a principal id: letters, digits, '-' or '_'", short(r.Actor))
	}
	if r.Via != "" && !tilgang.ValidToken(r.Via) {
		return nil, time.Time{}, invalidf("via %q must be a principal id: letters, digits, '-' or '_'", short(r.Via))
	}
	t, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return nil, time.Time{}, invalidf("time %q is not an RFC 3339 timestamp", short(r.Time))
	}
	if !nonceRE.MatchString(r.Nonce) {
		return nil, time.Time{}, invalidf("nonce must be 8 to 128 letters, digits, '-' or '_'")
	}
	return r, t, nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func invalidf(format string, args ...any) error {
	return tilgang.Errorf(tilgang.Invalid, "api: "+format, args...)
}

func deniedf(format string, args ...any) error {
	return tilgang.Errorf(tilgang.Denied, "api: "+format, args...)
}

// decodeArgs decodes a method's args into v, refusing unknown fields so a
// misspelt filter is not silently ignored.
func decodeArgs(args json.RawMessage, v any) error {
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("args: %v", trimJSON(err))
	}
	return nil
}

func trimJSON(err error) string {
	s := err.Error()
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func partHeader(i, n int) string { return fmt.Sprintf("%d/%d", i, n) }
