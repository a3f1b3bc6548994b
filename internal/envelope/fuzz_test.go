package envelope

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// FuzzDecode checks that Decode never panics, fails only with Invalid, and
// that whatever it accepts survives Marshal and Decode unchanged: the same
// attributes, data bytes, payload, signing input and key, in a document no
// larger than the original (so it still fits MaxSize).
func FuzzDecode(f *testing.F) {
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, make([]byte, 32))
	require.NoError(f, err)
	for _, typ := range InTypes {
		d := base(typ)
		f.Add(d.bytes())
		f.Add(d.del("via").del("time").bytes())
		e, err := Decode("", d.bytes())
		require.NoError(f, err)
		require.NoError(f, e.Sign(kp))
		out, err := e.Marshal()
		require.NoError(f, err)
		f.Add(out)
	}
	f.Add(base(tilgang.TypeRequest).set("type", `"no.tilgang.grant.active.v1"`).set("data", `{"request_id":"x","grant_id":"g"}`).bytes())
	f.Add(base(tilgang.TypeTraining).set("data", "{ \"system\" : \"ger\\u0069ca\",\n\"role\":\"b\"}").set("id", `"\u00e5\"<>"`).bytes())
	traced := base(tilgang.TypeRequest).set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`)
	f.Add(traced.bytes())
	f.Add(traced.set("tracestate", `"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"`).bytes())
	f.Add(traced.set("tracestate", `"a=1,,b@c=x y"`).bytes())
	f.Add(base(tilgang.TypeRequest).set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"`).bytes())
	f.Add(base(tilgang.TypeRequest).set("traceparent", `"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`).bytes())
	f.Add(base(tilgang.TypeRequest).set("tracestate", `"a=1"`).bytes())
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Decode("", raw)
		if err != nil {
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "error %q", err)
			return
		}
		out, err := e.Marshal()
		require.NoError(t, err)
		require.LessOrEqual(t, len(out), len(raw), "Marshal grew the document")
		again, err := Decode("", out)
		require.NoError(t, err, "Decode refused what Marshal wrote: %s", out)
		require.Equal(t, e, again)
		require.Equal(t, e.SigningInput(), again.SigningInput())
		require.Equal(t, e.Key(), again.Key())

		var subject string
		if kind, ok := eventKinds[e.Type]; ok {
			subject, err = EventSubject(kind, e.Subject)
		} else {
			subject, err = SubjectFor(e.Type, e.Subject)
		}
		require.NoError(t, err)
		_, err = Decode(subject, raw)
		require.NoError(t, err, "refused on its own subject %s", subject)
	})
}

// FuzzRepeatedKeys checks the quick scan against the token walk: it may
// send a document on to the walk, but never clear one the walk rejects.
func FuzzRepeatedKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"a":"\"a\"","b":["a","a"]}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":0,"k11":1,"k12":2,"k13":3,"k14":4,"k15":5,"k16":6,"k17":7,"k3":3}`,
		`[{"a":1},{"a":1}]`, `"x"`, `{"a\\":1,"a\\":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		if noRepeatedKeys(raw) {
			require.NoError(t, checkJSONTokens(raw), "the quick scan cleared %q", raw)
		}
	})
}
