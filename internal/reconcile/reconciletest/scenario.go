// Package reconciletest is the reconciliation acceptance scenario every
// target that can list runs through the real worker: five out-of-band
// changes found with the right kind, fixed by --fix per the settings, a
// second run that finds nothing but the dispute, and the removal threshold
// that holds a run until --allow-removals lets it through.
package reconciletest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/reconcile"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// Target is one connector instance under test and how to look at it
// directly.
type Target struct {
	Name string // the connector instance name in the catalogue
	Conn connectors.Connector
	// Main and Held are two entitlements (groups) made for this run, empty.
	Main, Held string
	// IDPrefix begins this run's person ids, unique in a target shared
	// with other runs (letters, digits, '-').
	IDPrefix string
	// Duplicate makes a second account carrying the person's id at the
	// target, out of band; nil for a target that cannot hold two (csv).
	Duplicate func(t *testing.T, p tilgang.Person)
	// SetEnabled, when set, disables or enables the account out of band
	// the way an administrator would (AD: the userAccountControl flag
	// alone, where the connector's Disable also does a leaver's work);
	// nil: the connector's Disable and Enable.
	SetEnabled func(t *testing.T, p tilgang.Person, on bool)
	// Member and Enabled read the target directly, not through Reader.
	Member  func(t *testing.T, p tilgang.Person, ent string) bool
	Enabled func(t *testing.T, p tilgang.Person) bool
}

// Catalogue is the scenario's two systems on the target: recon (extras
// revoked, orphans disabled, up to 10 removals) and recon2 (extras revoked,
// at most 1 removal).
func Catalogue(tg Target) map[string]string {
	return map[string]string{
		"recon.yaml": fmt.Sprintf(`system: recon
name: Reconciled
owner: Drift
administrators: [1547-20001]
connectors: [%[1]s]
roles:
  - id: bruker
    entitlements: {%[1]s: [%[2]q]}
    requestable_by: [manager]
    approval: []
  - id: konto
    entitlements: {%[1]s: []}
    requestable_by: [manager]
    approval: []
reconcile: {extra: revoke, orphan: disable, max_removals: 10, max_share: 100%%}
`, tg.Name, tg.Main),
		"recon2.yaml": fmt.Sprintf(`system: recon2
name: Reconciled with a low threshold
owner: Drift
administrators: [1547-20001]
connectors: [%[1]s]
roles:
  - id: bruker
    entitlements: {%[1]s: [%[2]q]}
    requestable_by: [manager]
    approval: []
reconcile: {extra: revoke, max_removals: 1, max_share: 100%%}
`, tg.Name, tg.Held),
	}
}

// short is a finding as the scenario compares it.
type short struct {
	Kind   reconcile.Kind
	Person string
	Ent    string
	Fix    reconcile.Fix
}

// Run runs the scenario against tg.
func Run(t *testing.T, tg Target) {
	e := testenv.StartWorker(t, connectors.Set{tg.Name: tg.Conn}, Catalogue(tg))
	people := testenv.People()
	mgr := people[1].ID
	person := func(n string) tilgang.Person {
		p := people[0]
		p.ID = tg.IDPrefix + n
		p.GivenName = "Rek" + n
		p.Email = p.ID + "@aukra.kommune.no"
		p.Employments = []tilgang.Employment{p.Employments[0]}
		p.Employments[0].ID = p.ID + "-1"
		p.Employments[0].Manager = mgr
		return p
	}
	pAdd, pRem, pOff, pLeft, pDup := person("1"), person("2"), person("3"), person("4"), person("5")
	held := []tilgang.Person{person("6"), person("7"), person("8")}
	ours := map[string]bool{}
	for _, p := range append([]tilgang.Person{pAdd, pRem, pOff, pLeft, pDup}, held...) {
		ours[p.ID] = true
	}
	e.Joiner(append(people, pAdd, pRem, pOff, pLeft, pDup, held[0], held[1], held[2])...)

	grant := func(p tilgang.Person, system, role string) string {
		id := e.Send(tilgang.TypeRequest, p.ID, mgr, envelope.Request{Action: "grant", System: system, Role: role, Reason: "reconcile test"})
		gid := e.Wait(tilgang.EvRequestAccepted, p.ID, testenv.ForRequest(id)).Data["grant_id"].(string)
		e.Wait(tilgang.EvGrantActive, p.ID, testenv.ForGrant(gid))
		return gid
	}
	for _, p := range []tilgang.Person{pAdd, pDup, held[0], held[1], held[2]} {
		grant(p, "recon", "konto")
	}
	for _, p := range []tilgang.Person{pRem, pOff} {
		grant(p, "recon", "bruker")
	}
	leftGrant := grant(pLeft, "recon", "bruker")
	leaving := pLeft
	leaving.Employments[0].End = tilgang.DateOf(time.Now().AddDate(0, 0, -2))
	e.Send(tilgang.TypeHRLeaver, pLeft.ID, principals.HRID, envelope.HR{Version: time.Now().UnixNano(), Person: leaving})
	e.Wait(tilgang.EvGrantRevoked, pLeft.ID, testenv.ForGrant(leftGrant))
	require.Eventually(t, func() bool { return !tg.Enabled(t, pLeft) }, 30*time.Second, 100*time.Millisecond, "the leaver's account is disabled")

	// Nothing has drifted yet.
	ctx := context.Background()
	acct := func(p tilgang.Person) connectors.Account { return connectors.Account{Person: p} }
	require.Empty(t, settle(t, e, "recon", ours, nil), "no drift before the out-of-band changes")

	// Five changes out of band, made with the connector itself: the
	// ledger knows nothing of them.
	require.NoError(t, tg.Conn.Grant(ctx, acct(pAdd), tg.Main))
	require.NoError(t, tg.Conn.Revoke(ctx, acct(pRem), tg.Main))
	if tg.SetEnabled != nil {
		tg.SetEnabled(t, pOff, false)
		tg.SetEnabled(t, pLeft, true)
	} else {
		require.NoError(t, tg.Conn.Disable(ctx, acct(pOff)))
		require.NoError(t, tg.Conn.Enable(ctx, acct(pLeft)))
	}
	want := []short{
		{reconcile.Missing, pRem.ID, tg.Main, reconcile.FixGrant},
		{reconcile.Extra, pAdd.ID, tg.Main, reconcile.FixRevoke},
		{reconcile.Orphan, pLeft.ID, "", reconcile.FixDisable},
		{reconcile.State, pOff.ID, "", reconcile.FixEnable},
	}
	var disputed []short
	if tg.Duplicate != nil {
		tg.Duplicate(t, pDup)
		disputed = []short{{reconcile.Disputed, pDup.ID, "", reconcile.FixNone}}
		want = append(want, disputed...)
	}
	got := settle(t, e, "recon", ours, want)
	require.Equal(t, want, got, "each out-of-band change found with its kind, and nothing else")
	// A dry run changed nothing.
	require.True(t, tg.Member(t, pAdd, tg.Main))
	require.False(t, tg.Member(t, pRem, tg.Main))
	require.False(t, tg.Enabled(t, pOff))
	require.True(t, tg.Enabled(t, pLeft))
	e.Wait(tilgang.EvDriftFound, "_", func(ev testenv.Event) bool { return ev.Data["system"] == "recon" })

	// --fix mends the four and only reports the dispute.
	reps, err := e.Reconcile(api.ReconcileArgs{System: "recon", Fix: true})
	require.NoError(t, err)
	require.Len(t, reps, 1)
	rep := reps[0]
	require.Empty(t, rep.Error)
	require.False(t, rep.Held)
	for _, f := range rep.Findings {
		if !ours[f.Person] {
			continue
		}
		if f.Fix == reconcile.FixNone {
			require.Empty(t, f.Outcome, "%+v", f)
		} else {
			require.Equal(t, "done", f.Outcome, "%+v", f)
		}
	}
	require.False(t, tg.Member(t, pAdd, tg.Main), "the extra member is removed")
	require.True(t, tg.Member(t, pRem, tg.Main), "the missing member is back")
	require.True(t, tg.Enabled(t, pOff), "the account disabled out of band is enabled again")
	require.False(t, tg.Enabled(t, pLeft), "the leaver's account is disabled again")

	// A second run finds nothing but the dispute.
	require.Equal(t, disputed, settle(t, e, "recon", ours, disputed))

	// The fixes are in the audit with actor reconcile, and the chain verifies.
	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: time.Minute}
	var rows []api.AuditRow
	require.NoError(t, c.Call(ctx, api.MethodAudit, api.AuditArgs{Person: pRem.ID}, &rows))
	found := false
	for _, r := range rows {
		if r.Kind == ledger.KindPlanned && r.Actor == "reconcile" {
			found = true
			require.Contains(t, r.Text, "missing")
		}
	}
	require.True(t, found, "the fix is chained as planned by reconcile: %+v", rows)
	var vr ledger.VerifyReport
	require.NoError(t, c.Call(ctx, api.MethodAuditVerify, nil, &vr))
	require.True(t, vr.OK, "audit verify: %s", vr.Problem)

	// Three members added out of band to recon2's group, which allows one
	// removal: the run holds and removes nothing.
	for _, p := range held {
		require.NoError(t, tg.Conn.Grant(ctx, acct(p), tg.Held))
	}
	reps, err = e.Reconcile(api.ReconcileArgs{System: "recon2", Fix: true})
	require.NoError(t, err)
	require.True(t, reps[0].Held, "%+v", reps[0])
	require.Contains(t, reps[0].HeldWhy, "3 removals, more than the 1 allowed")
	for _, p := range held {
		require.True(t, tg.Member(t, p, tg.Held), "a held run removes nothing")
	}
	e.Wait(tilgang.EvReconcileHeld, "_", func(ev testenv.Event) bool { return ev.Data["system"] == "recon2" })
	e.Metric("tilgang_reconcile_held_total", 1, `system="recon2"`)
	reps, err = e.Reconcile(api.ReconcileArgs{System: "recon2", Fix: true, AllowRemovals: 3})
	require.NoError(t, err)
	require.False(t, reps[0].Held)
	for _, p := range held {
		require.False(t, tg.Member(t, p, tg.Held), "--allow-removals 3 lets the three through")
	}
}

// settle runs dry runs of the system until this run's findings equal want
// (work in flight is skipped by a run, so the first may see less), at most
// 30 s, and returns the last.
func settle(t *testing.T, e *testenv.Env, system string, ours map[string]bool, want []short) []short {
	t.Helper()
	var got []short
	deadline := time.Now().Add(30 * time.Second)
	for {
		reps, err := e.Reconcile(api.ReconcileArgs{System: system})
		require.NoError(t, err)
		require.Len(t, reps, 1)
		require.Empty(t, reps[0].Error)
		got = nil
		for _, f := range reps[0].Findings {
			if ours[f.Person] {
				got = append(got, short{f.Kind, f.Person, f.Entitlement, f.Fix})
			}
		}
		sort.SliceStable(got, func(i, j int) bool { return kindOrder(got[i].Kind) < kindOrder(got[j].Kind) })
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func kindOrder(k reconcile.Kind) int {
	for i, x := range reconcile.Kinds {
		if x == k {
			return i
		}
	}
	return len(reconcile.Kinds)
}

// Names lists the kinds of findings, for messages.
func Names(fs []reconcile.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, string(f.Kind)+":"+f.Person)
	}
	return strings.Join(s, ", ")
}
