package envelope

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzClaimed checks that Claimed never panics, that a claim holds only
// attributes Decode would take as text, and that of a document Decode
// accepts it reads the very attributes and data, signable.
func FuzzClaimed(f *testing.F) {
	for _, typ := range InTypes {
		d := base(typ)
		f.Add(d.bytes())
		f.Add(d.del("data").bytes())
		f.Add(bytes.Replace(d.bytes(), []byte(`"1.0"`), []byte(`"0.3"`), 1))
	}
	f.Add(base(InTypes[0]).set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`).set("tracestate", `"a=1"`).bytes())
	f.Add(base(InTypes[0]).set("traceparent", `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"`).bytes())
	f.Add([]byte(`{"id":"a","source":"b","type":"c","subject":"d","actor":"e","data":1}`))
	f.Add([]byte(`{"id":"a\n","source":"b","type":"c","subject":"d","actor":"e","data":{}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, signable := Claimed(raw)
		if c == nil {
			require.False(t, signable)
			return
		}
		for _, s := range []string{c.ID, c.Source, c.Type, c.Subject, c.Actor} {
			require.NotEmpty(t, s)
			require.NotContains(t, s, "\n")
		}
		if e, err := Decode("", raw); err == nil {
			require.True(t, signable, "a valid document is signable")
			require.Equal(t, e.SigningInput(), c.SigningInput())
			require.Equal(t, e.Key(), c.Key())
		}
	})
}
