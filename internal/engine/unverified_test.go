package engine_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

// A message that cannot be authenticated names nobody in the actor
// column: who it claims to come from is kept in the details.
func TestUnverifiedRejectionNamesNoActor(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	e := h.envelope(tilgang.TypeRequest, emp, kasseA1, envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker", Reason: "x"})
	e.ActorSig = ""
	require.Equal(t, engine.Rejected, h.apply(marshal(h, e)))
	rows := h.audit("message.rejected")
	require.Len(t, rows, 1)
	require.Empty(t, rows[0].Actor, "the claimed actor is not who sent it")
	require.Empty(t, rows[0].Via)
	require.Equal(t, kasseA1, rows[0].Details["claimed_actor"])
	require.Equal(t, "dev", rows[0].Details["claimed_via"])
	require.Equal(t, emp, rows[0].Person)
	for _, r := range h.audit("") {
		require.NotEqual(t, kasseA1, r.Actor, "no chained row names the claimed actor: %s", r.Kind)
	}
}

// A flood of unauthenticated messages chains at most UnverifiedPerWindow
// rows a window, and the rest as one summary row; each is still announced.
func TestUnverifiedRejectionsAreLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	unsigned := func(i int) engine.Outcome {
		e := h.envelope(tilgang.TypeRequest, emp, mgr, envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker",
			Reason: fmt.Sprintf("forsøk %d", i)})
		e.ActorSig = ""
		return h.apply(marshal(h, e))
	}
	const extra = 7
	for i := range engine.UnverifiedPerWindow + extra {
		require.Equal(t, engine.Rejected, unsigned(i))
	}
	require.Len(t, h.audit("message.rejected"), engine.UnverifiedPerWindow)
	require.Empty(t, h.audit(engine.UnverifiedSummaryKind), "the window is not over")
	require.Len(t, h.eventsOf(tilgang.EvRequestRejected, ""), engine.UnverifiedPerWindow+extra, "every one is announced")

	h.advance(engine.UnverifiedWindow)
	require.Equal(t, engine.Rejected, unsigned(-1))
	sum := h.audit(engine.UnverifiedSummaryKind)
	require.Len(t, sum, 1)
	require.Equal(t, fmt.Sprint(extra), sum[0].Details["count"])
	require.Empty(t, sum[0].Actor)
	require.Len(t, h.audit("message.rejected"), engine.UnverifiedPerWindow+1, "a new window chains again")

	h.advance(engine.UnverifiedWindow)
	require.Equal(t, engine.Rejected, unsigned(-2))
	require.Len(t, h.audit(engine.UnverifiedSummaryKind), 1, "nothing held back: no second summary")
}
