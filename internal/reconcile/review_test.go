package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/reconcile"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// reviewCatalogue: extras of rev are sent for review. The role giving the
// group wants only the manager's approval, yet a review request waits for
// the systemansvarlig too; a second role gives the same group and more, so
// the review asks for the smaller one. skrive conflicts with lese (in the
// same system), which a person already holding skrive cannot be given.
const reviewCatalogue = `system: rev
name: Reviewed extras
owner: Drift
administrators: [1547-20001]
connectors: [flyt]
roles:
  - id: konto
    entitlements: {flyt: []}
    requestable_by: [manager]
    approval: []
  - id: lese
    entitlements: {flyt: [Rev-Lese]}
    requestable_by: [manager]
    approval: [manager]
    conflicts: [rev/skrive]
  - id: alt
    entitlements: {flyt: [Rev-Lese, Rev-Skrive]}
    requestable_by: [manager]
    approval: [manager]
  - id: skrive
    entitlements: {flyt: [Rev-Skrive]}
    requestable_by: [manager]
    approval: []
reconcile: {extra: review}
`

// TestExtraReviewAsksTheSystemansvarlig: with reconcile.extra: review an
// extra member becomes a grant request by reconcile for the smallest role
// giving it, decided by the manager and the systemansvarlig; once approved
// the member is explained and a run finds nothing; a second run while it
// waits joins the open grant; a denied one is not asked again; a request
// the policy refuses (a conflict) is denied at once and says why.
func TestExtraReviewAsksTheSystemansvarlig(t *testing.T) {
	conn, err := csv.Open("flyt", csv.Config{Dir: t.TempDir()}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	e := testenv.StartWorker(t, connectors.Set{"flyt": conn}, map[string]string{"rev.yaml": reviewCatalogue})
	people := testenv.People()
	mgr, admin := people[1].ID, people[3].ID
	person := func(n string) tilgang.Person {
		p := people[0]
		p.ID = "1547-8" + n
		p.Email = p.ID + "@aukra.kommune.no"
		p.Employments = []tilgang.Employment{p.Employments[0]}
		p.Employments[0].ID = p.ID + "-1"
		p.Employments[0].Manager = mgr
		return p
	}
	pOK, pNo, pSoD := person("1"), person("2"), person("3")
	e.Joiner(append(people, pOK, pNo, pSoD)...)
	grant := func(p tilgang.Person, role string) string {
		id := e.Send(tilgang.TypeRequest, p.ID, mgr, envelope.Request{Action: "grant", System: "rev", Role: role, Reason: "test"})
		gid := e.Wait(tilgang.EvRequestAccepted, p.ID, testenv.ForRequest(id)).Data["grant_id"].(string)
		e.Wait(tilgang.EvGrantActive, p.ID, testenv.ForGrant(gid))
		return gid
	}
	grant(pOK, "konto")
	grant(pNo, "konto")
	grant(pSoD, "skrive")
	ctx := context.Background()
	for _, p := range []tilgang.Person{pOK, pNo, pSoD} {
		require.NoError(t, conn.Grant(ctx, connectors.Account{Person: p}, "Rev-Lese"), "out of band")
	}

	outcomes := func() map[string]reconcile.Finding {
		t.Helper()
		reps, err := e.Reconcile(api.ReconcileArgs{System: "rev", Fix: true})
		require.NoError(t, err)
		require.Len(t, reps, 1)
		require.Empty(t, reps[0].Error)
		out := map[string]reconcile.Finding{}
		for _, f := range reps[0].Findings {
			out[f.Person] = f
		}
		return out
	}
	got := outcomes()
	require.Len(t, got, 3, "%+v", got)
	var gOK, gNo string
	for _, p := range []tilgang.Person{pOK, pNo} {
		f := got[p.ID]
		require.Equal(t, reconcile.Extra, f.Kind)
		require.Equal(t, reconcile.FixReview, f.Fix)
		require.Regexp(t, `^requested: grant g-\S+ of rev/lese waits for approval$`, f.Outcome, "the smaller role of the two giving Rev-Lese")
		gid := strings.Fields(f.Outcome)[2]
		if p.ID == pOK.ID {
			gOK = gid
		} else {
			gNo = gid
		}
	}
	require.Contains(t, got[pSoD.ID].Outcome, "not fixed: review request denied", "skrive conflicts with lese")
	require.Contains(t, got[pSoD.ID].Outcome, "conflicts")

	// The manager's stage first, then the systemansvarlig's, which the role
	// itself does not have.
	pending := e.Wait(tilgang.EvApprovalPending, pOK.ID, testenv.ForGrant(gOK))
	require.Equal(t, "manager", pending.Data["stage_kind"])
	require.EqualValues(t, 2, pending.Data["stages"])
	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: time.Minute}
	var g api.GrantDetail
	require.NoError(t, c.Call(ctx, api.MethodGrant, api.GrantArgs{GrantID: gOK}, &g))
	require.Equal(t, "reconcile", g.Requester)

	// A run while it waits joins the open grant rather than asking again.
	again := outcomes()
	require.Contains(t, again[pOK.ID].Outcome, "grant "+gOK+" ")

	e.Send(tilgang.TypeDecision, pOK.ID, mgr, envelope.Decision{RequestID: g.RequestID, Decision: "approve"})
	second := e.Wait(tilgang.EvApprovalPending, pOK.ID, func(ev testenv.Event) bool {
		return ev.Data["grant_id"] == gOK && ev.Data["stage_kind"] == "systemansvarlig"
	})
	require.Equal(t, []any{admin}, second.Data["approvers"])
	e.Send(tilgang.TypeDecision, pOK.ID, admin, envelope.Decision{RequestID: g.RequestID, Decision: "approve"})
	e.Wait(tilgang.EvGrantActive, pOK.ID, testenv.ForGrant(gOK))

	var gn api.GrantDetail
	require.NoError(t, c.Call(ctx, api.MethodGrant, api.GrantArgs{GrantID: gNo}, &gn))
	e.Send(tilgang.TypeDecision, pNo.ID, mgr, envelope.Decision{RequestID: gn.RequestID, Decision: "deny", Comment: "nei"})
	e.Wait(tilgang.EvGrantDenied, pNo.ID, testenv.ForGrant(gNo))

	after := outcomes()
	_, still := after[pOK.ID]
	require.False(t, still, "the approved grant explains the member: %+v", after[pOK.ID])
	require.Equal(t, reconcile.Extra, after[pNo.ID].Kind)
	require.Equal(t, "not fixed: review request "+gNo+" for rev/lese was denied: not asked again", after[pNo.ID].Outcome)
	require.True(t, member(t, conn, pNo, "Rev-Lese"), "a review removes nothing")

	var rows []api.AuditRow
	require.NoError(t, c.Call(ctx, api.MethodAudit, api.AuditArgs{Person: pOK.ID}, &rows))
	asked := false
	for _, r := range rows {
		asked = asked || (r.Kind == "request.accepted" && r.Actor == "reconcile" && strings.Contains(r.Text, "extra Rev-Lese"))
	}
	require.True(t, asked, "the request is chained with actor reconcile and the finding as reason: %+v", rows)
	var vr ledger.VerifyReport
	require.NoError(t, c.Call(ctx, api.MethodAuditVerify, nil, &vr))
	require.True(t, vr.OK, "audit verify: %s", vr.Problem)
}

func member(t *testing.T, rd connectors.Reader, p tilgang.Person, ent string) bool {
	found := false
	require.NoError(t, rd.EachMember(context.Background(), ent, func(m connectors.Member) error {
		found = found || m.Key == p.ID
		return nil
	}))
	return found
}
