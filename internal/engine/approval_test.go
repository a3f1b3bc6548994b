package engine_test

// Approval rules (DESIGN.md "Grants, requests and their states").

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
)

func TestManagerStageResolution(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, person, requester, system, role string
		approver                              string
	}{
		{"the manager, when someone else asked", emp, "hr", "arkiv", "arkivar", mgr},
		{"the manager's manager, when the manager asked", emp, mgr, "arkiv", "arkivar", mgrMgr},
		{"the manager's manager, for kasse/leder too", emp, mgr, "kasse", "leder", mgrMgr},
		{"the manager of the person's second colleague", emp2, "hr", "arkiv", "arkivar", mgr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			_, rid, gid := h.request(tc.person, tc.requester, tc.system, tc.role)
			g := h.grant(gid)
			require.Equal(t, tilgang.StatePendingApproval, g.State)
			require.Equal(t, tc.approver, g.StagePrincipal)
			ev := h.eventsOf(tilgang.EvApprovalPending, gid)
			require.Len(t, ev, 1)
			require.Equal(t, []any{tc.approver}, ev[0].Data["approvers"])
			require.Equal(t, "manager", ev[0].Data["stage_kind"])
			// Nobody else decides the manager stage, not even an administrator.
			for _, other := range []string{mgr, mgrMgr, arkivA1, kasseA1} {
				if other == tc.approver {
					continue
				}
				require.Equal(t, engine.Rejected, h.decide(tc.person, other, rid, "approve"), other)
			}
			require.Equal(t, engine.Accepted, h.decide(tc.person, tc.approver, rid, "approve"))
			require.Equal(t, 1, h.grant(gid).Stage)
		})
	}
}

func TestDecisionRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// setup returns the person the decision is about, the request it
		// decides; the decision is by actor.
		setup  func(h *harness) (person, rid string)
		actor  string
		reason string
	}{
		{name: "the person may not decide their own grant", actor: emp, reason: "own grant",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, "hr", "arkiv", "arkivar")
				return emp, rid
			}},
		{name: "the requester may not decide", actor: mgr, reason: "requested",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, mgr, "arkiv", "arkivar")
				return emp, rid
			}},
		{name: "a principal approves one stage only", actor: mgr, reason: "already approved",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, "hr", "arkiv", "arkivar")
				require.Equal(h.t, engine.Accepted, h.decide(emp, mgr, rid, "approve"))
				return emp, rid
			}},
		{name: "an approver of stage one who is an administrator may not approve stage two", actor: arkivA1, reason: "already approved",
			setup: func(h *harness) (string, string) {
				// The person reports to an administrator of arkiv, who
				// approves the manager stage and then tries the second.
				p := employee(emp, arkivA1, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{})
				require.Equal(h.t, engine.Accepted, h.hr(2, p))
				_, rid, gid := h.request(emp, "hr", "arkiv", "arkivar")
				require.Equal(h.t, arkivA1, h.grant(gid).StagePrincipal)
				require.Equal(h.t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
				return emp, rid
			}},
		{name: "the decision's person must be the request's", actor: mgr, reason: "is for 1547-1, not 1547-4",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, "hr", "arkiv", "arkivar")
				return emp2, rid
			}},
		{name: "a grant that is not waiting for approval", actor: mgrMgr, reason: "not waiting for approval",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, mgr, "kasse", "bruker")
				return emp, rid
			}},
		{name: "a decided grant", actor: mgrMgr, reason: "not waiting for approval",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, mgr, "kasse", "leder")
				require.Equal(h.t, engine.Accepted, h.decide(emp, mgrMgr, rid, "deny"))
				return emp, rid
			}},
		{name: "an unknown request", actor: mgr, reason: "no grant request",
			setup: func(h *harness) (string, string) {
				return emp, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			}},
		{name: "a revoke request is not decided", actor: mgrMgr, reason: "no grant request",
			setup: func(h *harness) (string, string) {
				h.toActive(emp, mgr, "kasse", "bruker")
				_, rid := h.revoke(emp, mgr, "kasse", "bruker")
				return emp, rid
			}},
		{name: "systemansvarlig stage: not an administrator", actor: kasseA1, reason: "not one",
			setup: func(h *harness) (string, string) { _, rid, _ := h.request(emp, mgr, "arkiv", "leser"); return emp, rid }},
		{name: "systemansvarlig stage: the requesting administrator", actor: arkivA1, reason: "requested",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, arkivA1, "arkiv", "leser")
				return emp, rid
			}},
		{name: "systemansvarlig stage: the manager is no administrator", actor: mgr, reason: "not one",
			setup: func(h *harness) (string, string) {
				_, rid, _ := h.request(emp, arkivA1, "arkiv", "leser")
				return emp, rid
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			person, rid := tc.setup(h)
			var before tilgang.GrantState
			var stage int
			if r, _ := h.led.Request(h.ctx, rid); r != nil && r.GrantID != "" {
				g := h.grant(r.GrantID)
				before, stage = g.State, g.Stage
			}
			out, did := h.send(tilgang.TypeDecision, person, tc.actor, map[string]string{"request_id": rid, "decision": "approve", "comment": ""})
			require.Equal(t, engine.Rejected, out)
			require.Equal(t, "rejected", h.request1(did).Outcome)
			require.Contains(t, h.request1(did).Why, tc.reason)
			ev := h.eventsOf(tilgang.EvRequestRejected, "")
			require.NotEmpty(t, ev)
			require.Contains(t, ev[len(ev)-1].Data["reason"], tc.reason)
			if before != "" {
				r := h.request1(rid)
				g := h.grant(r.GrantID)
				require.Equal(t, before, g.State, "a rejected decision changes nothing")
				require.Equal(t, stage, g.Stage)
			}
		})
	}
}

// A systemansvarlig stage accepts any administrator of the system but the
// requester.
func TestSystemansvarligStage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, requester string
		approvers       []any // announced
		approver        string
	}{
		{"the manager asked: either administrator", mgr, []any{arkivA1, arkivA2}, arkivA1},
		{"the manager asked: the other administrator as well", mgr, []any{arkivA1, arkivA2}, arkivA2},
		{"an administrator asked: the other one", arkivA1, []any{arkivA2}, arkivA2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			_, rid, gid := h.request(emp, tc.requester, "arkiv", "leser")
			require.Equal(t, tilgang.StatePendingApproval, h.state(gid))
			ev := h.eventsOf(tilgang.EvApprovalPending, gid)
			require.Len(t, ev, 1)
			require.Equal(t, tc.approvers, ev[0].Data["approvers"])
			require.Equal(t, engine.Accepted, h.decide(emp, tc.approver, rid, "approve"))
			g := h.grant(gid)
			require.Equal(t, tilgang.StateProvisioning, g.State)
			require.Equal(t, []string{tc.approver}, g.Approvers)
			h.run()
			require.Equal(t, tilgang.StateActive, h.state(gid))
		})
	}
}
