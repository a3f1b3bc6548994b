package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// kv is one top-level member of a test document, its value as raw JSON.
type kv struct{ k, v string }

type doc []kv

func (d doc) set(k, v string) doc {
	out := append(doc(nil), d...)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
			return out
		}
	}
	return append(out, kv{k, v})
}

func (d doc) del(k string) doc {
	var out doc
	for _, m := range d {
		if m.k != k {
			out = append(out, m)
		}
	}
	return out
}

func (d doc) bytes() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + m.k + `":` + m.v)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func str(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const person = "1547-10234"

var reqID = strings.Repeat("ab", 32)

const hrData = `{"version":7,"person":{"id":"1547-10234","given_name":"Åse","family_name":"Øvergård-Bø","email":"ase@aukra.kommune.no","municipality":"1547","employments":[` +
	`{"id":"10234-1","primary":true,"percent":80,"org_unit":"oppvekst/aukra-skule","position":"lærer","manager":"1547-10001","start":"2024-08-01","end":null},` +
	`{"id":"10234-2","primary":false,"percent":20,"org_unit":"helse/hjemmetjenesten","position":"assistent","manager":"1547-10300","start":"2025-01-01","end":"2025-12-31"}]}}`

// validData is valid data for each type in.
var validData = map[string]string{
	tilgang.TypeRequest:  `{"action":"grant","system":"gerica","role":"bruker","reason":"Ny i hjemmetjenesten","valid_until":"2026-06-30"}`,
	tilgang.TypeDecision: `{"request_id":"` + reqID + `","decision":"approve","comment":""}`,
	tilgang.TypeTraining: `{"system":"gerica","role":"bruker"}`,
	tilgang.TypeTask:     `{"operation_id":"op-17","outcome":"done","comment":"konto laget"}`,
	tilgang.TypeRetry:    `{"grant_id":"g-42","comment":"AD var nede"}`,
	tilgang.TypeCancel:   `{"grant_id":"g-42"}`,
	tilgang.TypeHRJoiner: hrData,
	tilgang.TypeHRMover:  hrData,
	tilgang.TypeHRLeaver: hrData,

	tilgang.TypeReviewDecided: `{"campaign_id":"rc-1","grant_id":"g-42","decision":"remove","comment":"sluttet i avdelingen"}`,
}

func base(typ string) doc {
	return doc{
		{"specversion", `"1.0"`},
		{"id", `"msg-1"`},
		{"source", `"https://portal.ror.test"`},
		{"type", str(typ)},
		{"subject", str(person)},
		{"time", `"2025-03-01T08:30:00+01:00"`},
		{"actor", `"1547-10001"`},
		{"via", `"portal"`},
		{"data", validData[typ]},
	}
}

func natsSubject(t *testing.T, typ string) string {
	s, err := SubjectFor(typ, person)
	require.NoError(t, err)
	return s
}

func requireInvalid(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "error %q", err)
	require.Contains(t, err.Error(), want)
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	date := func(s string) tilgang.Date {
		d, err := tilgang.ParseDate(s)
		require.NoError(t, err)
		return d
	}
	tests := []struct {
		name    string
		typ     string
		payload any
	}{
		{"request", tilgang.TypeRequest, &Request{Action: "grant", System: "gerica", Role: "bruker", Reason: "Ny i hjemmetjenesten", ValidUntil: date("2026-06-30")}},
		{"decision", tilgang.TypeDecision, &Decision{RequestID: reqID, Decision: "approve"}},
		{"training", tilgang.TypeTraining, &Training{System: "gerica", Role: "bruker"}},
		{"task", tilgang.TypeTask, &Task{OperationID: "op-17", Outcome: "done", Comment: "konto laget"}},
		{"retry", tilgang.TypeRetry, &Operator{GrantID: "g-42", Comment: "AD var nede"}},
		{"cancel", tilgang.TypeCancel, &Operator{GrantID: "g-42"}},
		{"hr joiner", tilgang.TypeHRJoiner, nil},
		{"hr mover", tilgang.TypeHRMover, nil},
		{"hr leaver", tilgang.TypeHRLeaver, nil},
		{"review decided", tilgang.TypeReviewDecided, &ReviewDecision{CampaignID: "rc-1", GrantID: "g-42", Decision: "remove", Comment: "sluttet i avdelingen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := base(tt.typ).bytes()
			e, err := Decode(natsSubject(t, tt.typ), raw)
			require.NoError(t, err)
			require.Equal(t, "1.0", e.SpecVersion)
			require.Equal(t, "msg-1", e.ID)
			require.Equal(t, "https://portal.ror.test", e.Source)
			require.Equal(t, tt.typ, e.Type)
			require.Equal(t, person, e.Subject)
			require.Equal(t, "2025-03-01T08:30:00+01:00", e.Time)
			require.Equal(t, "1547-10001", e.Actor)
			require.Equal(t, "portal", e.Via)
			require.Equal(t, "portal", e.Signer())
			require.Equal(t, validData[tt.typ], string(e.Data))
			if tt.payload != nil {
				require.Equal(t, tt.payload, e.Payload)
				return
			}
			hr, ok := e.Payload.(*HR)
			require.True(t, ok, "payload %T", e.Payload)
			require.EqualValues(t, 7, hr.Version)
			require.Equal(t, person, hr.Person.ID)
			require.Len(t, hr.Person.Employments, 2)
			require.Equal(t, date("2025-12-31"), hr.Person.Employments[1].End)
			require.True(t, hr.Person.Employments[1].Start.Before(hr.Person.Employments[1].End))
		})
	}
}

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A W3C trace context is taken, written back, and left out of what is
// signed: the same message with and without it has one signing input, key
// and Nats-Msg-Id.
func TestDecodeTraceContext(t *testing.T) {
	t.Parallel()
	plain := base(tilgang.TypeTraining)
	traced := plain.set("traceparent", str(traceParent)).set("tracestate", `"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,tenant@vendor=x y"`)
	e, err := Decode("", traced.bytes())
	require.NoError(t, err)
	require.Equal(t, traceParent, e.TraceParent)
	require.Equal(t, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,tenant@vendor=x y", e.TraceState)
	p, err := Decode("", plain.bytes())
	require.NoError(t, err)
	require.Equal(t, p.SigningInput(), e.SigningInput())
	require.Equal(t, p.Key(), e.Key())
	require.Equal(t, p.MsgID(), e.MsgID())

	out, err := e.Marshal()
	require.NoError(t, err)
	again, err := Decode("", out)
	require.NoError(t, err)
	require.Equal(t, e, again)
	require.Contains(t, string(out), `"traceparent":"`+traceParent+`"`)

	c, signable := Claimed(traced.bytes())
	require.True(t, signable)
	require.Equal(t, e.SigningInput(), c.SigningInput())
	// A malformed trace context makes the document invalid for a reason
	// its signature does not cover.
	_, signable = Claimed(plain.set("traceparent", `"00-x"`).bytes())
	require.False(t, signable)
	_, signable = Claimed(plain.set("tracestate", `"a=1"`).bytes())
	require.False(t, signable)
}

func TestDecodeOptionalAttributes(t *testing.T) {
	t.Parallel()
	raw := base(tilgang.TypeTraining).del("time").del("via").bytes()
	e, err := Decode("", raw)
	require.NoError(t, err)
	require.Empty(t, e.Time)
	require.Empty(t, e.Via)
	require.Equal(t, "1547-10001", e.Signer())
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	req := base(tilgang.TypeRequest)
	long := strings.Repeat("x", 257)
	tests := []struct {
		name string
		nats string // "" = the right subject for the document's type
		raw  []byte
		want string
	}{
		{"too big", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"`+strings.Repeat("a", MaxSize)+`"}`).bytes(), "more than the 65536 allowed"},
		{"not utf-8", "", []byte("{\"id\":\"\xff\"}"), "not valid UTF-8"},
		{"not json", "", []byte(`{"id":`), "not valid JSON"},
		{"empty", "", []byte(``), "document is empty"},
		{"array", "", []byte(`[1,2]`), "must be a JSON object"},
		{"string", "", []byte(`"x"`), "must be a JSON object"},
		{"null", "", []byte(`null`), "must be a JSON object"},
		{"trailing value", "", append(req.bytes(), []byte(` {}`)...), "after top-level value"},
		{"duplicate attribute", "", append(req.bytes()[:len(req.bytes())-1], []byte(`,"actor":"1547-99999"}`)...), `key "actor" is repeated`},
		{"duplicate key in data", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"x","role":"admin"}`).bytes(), `key "role" is repeated in data`},
		{"duplicate key deep in data", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"primary":true,`, `"primary":true,"primary":false,`, 1)).bytes(), `key "primary" is repeated in data.person.employments[0]`},
		{"unknown attribute", "", req.set("traceid", `"abc"`).bytes(), `unknown attribute "traceid"`},
		{"short traceparent", "", req.set("traceparent", `"00-abc"`).bytes(), `traceparent "00-abc" is not a W3C traceparent`},
		{"traceparent upper case", "", req.set("traceparent", `"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"`).bytes(), `the trace id "4BF92F3577B34DA6A3CE929D0E0E4736" is not lower-case hex`},
		{"traceparent version ff", "", req.set("traceparent", `"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`).bytes(), "version ff is not accepted, only 00"},
		{"traceparent zero trace id", "", req.set("traceparent", `"00-00000000000000000000000000000000-00f067aa0ba902b7-01"`).bytes(), "the trace id is all zeros"},
		{"traceparent zero parent id", "", req.set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"`).bytes(), "the parent id is all zeros"},
		{"traceparent bad flags", "", req.set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"`).bytes(), `the flags "0x" is not lower-case hex`},
		{"traceparent longer", "", req.set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"`).bytes(), "is not a W3C traceparent"},
		{"traceparent number", "", req.set("traceparent", `1`).bytes(), "traceparent must be a string, not a number"},
		{"empty traceparent", "", req.set("traceparent", `""`).bytes(), "attribute traceparent is empty: leave it out"},
		{"tracestate alone", "", req.set("tracestate", `"congo=t61rcWkgMzE"`).bytes(), "tracestate is given without traceparent"},
		{"tracestate bad member", "", req.set("traceparent", str(traceParent)).set("tracestate", `"congo"`).bytes(), `tracestate member "congo" is not a W3C key=value list member`},
		{"tracestate bad key", "", req.set("traceparent", str(traceParent)).set("tracestate", `"Congo=1"`).bytes(), `tracestate member "Congo=1"`},
		{"tracestate tab", "", req.set("traceparent", str(traceParent)).set("tracestate", `"a=1,\tb=2"`).bytes(), "tracestate member"},
		{"tracestate long", "", req.set("traceparent", str(traceParent)).set("tracestate", str("a="+strings.Repeat("x", 200)+",b="+strings.Repeat("x", 200)+",c="+strings.Repeat("x", 200))).bytes(), "tracestate is 608 bytes, more than 512"},
		{"attribute case", "", req.set("Actor", `"x"`).bytes(), `unknown attribute "Actor"`},
		{"missing specversion", "", req.del("specversion").bytes(), "specversion is missing"},
		{"wrong specversion", "", req.set("specversion", `"0.3"`).bytes(), `specversion "0.3" must be "1.0"`},
		{"specversion number", "", req.set("specversion", `1.0`).bytes(), "specversion must be a string, not a number"},
		{"missing id", "", req.del("id").bytes(), "attribute id is missing"},
		{"empty id", "", req.set("id", `""`).bytes(), "attribute id is empty"},
		{"null id", "", req.set("id", `null`).bytes(), "id must be a string, not null"},
		{"long id", "", req.set("id", str(long)).bytes(), "id is 257 characters, more than 256"},
		{"newline in id", "", req.set("id", `"a\nb"`).bytes(), `id "a\nb" contains the control character U+000A`},
		{"control in source", "", req.set("source", `"a\u0000b"`).bytes(), "source"},
		{"missing source", "", req.del("source").bytes(), "attribute source is missing"},
		{"missing type", "", req.del("type").bytes(), "attribute type is missing"},
		{"unknown type", "", req.set("type", `"no.tilgang.access.stolen.v1"`).bytes(), `type "no.tilgang.access.stolen.v1" is not a known message type`},
		{"missing subject", "", req.del("subject").bytes(), "attribute subject is missing"},
		{"subject not token", "", req.set("subject", `"a.b"`).bytes(), `subject "a.b" must be one subject token`},
		{"subject wildcard", "", req.set("subject", `"*"`).bytes(), `subject "*" must be one subject token`},
		{"missing actor", "", req.del("actor").bytes(), "attribute actor is missing"},
		{"actor not token", "", req.set("actor", `"kari nordmann"`).bytes(), `actor "kari nordmann" must be one subject token`},
		{"via not token", "", req.set("via", `"por>tal"`).bytes(), `via "por>tal" must be one subject token`},
		{"empty via", "", req.set("via", `""`).bytes(), "attribute via is empty: leave it out"},
		{"empty time", "", req.set("time", `""`).bytes(), "attribute time is empty: leave it out"},
		{"bad time", "", req.set("time", `"2025-03-01 08:30"`).bytes(), `time "2025-03-01 08:30" is not an RFC 3339 timestamp`},
		{"time without zone", "", req.set("time", `"2025-03-01T08:30:00"`).bytes(), "is not an RFC 3339 timestamp"},
		{"empty actorsig", "", req.set("actorsig", `""`).bytes(), "attribute actorsig is empty"},
		{"missing data", "", req.del("data").bytes(), "attribute data is missing"},
		{"data string", "", req.set("data", `"x"`).bytes(), "data must be a JSON object, not a string"},
		{"data null", "", req.set("data", `null`).bytes(), "data must be a JSON object, not null"},
		{"data array", "", req.set("data", `[]`).bytes(), "data must be a JSON object, not an array"},

		{"nats kind mismatch", "tilgang.in.decision." + person, req.bytes(), `NATS subject "tilgang.in.decision.1547-10234" does not fit type no.tilgang.access.requested.v1: want tilgang.in.request.<person>`},
		{"nats person mismatch", "tilgang.in.request.1547-99999", req.bytes(), `names person "1547-99999" but the envelope's subject is "1547-10234"`},
		{"nats extra token", "tilgang.in.request.x." + person, req.bytes(), `names person "x.1547-10234"`},
		{"nats not in", "tilgang.event.request." + person, req.bytes(), "does not fit type"},
		{"nats hr for request", "tilgang.in.hr." + person, req.bytes(), "want tilgang.in.request.<person>"},
		{"nats operator for hr", "tilgang.in.operator." + person, base(tilgang.TypeHRLeaver).bytes(), "want tilgang.in.hr.<person>"},

		{"request unknown field", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"x","urgent":true}`).bytes(), `data has the unknown field "urgent"`},
		{"request field case", "", req.set("data", `{"Action":"grant","system":"gerica","role":"bruker","reason":"x"}`).bytes(), `data has the unknown field "Action"`},
		{"request bad action", "", req.set("data", `{"action":"steal","system":"gerica","role":"bruker","reason":"x"}`).bytes(), `data.action "steal" must be "grant" or "revoke"`},
		{"request action number", "", req.set("data", `{"action":1,"system":"gerica","role":"bruker","reason":"x"}`).bytes(), "data.action must be a string, not a number"},
		{"request bad system", "", req.set("data", `{"action":"grant","system":"ger ica","role":"bruker","reason":"x"}`).bytes(), `data.system "ger ica" must be one subject token`},
		{"request empty role", "", req.set("data", `{"action":"grant","system":"gerica","role":"","reason":"x"}`).bytes(), `data.role "" must be one subject token`},
		{"grant without reason", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker"}`).bytes(), "data.reason is empty"},
		{"grant with blank reason", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":" \n "}`).bytes(), "data.reason is empty"},
		{"reason too long", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"`+strings.Repeat("å", 2001)+`"}`).bytes(), "data.reason is 2001 characters, more than 2000"},
		{"reason control", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"a\u001bb"}`).bytes(), "data.reason"},
		{"bad valid_until", "", req.set("data", `{"action":"grant","system":"gerica","role":"bruker","reason":"x","valid_until":"30.06.2026"}`).bytes(), `data.valid_until "\"30.06.2026\"": date "30.06.2026" is not YYYY-MM-DD`},
		{"revoke with valid_until", "", req.set("data", `{"action":"revoke","system":"gerica","role":"bruker","valid_until":"2026-06-30"}`).bytes(), "data.valid_until 2026-06-30 is only for grant requests"},

		{"decision bad request_id", "", base(tilgang.TypeDecision).set("data", `{"request_id":"`+strings.ToUpper(reqID)+`","decision":"approve"}`).bytes(), "data.request_id"},
		{"decision short request_id", "", base(tilgang.TypeDecision).set("data", `{"request_id":"abc","decision":"approve"}`).bytes(), `data.request_id "abc" must be 64 lower-case hex digits`},
		{"decision bad decision", "", base(tilgang.TypeDecision).set("data", `{"request_id":"`+reqID+`","decision":"maybe"}`).bytes(), `data.decision "maybe" must be "approve" or "deny"`},
		{"deny without comment", "", base(tilgang.TypeDecision).set("data", `{"request_id":"`+reqID+`","decision":"deny"}`).bytes(), "data.comment is empty: a deny must say why"},

		{"deny with blank comment", "", base(tilgang.TypeDecision).set("data", `{"request_id":"`+reqID+`","decision":"deny","comment":"  "}`).bytes(), "data.comment is empty"},
		{"training bad role", "", base(tilgang.TypeTraining).set("data", `{"system":"gerica","role":"a/b"}`).bytes(), `data.role "a/b"`},
		{"training missing system", "", base(tilgang.TypeTraining).set("data", `{"role":"bruker"}`).bytes(), `data.system ""`},

		{"task bad outcome", "", base(tilgang.TypeTask).set("data", `{"operation_id":"op-1","outcome":"maybe"}`).bytes(), `data.outcome "maybe" must be "done" or "failed"`},
		{"task empty operation_id", "", base(tilgang.TypeTask).set("data", `{"operation_id":"","outcome":"done"}`).bytes(), `data.operation_id ""`},
		{"task long operation_id", "", base(tilgang.TypeTask).set("data", `{"operation_id":"`+strings.Repeat("a", 129)+`","outcome":"done"}`).bytes(), "data.operation_id is 129 characters, more than 128"},

		{"operator bad grant_id", "", base(tilgang.TypeRetry).set("data", `{"grant_id":"g 1"}`).bytes(), `data.grant_id "g 1"`},
		{"operator grant_id number", "", base(tilgang.TypeCancel).set("data", `{"grant_id":42}`).bytes(), "data.grant_id must be a string, not a number"},

		{"hr version zero", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"version":7`, `"version":0`, 1)).bytes(), "data.version 0 must be greater than 0"},
		{"hr version fraction", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"version":7`, `"version":7.5`, 1)).bytes(), `data.version "7.5" must be a whole number`},
		{"hr version string", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"version":7`, `"version":"7"`, 1)).bytes(), `data.version "\"7\"" must be a whole number`},
		{"hr person for someone else", "tilgang.in.hr.1547-99999", base(tilgang.TypeHRMover).set("subject", `"1547-99999"`).bytes(), `data.person.id "1547-10234" is not the envelope's subject "1547-99999"`},
		{"hr person invalid", "", base(tilgang.TypeHRMover).set("data", strings.Replace(hrData, `"given_name":"Åse"`, `"given_name":""`, 1)).bytes(), "data.person.given_name is empty"},
		{"hr employment end before start", "", base(tilgang.TypeHRLeaver).set("data", strings.Replace(hrData, `"end":"2025-12-31"`, `"end":"2024-12-31"`, 1)).bytes(), "data.person.employments[1].end 2024-12-31 is before start 2025-01-01"},
		{"hr unknown person field", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"municipality":"1547"`, `"municipality":"1547","fnr":"01017012345"`, 1)).bytes(), `data.person has the unknown field "fnr"`},
		{"hr unknown employment field", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"primary":true`, `"primary":true,"salary":1`, 1)).bytes(), `data.person.employments[0] has the unknown field "salary"`},
		{"hr bad start", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"start":"2024-08-01"`, `"start":"2024-02-30"`, 1)).bytes(), "data.person.employments[0].start"},
		{"hr percent string", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"percent":80`, `"percent":"80"`, 1)).bytes(), `data.person.employments[0].percent "\"80\"" must be a number`},
		{"hr employments object", "", base(tilgang.TypeHRJoiner).set("data", `{"version":1,"person":{"id":"1547-10234","employments":{}}}`).bytes(), "data.person.employments must be an array, not an object"},
		{"hr primary string", "", base(tilgang.TypeHRJoiner).set("data", strings.Replace(hrData, `"primary":true`, `"primary":"yes"`, 1)).bytes(), "data.person.employments[0].primary must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nats := tt.nats
			if nats == "" {
				nats = "tilgang.in.request." + person
				var m struct{ Type string }
				if json.Unmarshal(tt.raw, &m) == nil {
					if s, err := SubjectFor(m.Type, person); err == nil {
						nats = s
					}
				}
			}
			_, err := Decode(nats, tt.raw)
			requireInvalid(t, err, tt.want)
			_, err = Decode("", tt.raw)
			if !strings.HasPrefix(tt.name, "nats") {
				requireInvalid(t, err, tt.want)
			}
		})
	}
}

func TestDecodeKeepsDataBytes(t *testing.T) {
	t.Parallel()
	data := "{ \"system\" : \"gerica\",\n\t\"role\":\"bru\\u006ber\" }"
	raw := base(tilgang.TypeTraining).set("data", data).bytes()
	e, err := Decode("", raw)
	require.NoError(t, err)
	require.Equal(t, data, string(e.Data))
	require.Equal(t, &Training{System: "gerica", Role: "bruker"}, e.Payload)

	out, err := e.Marshal()
	require.NoError(t, err)
	require.Contains(t, string(out), data)
	again, err := Decode("", out)
	require.NoError(t, err)
	require.Equal(t, e, again)
	require.Equal(t, e.SigningInput(), again.SigningInput())
}

func TestSigningInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    Envelope
		want string
	}{
		{"all seven", Envelope{ID: "i", Source: "s", Type: "t", Subject: "p", Time: "2025-03-01T08:30:00+01:00", Actor: "a", Via: "v", Data: json.RawMessage(`{"x": 1}`)},
			"i\ns\nt\np\n2025-03-01T08:30:00+01:00\na\nv\n{\"x\": 1}"},
		{"missing time and via", Envelope{ID: "i", Source: "s", Type: "t", Subject: "p", Actor: "a", Data: json.RawMessage(`{}`)},
			"i\ns\nt\np\n\na\n\n{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, string(tt.e.SigningInput()))
		})
	}
}

func TestKeyHash(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("portal\nhttps://portal.ror.test\nmsg-1"))
	want := hex.EncodeToString(sum[:])
	require.Equal(t, want, KeyHash("portal", "https://portal.ror.test", "msg-1"))
	require.True(t, IsRequestID(want))

	e, err := Decode("", base(tilgang.TypeTraining).bytes())
	require.NoError(t, err)
	require.Equal(t, want, e.Key(), "the key uses via, the signer")
	e.Via = ""
	require.Equal(t, KeyHash("1547-10001", "https://portal.ror.test", "msg-1"), e.Key())
}

func TestMsgIDHash(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("portal\nhttps://portal.ror.test\nmsg-1\nc2ln"))
	want := hex.EncodeToString(sum[:])
	require.Equal(t, want, MsgIDHash("portal", "https://portal.ror.test", "msg-1", "c2ln"))

	e, err := Decode("", base(tilgang.TypeTraining).bytes())
	require.NoError(t, err)
	e.ActorSig = "c2ln"
	require.Equal(t, want, e.MsgID(), "the Nats-Msg-Id uses via, the signer, and the signature")
	require.NotEqual(t, e.Key(), e.MsgID(), "a sender's request id must not be its Nats-Msg-Id: anyone can predict it")
	e.ActorSig = "b3RoZXI"
	require.NotEqual(t, want, e.MsgID())
}

func TestSignMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, make([]byte, 32))
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(pub))
	require.NoError(t, err)

	for _, typ := range InTypes {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			e := &Envelope{ID: "id<&>\"1\"", Source: "cli/ø", Type: typ, Subject: person, Actor: "dev", Via: "dev",
				Time: "2025-03-01T08:30:00.123456789Z", Data: json.RawMessage(validData[typ])}
			require.NoError(t, e.Sign(kp))
			sig, err := base64.RawURLEncoding.DecodeString(e.ActorSig)
			require.NoError(t, err)
			require.True(t, ed25519.Verify(raw, e.SigningInput(), sig))

			out, err := e.Marshal()
			require.NoError(t, err)
			got, err := Decode(natsSubject(t, typ), out)
			require.NoError(t, err)
			require.Equal(t, e.SigningInput(), got.SigningInput())
			require.Equal(t, e.ActorSig, got.ActorSig)
			require.NotNil(t, got.Payload)
		})
	}
}

func TestSetData(t *testing.T) {
	t.Parallel()
	e := &Envelope{ID: "1", Source: "cli", Type: tilgang.TypeRequest, Subject: person, Actor: "dev"}
	require.NoError(t, e.SetData(Request{Action: "grant", System: "gerica", Role: "bruker", Reason: "<ny>"}))
	out, err := e.Marshal()
	require.NoError(t, err)
	got, err := Decode("", out)
	require.NoError(t, err)
	require.Equal(t, "<ny>", got.Payload.(*Request).Reason)
	require.Equal(t, `{"action":"grant","system":"gerica","role":"bruker","reason":"\u003cny\u003e","valid_until":null}`, string(got.Data))

	requireInvalid(t, e.SetData([]int{1}), "data must be a JSON object")
}

func TestMarshalRefusesBadData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want string
	}{
		{"missing", "", "data is not valid JSON"},
		{"broken", `{"a":`, "data is not valid JSON"},
		{"array", `[1]`, "data must be a JSON object"},
		{"space", ` {}`, "white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &Envelope{ID: "1", Source: "s", Type: tilgang.TypeTraining, Subject: person, Actor: "a", Data: json.RawMessage(tt.data)}
			_, err := e.Marshal()
			requireInvalid(t, err, tt.want)
		})
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     string
		person  string
		want    string
		wantErr string
	}{
		{"request", tilgang.TypeRequest, person, "tilgang.in.request.1547-10234", ""},
		{"decision", tilgang.TypeDecision, person, "tilgang.in.decision.1547-10234", ""},
		{"training", tilgang.TypeTraining, person, "tilgang.in.training.1547-10234", ""},
		{"task", tilgang.TypeTask, person, "tilgang.in.task.1547-10234", ""},
		{"retry", tilgang.TypeRetry, person, "tilgang.in.operator.1547-10234", ""},
		{"cancel", tilgang.TypeCancel, person, "tilgang.in.operator.1547-10234", ""},
		{"joiner", tilgang.TypeHRJoiner, person, "tilgang.in.hr.1547-10234", ""},
		{"mover", tilgang.TypeHRMover, person, "tilgang.in.hr.1547-10234", ""},
		{"leaver", tilgang.TypeHRLeaver, person, "tilgang.in.hr.1547-10234", ""},
		{"unknown type", "no.tilgang.x.v1", person, "", "not a known message type"},
		{"bad person", tilgang.TypeRequest, "a.>", "", `person "a.>" must be one subject token`},
		{"empty person", tilgang.TypeRequest, "", "", `person ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SubjectFor(tt.typ, tt.person)
			if tt.wantErr != "" {
				requireInvalid(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	s, err := EventSubject(tilgang.EvRequestRejected, "_")
	require.NoError(t, err)
	require.Equal(t, "tilgang.event.request.rejected._", s)
	_, err = EventSubject("request.stolen", person)
	requireInvalid(t, err, `event kind "request.stolen" is not known`)

	ev := base(tilgang.TypeRequest).
		set("type", str(EventType(tilgang.EvRequestRejected))).
		set("subject", `"_"`).
		set("data", `{"request_id":"`+reqID+`","reason":"unknown system"}`)
	e, err := Decode("tilgang.event.request.rejected._", ev.bytes())
	require.NoError(t, err)
	require.Nil(t, e.Payload)
	require.Equal(t, "no.tilgang.request.rejected.v1", e.Type)

	_, err = Decode("tilgang.event.grant.active._", ev.bytes())
	requireInvalid(t, err, "want tilgang.event.request.rejected.<person>")
	_, err = Decode("tilgang.in.request._", ev.bytes())
	requireInvalid(t, err, "does not fit type")
}
