package principals

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

// Key numbers of the verify fixture.
const (
	keyPortal   = 1 // service, on_behalf
	keyKari     = 2 // person
	keyHRFeed   = 3 // service, hr only
	keyPortal2  = 4 // service, on_behalf
	keyStranger = 9 // in no principals file
)

func verifySet(t testing.TB) *Set {
	t.Helper()
	s, err := New([]Principal{
		{ID: "portal", Kind: KindService, Key: pubOf(t, testKey(t, keyPortal)), Capabilities: []string{tilgang.CapOnBehalf}},
		{ID: "1547-20001", Kind: KindPerson, Key: pubOf(t, testKey(t, keyKari))},
		{ID: "hr-feed", Kind: KindService, Key: pubOf(t, testKey(t, keyHRFeed)), Capabilities: []string{tilgang.CapHR}},
		{ID: "portal2", Kind: KindService, Key: pubOf(t, testKey(t, keyPortal2)), Capabilities: []string{tilgang.CapOnBehalf}},
	})
	require.NoError(t, err)
	return s
}

// baseEnvelope is a grant request by Kari through the portal, unsigned.
func baseEnvelope() *envelope.Envelope {
	return &envelope.Envelope{
		SpecVersion: "1.0",
		ID:          "msg-1",
		Source:      "https://portal.ror.test",
		Type:        tilgang.TypeRequest,
		Subject:     "1547-10234",
		Time:        "2025-03-01T08:30:00+01:00",
		Actor:       "1547-20001",
		Via:         "portal",
		Data:        json.RawMessage(`{"action":"grant","system":"gerica","role":"bruker","reason":"Ny i hjemmetjenesten"}`),
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s := verifySet(t)
	tests := []struct {
		name   string
		before func(e *envelope.Envelope) // before signing
		signer byte                       // key number; 0 = unsigned
		after  func(e *envelope.Envelope) // after signing
		doc    func(raw string) string    // edits the marshalled document, which is decoded again
		want   string                     // signer; "" = refused
		reason string
	}{
		{name: "via with on_behalf", signer: keyPortal, want: "portal"},
		{name: "actor signs for herself", before: func(e *envelope.Envelope) { e.Via = "" }, signer: keyKari, want: "1547-20001"},
		{name: "decoded from the wire", signer: keyPortal, doc: func(r string) string { return r }, want: "portal"},
		{name: "attribute escaped differently", signer: keyPortal, doc: func(r string) string {
			return strings.Replace(r, `"id":"msg-1"`, `"id":"msg\u002d1"`, 1)
		}, want: "portal"},

		{name: "unsigned", reason: `unsigned envelope: actorsig is missing (via "portal" must sign)`},
		{name: "unsigned without via", before: func(e *envelope.Envelope) { e.Via = "" }, reason: `unsigned envelope: actorsig is missing (actor "1547-20001" must sign)`},
		{name: "unknown actor", before: func(e *envelope.Envelope) { e.Via = ""; e.Actor = "1547-99999" }, signer: keyStranger, reason: `unknown signer: actor "1547-99999" has no key in the principals file`},
		{name: "unknown via", before: func(e *envelope.Envelope) { e.Via = "kiosk" }, signer: keyStranger, reason: `unknown signer: via "kiosk" has no key`},
		{name: "forged signature", signer: keyStranger, reason: `bad signature: actorsig does not verify with the key of via "portal"`},
		{name: "signed by the actor although via is set", signer: keyKari, reason: `bad signature: actorsig does not verify with the key of via "portal"`},
		{name: "signed by another on_behalf principal", signer: keyPortal2, reason: "bad signature"},
		{name: "tampered data byte", signer: keyPortal, doc: func(r string) string { return strings.Replace(r, `"bruker"`, `"brukeR"`, 1) }, reason: "bad signature"},
		{name: "data reformatted", signer: keyPortal, doc: func(r string) string { return strings.Replace(r, `"role":"bruker"`, `"role": "bruker"`, 1) }, reason: "bad signature"},
		{name: "tampered data in memory", signer: keyPortal, after: func(e *envelope.Envelope) { e.Data[len(e.Data)-2] ^= 1 }, reason: "bad signature"},
		{name: "tampered id", signer: keyPortal, after: func(e *envelope.Envelope) { e.ID = "msg-2" }, reason: "bad signature"},
		{name: "tampered source", signer: keyPortal, after: func(e *envelope.Envelope) { e.Source = "https://evil.test" }, reason: "bad signature"},
		{name: "tampered type", signer: keyPortal, after: func(e *envelope.Envelope) { e.Type = tilgang.TypeTraining }, reason: "bad signature"},
		{name: "tampered subject", signer: keyPortal, after: func(e *envelope.Envelope) { e.Subject = "1547-10235" }, reason: "bad signature"},
		{name: "tampered time", signer: keyPortal, after: func(e *envelope.Envelope) { e.Time = "2025-03-01T08:30:01+01:00" }, reason: "bad signature"},
		{name: "time removed", signer: keyPortal, after: func(e *envelope.Envelope) { e.Time = "" }, reason: "bad signature"},
		{name: "tampered actor", signer: keyPortal, after: func(e *envelope.Envelope) { e.Actor = "1547-20002" }, reason: "bad signature"},
		{name: "tampered via", signer: keyPortal, after: func(e *envelope.Envelope) { e.Via = "portal2" }, reason: `bad signature: actorsig does not verify with the key of via "portal2"`},
		{name: "via removed", signer: keyPortal, after: func(e *envelope.Envelope) { e.Via = "" }, reason: `bad signature: actorsig does not verify with the key of actor "1547-20001"`},
		{name: "tampered attribute on the wire", signer: keyPortal, doc: func(r string) string { return strings.Replace(r, `"msg-1"`, `"msg-2"`, 1) }, reason: "bad signature"},
		{name: "malformed actorsig", signer: keyPortal, after: func(e *envelope.Envelope) { e.ActorSig = "not*base64" }, reason: "bad signature: actorsig is not an unpadded base64url Ed25519 signature"},
		{name: "padded actorsig", signer: keyPortal, after: func(e *envelope.Envelope) { e.ActorSig += "==" }, reason: "actorsig is not an unpadded base64url"},
		{name: "truncated actorsig", signer: keyPortal, after: func(e *envelope.Envelope) { e.ActorSig = e.ActorSig[:40] }, reason: "actorsig is not an unpadded base64url"},
		{name: "via without on_behalf", before: func(e *envelope.Envelope) { e.Via = "hr-feed" }, signer: keyHRFeed, reason: `via "hr-feed" may not act on behalf of others: it lacks the on_behalf capability`},
		{name: "via for a service principal", before: func(e *envelope.Envelope) { e.Actor = "hr-feed" }, signer: keyPortal, reason: `via "portal" may not act on behalf of service principal "hr-feed"`},
		{name: "via is a person", before: func(e *envelope.Envelope) { e.Via = "1547-20001"; e.Actor = "1547-10001" }, signer: keyKari, reason: `via "1547-20001" may not act on behalf of others`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := baseEnvelope()
			if tt.before != nil {
				tt.before(e)
			}
			if tt.signer != 0 {
				require.NoError(t, e.Sign(testKey(t, tt.signer)))
			}
			if tt.after != nil {
				tt.after(e)
			}
			if tt.doc != nil {
				raw, err := e.Marshal()
				require.NoError(t, err)
				e, err = envelope.Decode("tilgang.in.request.1547-10234", []byte(tt.doc(string(raw))))
				require.NoError(t, err)
			}
			got, err := s.Verify(e)
			if tt.want != "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			requireKind(t, err, tilgang.Denied, tt.reason)
			require.Empty(t, got)
		})
	}
}

func TestVerifyNil(t *testing.T) {
	t.Parallel()
	_, err := verifySet(t).Verify(nil)
	requireKind(t, err, tilgang.Invalid)

	var none *Set
	e := baseEnvelope()
	require.NoError(t, e.Sign(testKey(t, keyPortal)))
	_, err = none.Verify(e)
	requireKind(t, err, tilgang.Denied, "unknown signer")
}

// FuzzVerify checks that Verify never panics on any document Decode
// accepts, refuses only with Denied, and accepts nothing that the test keys
// did not sign: whatever it accepts has the signing input of one of the
// seeds (the fuzzer may rewrite the JSON around it, not what is signed) and
// a via it accepts has on_behalf.
func FuzzVerify(f *testing.F) {
	s := verifySet(f)
	signed := map[string]bool{}
	add := func(e *envelope.Envelope, kp nkeys.KeyPair) {
		if kp != nil {
			require.NoError(f, e.Sign(kp))
			if pubOf(f, kp) != pubOf(f, testKey(f, keyStranger)) {
				signed[string(e.SigningInput())] = true
			}
		}
		raw, err := e.Marshal()
		require.NoError(f, err)
		_, err = envelope.Decode("", raw)
		require.NoError(f, err, "seed %s", raw)
		f.Add(raw)
	}
	data := map[string]string{
		tilgang.TypeRequest:  `{"action":"grant","system":"gerica","role":"bruker","reason":"Ny"}`,
		tilgang.TypeDecision: `{"request_id":"` + strings.Repeat("0a", 32) + `","decision":"deny","comment":"nei"}`,
		tilgang.TypeTraining: `{"system":"gerica","role":"bruker"}`,
		tilgang.TypeTask:     `{"operation_id":"op-1","outcome":"failed","comment":"x"}`,
		tilgang.TypeRetry:    `{"grant_id":"g-1","comment":""}`,
		tilgang.TypeCancel:   `{"grant_id":"g-1"}`,
		tilgang.TypeHRJoiner: `{"version":1,"person":{"id":"1547-10234","given_name":"Å","family_name":"Ø","municipality":"1547","employments":[{"id":"e1","primary":true,"percent":100,"org_unit":"helse","position":"sykepleier","start":"2025-01-01","end":null}]}}`,
	}
	data[tilgang.TypeHRMover] = data[tilgang.TypeHRJoiner]
	data[tilgang.TypeHRLeaver] = data[tilgang.TypeHRJoiner]
	data[tilgang.TypeReviewDecided] = `{"campaign_id":"rc-1","grant_id":"g-1","decision":"keep","comment":"","bulk":true}`
	for _, typ := range envelope.InTypes {
		e := baseEnvelope()
		e.Type, e.Data = typ, json.RawMessage(data[typ])
		add(e, testKey(f, keyPortal))
		e = baseEnvelope()
		e.Type, e.Data, e.Via, e.Time = typ, json.RawMessage(data[typ]), "", ""
		add(e, testKey(f, keyKari))
	}
	e := baseEnvelope()
	e.Via = "hr-feed"
	add(e, testKey(f, keyHRFeed))
	add(baseEnvelope(), nil)
	e = baseEnvelope()
	add(e, testKey(f, keyStranger))

	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := envelope.Decode("", raw)
		if err != nil {
			return
		}
		signer, err := s.Verify(e)
		if err != nil {
			require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "error %q", err)
			require.Empty(t, signer)
			return
		}
		require.Equal(t, e.Signer(), signer)
		require.True(t, signed[string(e.SigningInput())], "accepted an envelope no test key signed: %q", e.SigningInput())
		if e.Via != "" {
			require.True(t, s.Can(e.Via, tilgang.CapOnBehalf))
		}
	})
}
