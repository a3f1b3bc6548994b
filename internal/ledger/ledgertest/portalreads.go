package ledgertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The reads the portal's pages make: a system's grants a page at a time,
// the pending approvals a principal may decide, the grants in a state of
// some systems, several requests at once. Ids are fixed-width lower-case
// letters and digits, so any database collation orders them as bytes do.

// portalGrants is a mix of systems, roles, people and states, with
// updates at different times.
func portalGrants() []ledger.Grant {
	states := []tilgang.GrantState{tilgang.StateActive, tilgang.StateProvisioning, tilgang.StatePendingApproval,
		tilgang.StatePendingTraining, tilgang.StateRevoked, tilgang.StateActive, tilgang.StateRevoking}
	var out []ledger.Grant
	for i := range 60 {
		g := grant(fmt.Sprintf("g%03d", (i*37)%101), fmt.Sprintf("p%02d", (i*7)%13), []string{"s1", "s2"}[i%2],
			[]string{"admin", "bruker", "les"}[i%3], states[i%len(states)])
		g.Updated = t0.Add(time.Duration((i*11)%17) * time.Minute)
		g.StagePrincipal = []string{"", "a1", "a2", ""}[i%4]
		out = append(out, g)
	}
	return out
}

func less(a, b ledger.Grant) int {
	return strings.Compare(a.Role+"\x00"+a.Person+"\x00"+a.ID, b.Role+"\x00"+b.Person+"\x00"+b.ID)
}

// waitingLess is PendingApprovals' and GrantsInState's order.
func waitingLess(a, b ledger.Grant) int {
	if c := a.Updated.Compare(b.Updated); c != 0 {
		return c
	}
	for _, p := range [][2]string{{a.Person, b.Person}, {a.System, b.System}, {a.Role, b.Role}} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func inOrder(gs []ledger.Grant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func where(gs []ledger.Grant, keep func(g ledger.Grant) bool) []ledger.Grant {
	var out []ledger.Grant
	for _, g := range gs {
		if keep(g) {
			out = append(out, g)
		}
	}
	return out
}

var portalReadTests = []test{
	{"SystemGrantsInPages", func(t *testing.T, l ledger.Ledger) {
		all := portalGrants()
		putGrants(t, l, all...)
		holders := []tilgang.GrantState{tilgang.StateActive, tilgang.StateProvisioning, tilgang.StateRevoking}
		for _, tc := range []struct {
			system, role string
			limit        int
		}{{"s1", "", 4}, {"s2", "", 5}, {"s1", "bruker", 2}, {"s2", "les", 0}, {"s3", "", 3}} {
			want := where(all, func(g ledger.Grant) bool {
				return g.System == tc.system && (tc.role == "" || g.Role == tc.role) && slices.Contains(holders, g.State)
			})
			slices.SortFunc(want, less)
			var got []ledger.Grant
			f := ledger.SystemGrantFilter{System: tc.system, Role: tc.role, States: holders, Limit: tc.limit}
			for {
				page, err := l.SystemGrants(t.Context(), f)
				require.NoError(t, err)
				if tc.limit > 0 {
					require.LessOrEqual(t, len(page), tc.limit)
				}
				got = append(got, page...)
				if tc.limit == 0 || len(page) < tc.limit {
					break
				}
				f.After = ledger.KeyOf(&page[len(page)-1])
			}
			require.Equal(t, inOrder(want), inOrder(got), "%s %s by %d", tc.system, tc.role, tc.limit)
			if len(got) > 0 {
				require.Equal(t, &want[0], &got[0], "the whole grant")
			}
		}
		_, err := l.SystemGrants(t.Context(), ledger.SystemGrantFilter{System: "s1"})
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "no state: %v", err)
	}},
	{"PendingApprovals", func(t *testing.T, l ledger.Ledger) {
		all := portalGrants()
		putGrants(t, l, all...)
		for _, tc := range []struct {
			principal string
			systems   []string
		}{{"a1", []string{"s1"}}, {"a1", nil}, {"a2", []string{"s1", "s2"}}, {"", []string{"s2"}}, {"", nil}, {"nobody", []string{"s9"}}} {
			want := where(all, func(g ledger.Grant) bool {
				return g.State == tilgang.StatePendingApproval &&
					((tc.principal != "" && g.StagePrincipal == tc.principal) || (g.StagePrincipal == "" && slices.Contains(tc.systems, g.System)))
			})
			slices.SortFunc(want, waitingLess)
			got, err := l.PendingApprovals(t.Context(), tc.principal, tc.systems)
			require.NoError(t, err)
			require.Equal(t, inOrder(want), inOrder(got), "%q %v", tc.principal, tc.systems)
		}
		// Decided, a grant leaves the list.
		got, err := l.PendingApprovals(t.Context(), "a1", nil)
		require.NoError(t, err)
		require.NotEmpty(t, got)
		g := got[0]
		g.State, g.Updated = tilgang.StateActive, t0.Add(time.Hour)
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.UpdateGrant(g))
			tx.Audit(stateEntry(g, tilgang.StatePendingApproval))
		})
		after, err := l.PendingApprovals(t.Context(), "a1", nil)
		require.NoError(t, err)
		require.Equal(t, inOrder(got[1:]), inOrder(after))
	}},
	{"GrantsInState", func(t *testing.T, l ledger.Ledger) {
		all := portalGrants()
		putGrants(t, l, all...)
		for _, systems := range [][]string{{"s1"}, {"s1", "s2"}, {"s9"}, nil} {
			want := where(all, func(g ledger.Grant) bool {
				return g.State == tilgang.StatePendingTraining && slices.Contains(systems, g.System)
			})
			slices.SortFunc(want, waitingLess)
			got, err := l.GrantsInState(t.Context(), tilgang.StatePendingTraining, systems)
			require.NoError(t, err)
			require.Equal(t, inOrder(want), inOrder(got), "%v", systems)
		}
	}},
	{"RequestsByID", func(t *testing.T, l ledger.Ledger) {
		a, b := request("r1", "p1", 1), request("r2", "p2", 2)
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertRequest(a))
			require.NoError(t, tx.InsertRequest(b))
			require.NoError(t, tx.InsertRequest(request("r3", "p3", 3)))
		})
		got, err := l.RequestsByID(t.Context(), []string{"r2", "r1", "nothing"})
		require.NoError(t, err)
		require.Equal(t, map[string]*ledger.Request{"r1": &a, "r2": &b}, got)
		got, err = l.RequestsByID(t.Context(), nil)
		require.NoError(t, err)
		require.Empty(t, got)
	}},
}
