package entra

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/graphemu"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// fix does what a finding's fix asks, through the connector, as the
// executor does for the outbox operations a --fix run plans.
func fix(ctx context.Context, c *Connector, f reconcile.Finding, refs map[string]connectors.Ref) error {
	a := connectors.Account{Person: tilgang.Person{ID: f.Person}, Ref: refs[f.Person]}
	switch f.Fix {
	case reconcile.FixGrant:
		return c.Grant(ctx, a, f.Entitlement)
	case reconcile.FixRevoke:
		return c.Revoke(ctx, a, f.Entitlement)
	case reconcile.FixDisable:
		return c.Disable(ctx, a)
	case reconcile.FixEnable:
		return c.Enable(ctx, a)
	}
	return nil
}

// TestReconcileFindsAndMends: against the emulator, a member added out of
// band, a member removed out of band, an account disabled out of band, an
// orphan account of a person who left and two accounts with one employee
// id are each found with the right kind; fixing mends the first four, and
// a second run finds nothing but the dispute, which is only reported.
func TestReconcileFindsAndMends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ctx := t.Context()
	ents := []string{"Hjemmetjenesten", "Legevakt"}
	groups := map[string]string{}
	for _, n := range ents {
		groups[n] = e.emu.AddGroup(n, false)
	}
	d := reconcile.Desired{Connector: "entra", Entitlements: ents, Holders: map[string]*reconcile.Holder{}}
	refs := map[string]connectors.Ref{}
	ids := map[string]string{}
	// Ten people in the ledger, each with an enabled account and a live,
	// active grant of Hjemmetjenesten, as the target has them.
	for i := range 10 {
		p := fmt.Sprintf("p%02d", i)
		id := e.emu.AddUser(map[string]any{"userPrincipalName": p + "@ror.test", "employeeId": p})
		ids[p] = id
		refs[p] = connectors.Ref{RefID: id, RefUPN: p + "@ror.test"}
		e.emu.AddMembersDirect(groups["Hjemmetjenesten"], id)
		d.Holders[p] = &reconcile.Holder{Known: true, HasAccount: true, Enabled: true, Ref: refs[p],
			Grants: map[string]string{"Hjemmetjenesten": "g-" + p}, Active: map[string]bool{"Hjemmetjenesten": true}}
	}
	// p09 has left: the ledger disabled the account and holds no grant.
	d.Holders["p09"].Left = true
	d.Holders["p09"].Enabled = false
	d.Holders["p09"].Grants, d.Holders["p09"].Active = nil, nil
	e.emu.RemoveMembersDirect(groups["Hjemmetjenesten"], ids["p09"])
	e.emu.SetUser(ids["p09"], map[string]any{"accountEnabled": false})
	s := reconcile.Settings{Extra: reconcile.FixRevoke, Orphan: reconcile.FixDisable, MaxRemovals: 10, MaxShare: 0.5}

	run := func() reconcile.Report {
		t.Helper()
		rep, err := reconcile.Compare(ctx, "helse", e.c, d, s)
		require.NoError(t, err)
		return rep
	}
	clean := run()
	require.Empty(t, clean.Findings, "a tenant as the ledger has it")
	require.Equal(t, reconcile.Read{Accounts: 10, Members: 9}, clean.Read)

	// Drift, out of band.
	e.emu.AddMembersDirect(groups["Legevakt"], ids["p01"])                                    // extra
	e.emu.RemoveMembersDirect(groups["Hjemmetjenesten"], ids["p02"])                          // missing
	e.emu.SetUser(ids["p03"], map[string]any{"accountEnabled": false})                        // state
	e.emu.SetUser(ids["p09"], map[string]any{"accountEnabled": true})                         // orphan: re-enabled after leaving
	e.emu.AddUser(map[string]any{"userPrincipalName": "p04.2@ror.test", "employeeId": "p04"}) // disputed

	rep := run()
	type key struct {
		kind   reconcile.Kind
		person string
		ent    string
		fix    reconcile.Fix
	}
	var got []key
	for _, f := range rep.Findings {
		got = append(got, key{f.Kind, f.Person, f.Entitlement, f.Fix})
	}
	require.ElementsMatch(t, []key{
		{reconcile.Missing, "p02", "Hjemmetjenesten", reconcile.FixGrant},
		{reconcile.Extra, "p01", "Legevakt", reconcile.FixRevoke},
		{reconcile.Orphan, "p09", "", reconcile.FixDisable},
		{reconcile.State, "p03", "", reconcile.FixEnable},
		{reconcile.Disputed, "p04", "", reconcile.FixNone},
	}, got, "%+v", rep.Findings)
	for _, k := range reconcile.Kinds {
		require.Equal(t, 1, rep.Counts[k], k)
	}

	for _, f := range rep.Findings {
		require.NoError(t, fix(ctx, e.c, f, refs), "%+v", f)
	}
	require.Contains(t, e.emu.Members(groups["Hjemmetjenesten"]), ids["p02"])
	require.NotContains(t, e.emu.Members(groups["Legevakt"]), ids["p01"])
	for p, want := range map[string]bool{"p03": true, "p09": false} {
		u, _ := e.emu.User(ids[p])
		require.Equal(t, want, u["accountEnabled"], p)
	}

	again := run()
	require.Len(t, again.Findings, 1, "%+v", again.Findings)
	require.Equal(t, reconcile.Disputed, again.Findings[0].Kind, "the dispute is only reported")
}

// A read that fails halfway makes Compare return the error and no findings.
func TestReconcileReadFailsFixesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.MaxRetries = 1 })
	_, _ = tenant(e, 2200)
	d := reconcile.Desired{Connector: "entra", Entitlements: []string{"Alle"}, Holders: map[string]*reconcile.Holder{}}
	for _, fault := range []string{"error", "cut", "short"} {
		e.emu.SetFaults(graphemu.Faults{BreakPage: 1, PageFault: fault})
		rep, err := reconcile.Compare(t.Context(), "helse", e.c, d, reconcile.DefaultSettings)
		require.Error(t, err, fault)
		require.Empty(t, rep.Findings, fault)
	}
}
