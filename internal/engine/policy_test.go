package engine_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// policySystems are realistic rules for the policy engine:
//   - lonn (Visma lønn) and faktura (the invoice system) are two systems
//     whose roles attestant and anviser must never be held together
//     (separation of duties across systems, written on one side only);
//   - lonn/helsetillegg is only for staff in helse/ and needs a
//     systemansvarlig; lonn/attestant lasts 30 days by default, at most 90.
var policySystems = map[string]string{
	"lonn.yaml": `system: lonn
name: Visma lønn
owner: Økonomi
administrators: [1547-20003, 1547-20004]
connectors: [noop]
roles:
  - id: attestant
    entitlements: {noop: [LONN-ATTESTANT]}
    requestable_by: [manager]
    approval: []
    default_duration: 30d
    max_duration: 90d
    conflicts: [faktura/anviser]
  - id: helsetillegg
    entitlements: {noop: [LONN-HELSE]}
    requestable_by: [manager]
    approval: [systemansvarlig]
    eligible: 'person.org_unit.startsWith("helse/")'
  - id: fast
    entitlements: {noop: [LONN-FAST]}
    requestable_by: [manager]
    approval: [systemansvarlig]
    default_duration: 10d
    max_duration: 20d
`,
	"faktura.yaml": `system: faktura
name: Faktura
owner: Økonomi
administrators: [1547-20003]
connectors: [noop]
roles:
  - id: anviser
    entitlements: {noop: [FAKTURA-ANVISER]}
    requestable_by: [manager]
    approval: []
`,
}

// moved is emp after a move to a school: out of helse/.
func moved(id, manager string) tilgang.Person {
	p := employee(id, manager, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{})
	p.Employments[0].OrgUnit, p.Employments[0].Position = "oppvekst/aukra-skule", "lærer"
	return p
}

func TestSeparationOfDutiesAcrossSystems(t *testing.T) {
	h := newHarness(t, policySystems).join()
	anviser := h.toActive(emp, mgr, "faktura", "anviser")

	// lonn/attestant names faktura/anviser: refused at request, naming the
	// rule and the conflicting grant.
	out, rid, gid := h.request(emp, mgr, "lonn", "attestant")
	require.Equal(t, engine.DeniedOut, out)
	require.Equal(t, tilgang.StateDenied, h.state(gid))
	why := h.request1(rid).Why
	require.Contains(t, why, "conflicts")
	require.Contains(t, why, "faktura/anviser")
	require.Contains(t, why, anviser)
	ev := h.eventsOf(tilgang.EvGrantDenied, gid)
	require.Len(t, ev, 1)
	require.Equal(t, "conflicts", ev[0].Data["rule"])

	// The other way round (faktura names nothing): a pending attestant
	// blocks anviser too, since a conflict is with any open grant.
	out, _, att := h.request(emp2, mgr, "lonn", "attestant")
	require.Equal(t, engine.Accepted, out)
	out, rid, _ = h.request(emp2, mgr, "faktura", "anviser")
	require.Equal(t, engine.DeniedOut, out)
	require.Contains(t, h.request1(rid).Why, "lonn/attestant (grant "+att)

	// Once anviser is revoked, attestant may be asked for.
	out, _ = h.revoke(emp, mgr, "faktura", "anviser")
	require.Equal(t, engine.Accepted, out)
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(anviser))
	out, _, _ = h.request(emp, mgr, "lonn", "attestant")
	require.Equal(t, engine.Accepted, out)
}

func TestIneligibleAtRequestIsDenied(t *testing.T) {
	h := newHarness(t, policySystems).join()
	require.Equal(t, engine.Accepted, h.hr(2, moved(emp, mgr)))
	out, rid, gid := h.request(emp, mgr, "lonn", "helsetillegg")
	require.Equal(t, engine.DeniedOut, out)
	require.Equal(t, tilgang.StateDenied, h.state(gid))
	why := h.request1(rid).Why
	require.Contains(t, why, "eligible")
	require.Contains(t, why, `person.org_unit.startsWith("helse/")`)
	require.Contains(t, why, "lonn.yaml:")
}

// The person moved out of the eligible org unit after the request and
// before the approval: the approval does not provision, the grant is
// denied by the policy, saying why, and nothing reaches a connector.
func TestMovedOutBetweenRequestAndProvisioning(t *testing.T) {
	h := newHarness(t, policySystems).join()
	out, rid, gid := h.request(emp, mgr, "lonn", "helsetillegg")
	require.Equal(t, engine.Accepted, out)
	require.Equal(t, tilgang.StatePendingApproval, h.state(gid))

	require.Equal(t, engine.Accepted, h.hr(2, moved(emp, mgr)))
	require.Equal(t, tilgang.StatePendingApproval, h.state(gid), "a waiting grant is decided again when it would be provisioned")

	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	require.Equal(t, tilgang.StateDenied, h.state(gid))
	require.Empty(t, h.ops(gid))
	require.Equal(t, []string{">pending_approval", "pending_approval>denied"}, h.transitions(gid))
	ev := h.eventsOf(tilgang.EvGrantDenied, gid)
	require.Len(t, ev, 1)
	require.Contains(t, ev[0].Data["reason"], "denied before provisioning: eligible")
	require.Equal(t, "eligible", ev[0].Data["rule"])
	var last ledger.AuditEntry
	for _, a := range h.audit("grant.state") {
		if a.GrantID == gid {
			last = a
		}
	}
	require.Equal(t, engine.Worker, last.Actor)
	require.Equal(t, "eligible", last.Details["rule"])
}

// A conflicting grant opened while a grant waited for training (the
// catalogue changed meanwhile, say) stops it before provisioning.
func TestConflictBeforeProvisioning(t *testing.T) {
	h := newHarness(t, policySystems).join()
	// gerica/bruker needs training; while it waits, the catalogue gains a
	// conflict with kasse/bruker, which emp then gets.
	gid := h.granted(emp, mgr, "gerica", "bruker")
	require.Equal(t, tilgang.StatePendingTraining, h.state(gid))
	h.toActive(emp, mgr, "kasse", "bruker")
	h.reloadWith(map[string]string{"gerica.yaml": addConflict(moreSystems["gerica.yaml"], "kasse/bruker")})
	require.Equal(t, engine.Accepted, h.train(emp, gericaA, "gerica", "bruker"))
	require.Equal(t, tilgang.StateDenied, h.state(gid))
	require.Empty(t, h.ops(gid))
}

// reloadWith replaces files of the catalogue and sets the new catalogue,
// as a policy reload does.
func (h *harness) reloadWith(files map[string]string) {
	h.t.Helper()
	all := maps.Clone(h.files)
	maps.Copy(all, files)
	cat, err := policy.Load(testenv.WriteCatalogue(h.t, all), []string{"ad", "manual", "noop"})
	require.NoError(h.t, err)
	h.files = all
	h.eng.SetCatalogue(cat)
}

func addConflict(file, with string) string {
	return strings.Replace(file, "requires_training: true\n", "requires_training: true\n    conflicts: ["+with+"]\n", 1)
}
