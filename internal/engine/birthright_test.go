package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// turnus (the rota system): every nurse in helse/ gets bruker without
// asking or approval; an avdelingsleder in helse/ gets planlegger, which a
// systemansvarlig approves and only helse/ staff may hold.
var birthrightSystems = map[string]string{
	"turnus.yaml": `system: turnus
name: Turnus
owner: Helse og omsorg
administrators: [1547-20003, 1547-20004]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [TURNUS-BRUKER]}
    requestable_by: []
    approval: []
  - id: planlegger
    entitlements: {noop: [TURNUS-PLANLEGGER]}
    requestable_by: [manager]
    approval: [systemansvarlig]
    eligible: 'person.org_unit.startsWith("helse/")'
birthright:
  - when: 'person.position == "sykepleier" && person.org_unit.startsWith("helse/")'
    roles: [bruker]
  - when: 'person.position == "avdelingsleder" && person.org_unit.startsWith("helse/")'
    roles: [planlegger]
`,
}

// openGrant is the person's open grant of system/role, nil when none.
func (h *harness) openGrant(person, system, role string) *ledger.Grant {
	h.t.Helper()
	gs, err := h.led.Grants(h.ctx, ledger.GrantFilter{Person: person, OpenOnly: true})
	require.NoError(h.t, err)
	for i := range gs {
		if gs[i].System == system && gs[i].Role == role {
			return &gs[i]
		}
	}
	return nil
}

func TestBirthrightOnJoinerWithdrawnOnMover(t *testing.T) {
	h := newHarness(t, birthrightSystems).join()
	// Every nurse joined: turnus/bruker was asked for by the engine as hr,
	// in the transaction of the HR record, and provisioned.
	g := h.openGrant(emp, "turnus", "bruker")
	require.NotNil(t, g)
	require.Equal(t, engine.Birthright, g.Requester)
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(g.ID))
	req := h.request1(g.RequestID)
	require.Equal(t, principals.HRID, req.Actor)
	require.Equal(t, "grant", req.Action)
	var acc ledger.AuditEntry
	for _, a := range h.audit("request.accepted") {
		if a.GrantID == g.ID {
			acc = a
		}
	}
	require.Contains(t, acc.Details["birthright"], "turnus.yaml:")
	require.Equal(t, principals.HRID, acc.Actor)

	// A manual grant the person is eligible for, and one of another system.
	plan := h.granted(emp, mgr, "turnus", "planlegger")
	rid := h.grant(plan).RequestID
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	kasse := h.toActive(emp, mgr, "kasse", "bruker")
	require.Equal(t, tilgang.StateActive, h.state(plan))

	// The same record again at a higher version changes nothing.
	p := people()[0]
	require.Equal(t, emp, p.ID)
	require.Equal(t, engine.Accepted, h.hr(2, p))
	require.Len(t, h.eventsOf(tilgang.EvRequestAccepted, ""), len(people())+2)

	// emp moves to a school: the birthright grant is withdrawn and the
	// planlegger grant, no longer eligible, revoked, both with cause mover;
	// kasse/bruker, which nothing restricts, stays.
	require.Equal(t, engine.Accepted, h.hr(3, moved(emp, mgr)))
	require.Equal(t, tilgang.StateRevoking, h.state(g.ID))
	require.Equal(t, "mover", h.grant(g.ID).RevokeCause)
	require.Equal(t, "mover", h.grant(plan).RevokeCause)
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(g.ID))
	require.Equal(t, tilgang.StateRevoked, h.state(plan))
	require.Equal(t, tilgang.StateActive, h.state(kasse))
	ev := h.eventsOf(tilgang.EvGrantRevoked, g.ID)
	require.Len(t, ev, 1)
	require.Equal(t, "mover", ev[0].Data["cause"])

	// Back to a nurse in helse/: asked for again, a new grant.
	require.Equal(t, engine.Accepted, h.hr(4, people()[0]))
	g2 := h.openGrant(emp, "turnus", "bruker")
	require.NotNil(t, g2)
	require.NotEqual(t, g.ID, g2.ID)
}

// A birthright role with an approval stage goes through it; a role the
// person already has open is not asked for twice; a birthright grant still
// waiting is cancelled when the person stops matching.
func TestBirthrightFollowsApprovalAndIsCancelledWhileWaiting(t *testing.T) {
	h := newHarness(t, birthrightSystems).join()
	lead := people()[1] // mgr
	lead.Employments[0].Position = "avdelingsleder"
	bruker := h.openGrant(mgr, "turnus", "bruker")
	require.Equal(t, engine.Accepted, h.hr(2, lead))
	g := h.openGrant(mgr, "turnus", "planlegger")
	require.NotNil(t, g)
	require.Equal(t, tilgang.StatePendingApproval, g.State)
	ap := h.eventsOf(tilgang.EvApprovalPending, g.ID)
	require.Len(t, ap, 1)
	require.Equal(t, "systemansvarlig", ap[0].Data["stage_kind"])
	// mgr is no longer a nurse: turnus/bruker, not provisioned yet, is
	// withdrawn before it started.
	require.Equal(t, tilgang.StateCancelled, h.state(bruker.ID))

	// Leaves helse/ before approval: the waiting grant is cancelled.
	moved := moved(mgr, mgrMgr)
	require.Equal(t, engine.Accepted, h.hr(3, moved))
	require.Equal(t, tilgang.StateCancelled, h.state(g.ID))
}

// No birthright for someone who does not match, nor for someone who has
// left.
func TestBirthrightOnlyForMatchingPeople(t *testing.T) {
	h := newHarness(t, birthrightSystems)
	require.Equal(t, engine.Accepted, h.hr(1, moved(emp, mgr)))
	require.Nil(t, h.openGrant(emp, "turnus", "bruker"))
	gone := employee(emp2, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 1, D: 31})
	require.Equal(t, engine.Accepted, h.hr(1, gone))
	require.Nil(t, h.openGrant(emp2, "turnus", "bruker"))
}
