package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// designTable is the table of grant states of DESIGN.md ("Grants, requests
// and their states"), as the contract has it.
const designTable = `| from | to | by |
| --- | --- | --- |
| (none) | pending_approval / pending_training / provisioning | an accepted grant request, by policy |
| (none) | denied | a request the policy refuses (ineligible, SoD conflict, not requestable by the actor) |
| pending_approval | next stage, pending_training or provisioning | an approve decision by the stage's principal |
| pending_approval | denied | a deny decision by the stage's principal |
| pending_training | provisioning | a training confirmation by an administrator of the system |
| provisioning | active / failed | the executor |
| provisioning | active, then revoking | a revoke or leaver while its operations are in flight: they finish, then it is revoked |
| active | revoking | a revoke request, a leaver, an expiry, a mover the role no longer allows |
| revoking | revoked (expired when an expiry caused it) / revoke_failed | the executor (revoke_failed means access may remain: alert) |
| pending_approval, pending_training, provisioning not yet started | cancelled | a revoke or leaver, or an operator cancel |
| failed / revoke_failed | provisioning / revoking | an operator retry |`

// designRows reads each row of designTable as the transitions it allows,
// with their causes.
var designRows = []struct {
	row   string
	allow []transition
}{
	{"| (none) | pending_approval / pending_training / provisioning | an accepted grant request, by policy |",
		[]transition{{none, pendingApproval, byRequest}, {none, pendingTraining, byRequest}, {none, provisioning, byRequest}}},
	{"| (none) | denied | a request the policy refuses (ineligible, SoD conflict, not requestable by the actor) |",
		[]transition{{none, denied, byRefusal}}},
	{"| pending_approval | next stage, pending_training or provisioning | an approve decision by the stage's principal |",
		[]transition{{pendingApproval, pendingApproval, byApproval}, {pendingApproval, pendingTraining, byApproval}, {pendingApproval, provisioning, byApproval}}},
	{"| pending_approval | denied | a deny decision by the stage's principal |",
		[]transition{{pendingApproval, denied, byDenial}}},
	{"| pending_training | provisioning | a training confirmation by an administrator of the system |",
		[]transition{{pendingTraining, provisioning, byTraining}}},
	{"| provisioning | active / failed | the executor |",
		[]transition{{provisioning, active, byExecutor}, {provisioning, failed, byExecutor}}},
	{"| provisioning | active, then revoking | a revoke or leaver while its operations are in flight: they finish, then it is revoked |",
		[]transition{{provisioning, active, byExecutor}, {active, revoking, byEnd}}},
	{"| active | revoking | a revoke request, a leaver, an expiry, a mover the role no longer allows |",
		[]transition{{active, revoking, byEnd}}},
	{"| revoking | revoked (expired when an expiry caused it) / revoke_failed | the executor (revoke_failed means access may remain: alert) |",
		[]transition{{revoking, revoked, byExecutor}, {revoking, expired, byExecutor}, {revoking, revokeFailed, byExecutor}}},
	{"| pending_approval, pending_training, provisioning not yet started | cancelled | a revoke or leaver, or an operator cancel |",
		[]transition{{pendingApproval, cancelled, byCancel}, {pendingTraining, cancelled, byCancel}, {provisioning, cancelled, byCancel}}},
	{"| failed / revoke_failed | provisioning / revoking | an operator retry |",
		[]transition{{failed, provisioning, byRetry}, {revokeFailed, revoking, byRetry}}},
}

// beyondDesign are the transitions of the state table that DESIGN.md's
// table leaves implicit (see transitions).
var beyondDesign = []transition{
	{pendingApproval, denied, byRecheck},
	{pendingTraining, denied, byRecheck},
	{failed, revoking, byEnd},
	{provisioning, revoking, byEnd},
	{pendingApproval, pendingApproval, byAttach},
}

// The state table is DESIGN.md's, row by row: every row's transitions are
// in it, and it has nothing else but the few the design leaves implicit.
func TestStateTableIsTheDesigns(t *testing.T) {
	lines := strings.Split(designTable, "\n")
	require.Equal(t, []string{"| from | to | by |", "| --- | --- | --- |"}, lines[:2])
	require.Len(t, designRows, len(lines)-2, "every row of the design is read")
	covered := map[transition]bool{}
	for i, r := range designRows {
		require.Equal(t, lines[i+2], r.row, "row %d", i+1)
		for _, tr := range r.allow {
			require.True(t, allowed[tr], "DESIGN.md row %q: %s -> %s by %s is not in the state table", r.row, tr.from, tr.to, tr.by)
			covered[tr] = true
		}
	}
	for _, tr := range beyondDesign {
		require.False(t, covered[tr], "%s -> %s by %s is in DESIGN.md's table", tr.from, tr.to, tr.by)
		covered[tr] = true
	}
	for _, tr := range transitions {
		require.True(t, covered[tr], "%s -> %s by %s is in the state table but not in DESIGN.md's", tr.from, tr.to, tr.by)
	}
	require.Len(t, allowed, len(covered), "no transition is listed twice")
	for _, tr := range transitions {
		require.False(t, tr.from.Final(), "%s is final: nothing leaves it", tr.from)
		require.NotEqual(t, none, tr.to)
	}
}

// A change of state that the table does not allow (for its cause) is
// refused with an Internal error naming the grant and the states, before
// anything is written (the transaction given here would fail any write).
func TestMoveRefusesTransitionNotInTable(t *testing.T) {
	for _, tc := range []struct {
		from, to tilgang.GrantState
		by       by
		insert   bool
	}{
		{revoked, active, byRetry, false},
		{denied, provisioning, byApproval, false},
		{cancelled, provisioning, byTraining, false},
		{expired, revoking, byEnd, false},
		{active, provisioning, byApproval, false},
		{pendingApproval, provisioning, byExecutor, false}, // the states are in the table, the cause is not
		{provisioning, active, byRetry, false},
		{none, active, byRequest, true},
		{none, cancelled, byCancel, true},
	} {
		t.Run(string(tc.from)+">"+string(tc.to), func(t *testing.T) {
			e := &Engine{}
			g := &ledger.Grant{ID: "g-0123456789abcdef", Person: "1547-1", System: "kasse", Role: "bruker", State: tc.from}
			err := e.move(nil, time.Now(), g, tc.to, tc.by, why{}, tc.insert)
			require.Error(t, err)
			require.Equal(t, tilgang.Internal, tilgang.KindOf(err))
			from := string(tc.from)
			if tc.insert {
				from = "(none)"
			}
			require.ErrorContains(t, err, "grant g-0123456789abcdef may not move from "+from+" to "+string(tc.to))
			require.Equal(t, tc.from, g.State, "the grant is left as it was")
		})
	}
}
