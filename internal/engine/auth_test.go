package engine_test

// Authorisation at the engine (DESIGN.md "Principals and signatures",
// "Messages in"): what cannot be trusted is rejected and recorded, keyed by
// its own bytes; the idempotency key holds for what can.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func TestUntrustedMessages(t *testing.T) {
	t.Parallel()
	req := envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker", Reason: "trenger tilgang"}
	for _, tc := range []struct {
		name string
		// raw returns the subject and bytes to apply.
		raw    func(h *harness) (string, []byte)
		out    engine.Outcome
		person string // of the request.rejected event
		reason string
	}{
		{name: "unsigned", out: engine.Rejected, person: emp, reason: "unsigned",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				e.ActorSig = ""
				return marshal(h, e)
			}},
		{name: "unknown key", out: engine.Rejected, person: emp, reason: "unknown signer",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				e.Via = "stranger"
				require.NoError(h.t, e.Sign(h.stranger))
				return marshal(h, e)
			}},
		{name: "a person with no key", out: engine.Rejected, person: emp, reason: "unknown signer",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				e.Via = ""
				require.NoError(h.t, e.Sign(h.stranger))
				return marshal(h, e)
			}},
		{name: "forged signature", out: engine.Rejected, person: emp, reason: "bad signature",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				require.NoError(h.t, e.Sign(h.stranger)) // claims via dev
				return marshal(h, e)
			}},
		{name: "data changed after signing", out: engine.Rejected, person: emp, reason: "bad signature",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				require.NoError(h.t, e.SetData(envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "leder", Reason: "x"}))
				return marshal(h, e)
			}},
		{name: "via without on_behalf", out: engine.Rejected, person: emp, reason: "may not act on behalf",
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, emp, mgr, req)
				e.Via = "bareportal"
				require.NoError(h.t, e.Sign(h.portal))
				return marshal(h, e)
			}},
		{name: "not a CloudEvent", out: engine.Rejected, person: emp, reason: "invalid message",
			raw: func(h *harness) (string, []byte) { return "tilgang.in.request." + emp, []byte(`{"hello": "world"}`) }},
		{name: "subject names another person", out: engine.Rejected, person: emp2, reason: "invalid message",
			raw: func(h *harness) (string, []byte) {
				_, b := marshal(h, h.envelope(tilgang.TypeRequest, emp, mgr, req))
				return "tilgang.in.request." + emp2, b
			}},
		{name: "a person signing for herself", out: engine.Accepted,
			raw: func(h *harness) (string, []byte) {
				e := h.envelope(tilgang.TypeRequest, kasseA1, kasseA1, req) // self
				e.Via = ""
				require.NoError(h.t, e.Sign(h.kari))
				return marshal(h, e)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			subject, raw := tc.raw(h)
			auditBefore := len(h.audit(""))
			require.Equal(t, tc.out, h.apply(subject, raw))
			if tc.out == engine.Accepted {
				// The control: a principal's own key is trusted.
				require.Len(t, h.audit("message.rejected"), 0)
				require.Empty(t, h.eventsOf(tilgang.EvRequestRejected, ""))
				return
			}
			rej := h.audit("message.rejected")
			require.Len(t, rej, 1)
			require.Contains(t, rej[0].Text, tc.reason)
			require.Equal(t, tc.person, rej[0].Person)
			ev := h.eventsOf(tilgang.EvRequestRejected, "")
			require.Len(t, ev, 1)
			require.Equal(t, tc.person, ev[0].Person)
			require.Contains(t, ev[0].Data["reason"], tc.reason)
			// Nothing was applied.
			grants, err := h.led.Grants(h.ctx, ledger.GrantFilter{})
			require.NoError(t, err)
			require.Empty(t, grants)
			require.Empty(t, h.audit("request.accepted"))
			auditAfter := len(h.audit(""))
			require.Equal(t, auditBefore+1, auditAfter)

			// A redelivery of the same bytes is a duplicate: no second row.
			require.Equal(t, engine.Duplicate, h.apply(subject, raw))
			require.Len(t, h.audit(""), auditAfter)
			require.Len(t, h.eventsOf(tilgang.EvRequestRejected, ""), 1)
		})
	}
}

// The rejected message does not occupy the key it claims: the genuine
// message with that source and id is applied afterwards.
func TestForgeryDoesNotTakeTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	e := h.envelope(tilgang.TypeRequest, emp, mgr, envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker", Reason: "x"})
	good := *e
	require.NoError(t, e.Sign(h.stranger))
	require.Equal(t, engine.Rejected, h.apply(marshal(h, e)))
	require.Equal(t, engine.Accepted, h.sendEnv(&good))
	require.Equal(t, engine.Duplicate, h.sendEnv(&good))
}

// The same key (signer, source, id) with another payload is a conflict:
// recorded, announced, never applied.
func TestConflictingPayload(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	first := h.envelope(tilgang.TypeRequest, emp, mgr, envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker", Reason: "x"})
	second := *first
	require.NoError(t, second.SetData(envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "manuell", Reason: "x"}))
	require.NoError(t, second.Sign(h.dev))
	require.Equal(t, first.Key(), second.Key())

	require.Equal(t, engine.Accepted, h.sendEnv(first))
	gid := h.request1(first.Key()).GrantID
	require.Equal(t, engine.Conflict, h.sendEnv(&second))
	c := h.audit("message.conflict")
	require.Len(t, c, 1)
	require.Equal(t, first.Key(), c[0].RequestID)
	ev := h.eventsOf(tilgang.EvRequestRejected, "")
	require.Len(t, ev, 1)
	require.Equal(t, first.Key(), ev[0].Data["request_id"])
	require.Contains(t, ev[0].Data["reason"], "conflict")
	// Never applied: one grant, the first one's, and its request unchanged.
	grants, err := h.led.Grants(h.ctx, ledger.GrantFilter{Person: emp})
	require.NoError(t, err)
	require.Len(t, grants, 1)
	require.Equal(t, gid, grants[0].ID)
	require.Equal(t, "bruker", grants[0].Role)
	r := h.request1(first.Key())
	require.Equal(t, "bruker", r.Role)
	require.Equal(t, "accepted", r.Outcome)
	// The first one again is still a duplicate; the conflict again is again a conflict.
	require.Equal(t, engine.Duplicate, h.sendEnv(first))
	require.Equal(t, engine.Conflict, h.sendEnv(&second))
	require.Len(t, h.audit("message.conflict"), 2)
}

// Who may send what is judged on the actor: hr messages need the hr
// capability, operator messages the operator capability.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	p := employee(emp2, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 1, D: 1})
	for _, actor := range []string{"dev", mgr, "portal"} {
		out, _ := h.send(tilgang.TypeHRLeaver, emp2, actor, envelope.HR{Version: 9, Person: p})
		require.Equal(t, engine.Rejected, out, actor)
	}
	require.Zero(t, h.person(emp2).LeaveAt)
	gid := h.granted(emp, mgr, "kasse", "leder")
	for _, actor := range []string{"hr", mgr, kasseA1} {
		out, _ := h.send(tilgang.TypeCancel, emp, actor, envelope.Operator{GrantID: gid})
		require.Equal(t, engine.Rejected, out, actor)
	}
	require.Equal(t, tilgang.StatePendingApproval, h.state(gid))
}

func marshal(h *harness, e *envelope.Envelope) (string, []byte) {
	h.t.Helper()
	b, err := e.Marshal()
	require.NoError(h.t, err)
	s, err := envelope.SubjectFor(e.Type, e.Subject)
	require.NoError(h.t, err)
	return s, b
}
