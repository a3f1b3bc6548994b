package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// plania is a second manual system on the instance kasse uses, with its own
// administrator.
var planiaManual = map[string]string{"plania.yaml": `system: plania
name: Plania
owner: Eigedom
administrators: [1547-20003]
connectors: [manual]
roles:
  - id: bruker
    entitlements: {manual: ["Plania: Bruker"]}
    requestable_by: [manager]
    approval: []
`}

// waiting is the person's one waiting operation of kind.
func (h *harness) waiting(person, kind string) ledger.Operation {
	h.t.Helper()
	var found []ledger.Operation
	for _, op := range h.personOps(person, ledger.OpWaiting) {
		if op.Kind == kind {
			found = append(found, op)
		}
	}
	require.Len(h.t, found, 1, "waiting %s operations of %s", kind, person)
	return found[0]
}

// Account work without a grant belongs to the systems on its connector
// instance that the person has (or, for a leaver's disable, had) a grant
// in: kasse's administrators do not disable a Plania leaver's account,
// though kasse uses the same manual instance.
func TestAccountTaskBelongsToThePersonsSystems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, planiaManual).join()
	gid := h.granted(emp, mgr, "plania", "bruker")
	for _, kind := range []string{ledger.KindEnsureAccount, ledger.KindGrant} {
		h.run()
		require.Equal(t, engine.Accepted, h.task(emp, arkivA1, h.waiting(emp, kind).ID, "done"), kind)
	}
	require.Equal(t, tilgang.StateActive, h.state(gid))

	last := tilgang.Date{Y: 2025, M: 3, D: 10}
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, last)))
	h.now = last.End()
	h.run()
	require.True(t, h.person(emp).Left)
	revoke := h.waiting(emp, ledger.KindRevoke)
	require.Equal(t, engine.Rejected, h.task(emp, kasseA1, revoke.ID, "done"), "plania's grant is not kasse's")
	require.Equal(t, engine.Accepted, h.task(emp, arkivA1, revoke.ID, "done"))
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(gid))

	disable := h.waiting(emp, ledger.KindDisable)
	require.Empty(t, disable.GrantID, "account work")
	for _, actor := range []string{kasseA1, kasseA2} {
		require.Equal(t, engine.Rejected, h.task(emp, actor, disable.ID, "done"), "%s administers kasse, not plania", actor)
	}
	rej := h.audit("message.rejected")
	require.Contains(t, rej[len(rej)-1].Text, "is not an administrator of the system")
	require.Equal(t, engine.Accepted, h.task(emp, arkivA1, disable.ID, "done"), "the leaver's plania grant makes it plania's")
	require.False(t, h.account(emp, "manual").Enabled)
}

func TestTaskSystems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, planiaManual)
	cat := h.eng.Catalogue()
	grant := func(system string, state tilgang.GrantState, cause string) ledger.Grant {
		return ledger.Grant{ID: "g-" + system, Person: emp, System: system, Role: "bruker", State: state, RevokeCause: cause}
	}
	acct := func(kind string) *ledger.Operation {
		return &ledger.Operation{Person: emp, Connector: "manual", Kind: kind}
	}
	tests := []struct {
		name   string
		op     *ledger.Operation
		g      *ledger.Grant
		grants []ledger.Grant
		want   []string
	}{
		{name: "a grant's operation is its system's", op: &ledger.Operation{GrantID: "g-1", Person: emp, Connector: "manual"},
			g: &ledger.Grant{ID: "g-1", System: "kasse"}, want: []string{"kasse"}},
		{name: "a grant's operation whose grant is gone", op: &ledger.Operation{GrantID: "g-1", Person: emp, Connector: "manual"}},
		{name: "account work with no grant is nobody's", op: acct(ledger.KindEnsureAccount)},
		{name: "account work of an open grant's system", op: acct(ledger.KindEnsureAccount),
			grants: []ledger.Grant{grant("plania", tilgang.StateActive, "")}, want: []string{"plania"}},
		{name: "both systems on the instance", op: acct(ledger.KindEnable),
			grants: []ledger.Grant{grant("plania", tilgang.StatePendingApproval, ""), grant("kasse", tilgang.StateRevoking, "revoke")}, want: []string{"kasse", "plania"}},
		{name: "a system on another instance", op: acct(ledger.KindEnsureAccount),
			grants: []ledger.Grant{grant("arkiv", tilgang.StateActive, "")}},
		{name: "a revoked grant does not count for an update", op: acct(ledger.KindEnsureAccount),
			grants: []ledger.Grant{grant("plania", tilgang.StateRevoked, "leaver")}},
		{name: "the leave's revoked grant counts for the disable", op: acct(ledger.KindDisable),
			grants: []ledger.Grant{grant("plania", tilgang.StateRevoked, "leaver"), grant("kasse", tilgang.StateRevoked, "revoke")}, want: []string{"plania"}},
		{name: "another person's grant", op: acct(ledger.KindEnsureAccount),
			grants: []ledger.Grant{{ID: "g-x", Person: emp2, System: "plania", State: tilgang.StateActive}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := engine.TaskSystems(cat, tc.op, tc.g, tc.grants)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}
