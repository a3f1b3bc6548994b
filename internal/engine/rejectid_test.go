package engine_test

// A sender must be able to match every rejection to what it sent
// (DESIGN.md "Messages in").

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// an HR record that fails validation: the employment ends before it starts.
func badRecord(id string) map[string]any {
	return map[string]any{"version": 7, "person": map[string]any{"id": id, "given_name": "Åse", "family_name": "Bø",
		"municipality": "1547", "employments": []map[string]any{{"id": id + "-1", "primary": true, "percent": 100,
			"org_unit": "helse", "position": "x", "start": "2026-02-01", "end": "2026-01-01"}}}}
}

// A signed message that fails validation is rejected under its own
// request_id: status finds it, with the reason, and its event names it;
// a redelivery is a duplicate.
func TestSignedInvalidMessageIsRejectedByItsID(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	const who = "1547-55555"
	e := h.envelope(tilgang.TypeHRJoiner, who, principals.HRID, badRecord(who))
	subject, raw := marshal(h, e)
	require.Equal(t, engine.Rejected, h.apply(subject, raw))
	r := h.request1(e.Key())
	require.Equal(t, "rejected", r.Outcome)
	require.Equal(t, who, r.Person)
	require.Contains(t, r.Why, "end 2026-01-01 is before start 2026-02-01")
	ev := h.eventsOf(tilgang.EvRequestRejected, "")
	require.Len(t, ev, 1)
	require.Equal(t, e.Key(), ev[0].Data["request_id"])
	require.Equal(t, who, ev[0].Person)
	rej := h.audit("message.rejected")
	require.Len(t, rej, 1)
	require.Equal(t, principals.HRID, rej[0].Actor, "the signer is known")
	require.Equal(t, e.Key(), rej[0].RequestID)

	require.Equal(t, engine.Duplicate, h.apply(subject, raw))
	require.Len(t, h.eventsOf(tilgang.EvRequestRejected, ""), 1)
}

// What the signature does not vouch for is rejected with the key it claims
// (claimed_request_id, source and id), never under that key: a variant of
// another's valid message (another specversion, a key given twice, another
// subject) cannot take the key, and the message itself still goes through.
func TestUnverifiedRejectionsNameTheirClaim(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		variant func(subject string, raw []byte) (string, []byte)
	}{
		{"another specversion", func(s string, raw []byte) (string, []byte) {
			return s, []byte(strings.Replace(string(raw), `"specversion":"1.0"`, `"specversion":"0.3"`, 1))
		}},
		{"a key given twice", func(s string, raw []byte) (string, []byte) {
			return s, []byte(strings.Replace(string(raw), `"specversion":"1.0"`, `"specversion":"1.0","specversion":"1.0"`, 1))
		}},
		{"an extension attribute", func(s string, raw []byte) (string, []byte) {
			return s, []byte(strings.Replace(string(raw), `"specversion":"1.0"`, `"specversion":"1.0","x":"y"`, 1))
		}},
		{"another subject", func(s string, raw []byte) (string, []byte) {
			return strings.Replace(s, "hr.", "request.", 1), raw
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			p := employee("1547-55556", mgr, tilgang.Date{Y: 2026, M: 1, D: 1}, tilgang.Date{})
			e := h.envelope(tilgang.TypeHRJoiner, p.ID, principals.HRID, map[string]any{"version": 3, "person": p})
			subject, raw := marshal(h, e)
			require.Contains(t, string(raw), `"specversion":"1.0"`)
			vs, vraw := tc.variant(subject, raw)
			require.Equal(t, engine.Rejected, h.apply(vs, vraw))
			ev := h.eventsOf(tilgang.EvRequestRejected, "")
			require.Len(t, ev, 1)
			require.Equal(t, e.Key(), ev[0].Data["claimed_request_id"])
			require.Equal(t, e.Source, ev[0].Data["source"])
			require.Equal(t, e.ID, ev[0].Data["id"])
			require.Nil(t, ev[0].Data["request_id"])

			require.Equal(t, engine.Accepted, h.apply(subject, raw), "the sender's own message is not blocked by the variant")
			require.Equal(t, "accepted", h.request1(e.Key()).Outcome)
		})
	}
}
