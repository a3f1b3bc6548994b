package engine_test

// The outbox planner: every operation at its place in the person's chain
// on its connector instance (DESIGN.md invariant 3), also when a grant that
// was to make an account is withdrawn before it started.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// katalog (the directory): a nurse gets pleie, everyone whose main
// employment is at least half time gets heltid, both on ad, both by
// birthright (the employment's percent shows in no account).
var directorySystems = map[string]string{
	"katalog.yaml": `system: katalog
name: Katalog
owner: Fellestjenester
administrators: [1547-20005]
connectors: [ad]
roles:
  - id: pleie
    entitlements: {ad: ["CN=Pleie,OU=Groups"]}
    requestable_by: []
    approval: []
  - id: heltid
    entitlements: {ad: ["CN=Heltid,OU=Groups"]}
    requestable_by: []
    approval: []
birthright:
  - when: 'person.position == "sykepleier"'
    roles: [pleie]
  - when: 'person.employments.exists(e, e.primary && e.percent >= 50.0)'
    roles: [heltid]
`,
}

// notFoundWithoutAccount fails a grant or revoke on a connector where the
// person has no account yet, as AD and Entra do.
func (h *harness) notFoundWithoutAccount(op ledger.Operation) error {
	if (op.Kind == ledger.KindGrant || op.Kind == ledger.KindRevoke) && h.account(op.Person, op.Connector) == nil {
		return tilgang.Errorf(tilgang.NotFound, "%s has no account on %s", op.Person, op.Connector)
	}
	return nil
}

// One HR record gives two birthright roles on ad: the first grant makes the
// account, the second relies on it. The next version withdraws the first
// before anything ran: the account creation goes to the second grant and
// keeps its place, before the second grant's work.
func TestWithdrawnGrantHandsItsAccountOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, directorySystems)
	h.fail = h.notFoundWithoutAccount
	const p = "1547-5"
	require.Equal(t, engine.Accepted, h.hr(1, employee(p, mgr, since2020, tilgang.Date{})))
	heltid := h.openGrant(p, "katalog", "heltid")
	pleie := h.openGrant(p, "katalog", "pleie")
	require.NotNil(t, heltid)
	require.NotNil(t, pleie)
	require.Equal(t, []string{"ensure_account ad", "grant ad CN=Heltid,OU=Groups"}, kinds(h.ops(heltid.ID)))
	require.Equal(t, []string{"grant ad CN=Pleie,OU=Groups"}, kinds(h.ops(pleie.ID)), "the account is being made")
	ensure := h.ops(heltid.ID)[0].ID

	part := employee(p, mgr, since2020, tilgang.Date{})
	part.Employments[0].Percent = 40
	require.Equal(t, engine.Accepted, h.hr(2, part))
	require.Equal(t, tilgang.StateCancelled, h.state(heltid.ID))
	require.Equal(t, ensure, h.ops(pleie.ID)[0].ID, "moved, not copied: the same operation, at its place")
	require.Len(t, h.ops(pleie.ID), 2, "nothing cancelled and queued again")

	require.Equal(t, []string{"ensure_account ad", "grant ad CN=Pleie,OU=Groups"}, kinds(h.run()))
	require.Equal(t, tilgang.StateActive, h.state(pleie.ID))
	require.NotNil(t, h.account(p, "ad"))
	var live []string
	for _, op := range h.ops(pleie.ID) {
		if op.State != ledger.OpCancelled {
			live = append(live, op.Kind+" "+string(op.State))
		}
	}
	require.Equal(t, []string{"ensure_account done", "grant done"}, live, "the account is the second grant's now")
	require.Empty(t, h.personOps(p, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting))
}

// The same for the enable a rehire's first grant plans for the account a
// leave disabled: the second grant relied on it, and gets it.
func TestWithdrawnGrantHandsItsEnableOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, directorySystems)
	const p = "1547-5"
	require.Equal(t, engine.Accepted, h.hr(1, employee(p, mgr, since2020, tilgang.Date{})))
	h.run()
	require.Equal(t, engine.Accepted, h.hr(2, employee(p, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})))
	h.run()
	require.True(t, h.person(p).Left)
	require.False(t, h.account(p, "ad").Enabled)

	rehired := employee(p, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})
	rehired.Employments[0].Primary = false
	rehired.Employments = append(rehired.Employments, tilgang.Employment{ID: p + "-2", Primary: true, Percent: 100,
		OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier", Manager: mgr, Start: tilgang.Date{Y: 2025, M: 3, D: 10}})
	require.Equal(t, engine.Accepted, h.hr(3, rehired))
	heltid := h.openGrant(p, "katalog", "heltid")
	pleie := h.openGrant(p, "katalog", "pleie")
	require.Equal(t, []string{"enable ad", "grant ad CN=Heltid,OU=Groups"}, kinds(h.ops(heltid.ID)))
	require.Equal(t, []string{"grant ad CN=Pleie,OU=Groups"}, kinds(h.ops(pleie.ID)))

	rehired.Employments[1].Percent = 40
	require.Equal(t, engine.Accepted, h.hr(4, rehired))
	require.Equal(t, tilgang.StateCancelled, h.state(heltid.ID))
	require.Equal(t, []string{"enable ad", "grant ad CN=Pleie,OU=Groups"}, kinds(h.run()))
	require.Equal(t, tilgang.StateActive, h.state(pleie.ID))
	require.True(t, h.account(p, "ad").Enabled, "the rehire's account is enabled")
}

// The grant that took the account over has not started either: it can be
// cancelled (what was queued again for it does not count as started), and
// then nothing is left to do.
func TestHeirOfAccountCanBeCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, directorySystems)
	const p = "1547-5"
	require.Equal(t, engine.Accepted, h.hr(1, employee(p, mgr, since2020, tilgang.Date{})))
	heltid := h.openGrant(p, "katalog", "heltid")
	pleie := h.openGrant(p, "katalog", "pleie")
	part := employee(p, mgr, since2020, tilgang.Date{})
	part.Employments[0].Percent = 40
	require.Equal(t, engine.Accepted, h.hr(2, part))
	require.Equal(t, tilgang.StateCancelled, h.state(heltid.ID))

	require.Equal(t, engine.Accepted, h.operator(tilgang.TypeCancel, p, pleie.ID))
	require.Equal(t, tilgang.StateCancelled, h.state(pleie.ID))
	require.Empty(t, h.personOps(p, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting))
	require.Empty(t, h.run())
	require.Nil(t, h.account(p, "ad"))
}
