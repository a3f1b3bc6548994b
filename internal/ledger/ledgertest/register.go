package ledgertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The access register (ledger.Register): holdings kept from the chain's
// grant.state entries as they are written, read a page at a time by system
// or by person for an instant or a period.

func register(t *testing.T, l ledger.Ledger) ledger.Register {
	t.Helper()
	r, ok := l.(ledger.Register)
	require.True(t, ok, "the ledger keeps the access register (ledger.Register)")
	return r
}

// moves writes g through the states, one transaction each, at the times
// given: the first inserts it. Each write chains its grant.state entry
// with the grant's requester and approvers, as the engine does.
func moves(t *testing.T, l ledger.Ledger, g ledger.Grant, steps ...any) {
	t.Helper()
	from := tilgang.GrantState("")
	for i := 0; i < len(steps); i += 2 {
		g.State, g.Updated = steps[i].(tilgang.GrantState), steps[i+1].(time.Time)
		if i == 0 {
			g.Created = g.Updated
		}
		inTx(t, l, func(tx ledger.Tx) {
			if i == 0 {
				require.NoError(t, tx.InsertGrant(g))
			} else {
				require.NoError(t, tx.UpdateGrant(g))
			}
			e := stateEntry(g, from)
			e.Details = ledger.GrantDetails(g, nil)
			tx.Audit(e)
		})
		from = g.State
	}
}

func holdingIDs(hs []ledger.Holding) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.GrantID)
	}
	return out
}

var registerTests = []test{
	{"CatchUp", catchUpTest},
	{"FromTransitions", func(t *testing.T, l ledger.Ledger) {
		r := register(t, l)
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		S := func(s tilgang.GrantState) tilgang.GrantState { return s }
		// g1: active at 10, revoked at 40. g2: active at 20, live.
		// g3: failed, then revoked: never active. g4: active at 5, revoke
		// failed at 30: not ended. g5: active at 15, expired at 25. g6: of
		// another system.
		g1 := grant("g1", "p1", "gerica", "bruker", "")
		g1.Approvers = []string{"1547-20001", "1547-20002"}
		moves(t, l, g1, S(tilgang.StatePendingApproval), at(0), S(tilgang.StateProvisioning), at(2),
			S(tilgang.StateActive), at(10), S(tilgang.StateRevoking), at(38), S(tilgang.StateRevoked), at(40))
		g2 := grant("g2", "p2", "gerica", "bruker", "")
		g2.Requester, g2.Approvers = "birthright", nil
		moves(t, l, g2, S(tilgang.StateProvisioning), at(19), S(tilgang.StateActive), at(20))
		moves(t, l, grant("g3", "p3", "gerica", "bruker", ""), S(tilgang.StateProvisioning), at(1), S(tilgang.StateFailed), at(2),
			S(tilgang.StateRevoking), at(3), S(tilgang.StateRevoked), at(4))
		moves(t, l, grant("g4", "p1", "gerica", "admin", ""), S(tilgang.StateProvisioning), at(4), S(tilgang.StateActive), at(5),
			S(tilgang.StateRevoking), at(29), S(tilgang.StateRevokeFailed), at(30))
		moves(t, l, grant("g5", "p4", "gerica", "les", ""), S(tilgang.StateProvisioning), at(14), S(tilgang.StateActive), at(15),
			S(tilgang.StateRevoking), at(25), S(tilgang.StateExpired), at(25))
		moves(t, l, grant("g6", "p1", "sak", "les", ""), S(tilgang.StateProvisioning), at(0), S(tilgang.StateActive), at(1))

		read := func(f ledger.HoldingFilter) []ledger.Holding {
			t.Helper()
			hs, err := r.Holdings(context.Background(), f)
			require.NoError(t, err)
			return hs
		}
		all := read(ledger.HoldingFilter{System: "gerica", From: at(0), To: at(60)})
		require.Equal(t, []string{"g4", "g1", "g2", "g5"}, holdingIDs(all), "role, person, grant order; g3 never held")
		want := map[string]ledger.Holding{
			"g1": {GrantID: "g1", Person: "p1", System: "gerica", Role: "bruker", From: at(10), Until: at(40),
				Requester: "1547-10001", Approvers: []string{"1547-20001", "1547-20002"}},
			"g2": {GrantID: "g2", Person: "p2", System: "gerica", Role: "bruker", From: at(20), Requester: "birthright", Approvers: []string{}},
			"g4": {GrantID: "g4", Person: "p1", System: "gerica", Role: "admin", From: at(5), Requester: "1547-10001", Approvers: []string{"1547-10001"}},
			"g5": {GrantID: "g5", Person: "p4", System: "gerica", Role: "les", From: at(15), Until: at(25), Requester: "1547-10001", Approvers: []string{"1547-10001"}},
		}
		for _, h := range all {
			w := want[h.GrantID]
			require.Equal(t, w.From.UTC(), h.From, h.GrantID)
			require.Equal(t, w.Until.IsZero(), h.Until.IsZero(), h.GrantID)
			if !w.Until.IsZero() {
				require.Equal(t, w.Until.UTC(), h.Until, h.GrantID)
			}
			h.From, h.Until, w.From, w.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			require.Equal(t, w, h)
		}

		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     []string
		}{
			{"before any", at(0), at(0), []string{}},
			{"the instant of activation", at(10), at(10), []string{"g4", "g1"}},
			{"a millisecond before activation", at(10).Add(-time.Millisecond), at(10).Add(-time.Millisecond), []string{"g4"}},
			{"the instant it expired", at(25), at(25), []string{"g4", "g1", "g2"}},
			{"just before it expired", at(25).Add(-time.Millisecond), at(25).Add(-time.Millisecond), []string{"g4", "g1", "g2", "g5"}},
			{"revoke_failed stays held", at(50), at(50), []string{"g4", "g2"}},
			{"a period overlapping the end of g1", at(39), at(45), []string{"g4", "g1", "g2"}},
			{"a period ending before g2 began", at(11), at(19), []string{"g4", "g1", "g5"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, holdingIDs(read(ledger.HoldingFilter{System: "gerica", From: tc.from, To: tc.to})))
			})
		}

		// A person's, across systems, in system, role, grant order.
		require.Equal(t, []string{"g4", "g1", "g6"}, holdingIDs(read(ledger.HoldingFilter{Person: "p1", From: at(0), To: at(60)})))
		require.Equal(t, []string{"g6"}, holdingIDs(read(ledger.HoldingFilter{Person: "p1", System: "sak", From: at(0), To: at(60)})))
		require.Equal(t, []string{"g4", "g6"}, holdingIDs(read(ledger.HoldingFilter{Person: "p1", From: at(45), To: at(45)})))
	}},
	{"Pages", func(t *testing.T, l ledger.Ledger) {
		r := register(t, l)
		// 90 grants of 2 systems, 3 roles and 15 people, each active from
		// a minute of the first hour, some ended later.
		var model []ledger.Holding
		for i := range 90 {
			g := grant(fmt.Sprintf("g%03d", (i*37)%101), fmt.Sprintf("p%02d", (i*7)%11), []string{"s1", "s2"}[i%2],
				[]string{"admin", "bruker", "les"}[i%3], "")
			from := t0.Add(time.Duration((i*13)%60) * time.Minute)
			steps := []any{tilgang.StateProvisioning, from.Add(-time.Second), tilgang.StateActive, from}
			if i%3 == 0 {
				// Live: one open grant per person, system and role.
				g.Person = fmt.Sprintf("p%02d", (i/3)%15)
			}
			h := ledger.Holding{GrantID: g.ID, Person: g.Person, System: g.System, Role: g.Role, From: from}
			if i%3 != 0 {
				h.Until = from.Add(time.Duration(1+(i*17)%50) * time.Minute)
				steps = append(steps, tilgang.StateRevoking, h.Until.Add(-time.Second), tilgang.StateRevoked, h.Until)
			}
			moves(t, l, g, steps...)
			model = append(model, h)
		}
		bySystem := func(a, b ledger.Holding) int {
			return strings.Compare(a.System+"\x00"+a.Role+"\x00"+a.Person+"\x00"+a.GrantID, b.System+"\x00"+b.Role+"\x00"+b.Person+"\x00"+b.GrantID)
		}
		slices.SortFunc(model, bySystem)
		expect := func(f ledger.HoldingFilter) []string {
			out := []string{}
			for _, h := range model {
				if (f.System == "" || h.System == f.System) && (f.Person == "" || h.Person == f.Person) && h.Overlaps(f.From, f.To) {
					out = append(out, h.GrantID)
				}
			}
			return out
		}
		walk := func(f ledger.HoldingFilter) []string {
			out := []string{}
			for range 1000 {
				hs, err := r.Holdings(context.Background(), f)
				require.NoError(t, err)
				require.LessOrEqual(t, len(hs), f.PageSize())
				out = append(out, holdingIDs(hs)...)
				if len(hs) < f.PageSize() {
					return out
				}
				f.After = ledger.KeyOfHolding(&hs[len(hs)-1])
			}
			t.Fatal("the pages do not end")
			return nil
		}
		for _, f := range []ledger.HoldingFilter{
			{System: "s1", From: t0, To: t0.Add(2 * time.Hour), Limit: 7},
			{System: "s2", From: t0.Add(30 * time.Minute), To: t0.Add(30 * time.Minute), Limit: 4},
			{System: "s1", From: t0.Add(70 * time.Minute), To: t0.Add(80 * time.Minute), Limit: 1},
			{Person: "p03", From: t0, To: t0.Add(2 * time.Hour), Limit: 2},
			{Person: "p05", From: t0.Add(20 * time.Minute), To: t0.Add(25 * time.Minute), Limit: 3},
			{System: "s2", Person: "p04", From: t0, To: t0.Add(2 * time.Hour), Limit: 2},
		} {
			want := expect(f)
			require.NotEmpty(t, want, "the case selects something: %+v", f)
			require.Equal(t, want, walk(f), "%+v", f)
		}
		// A page limit above the most is the most.
		f := ledger.HoldingFilter{System: "s1", From: t0, To: t0.Add(2 * time.Hour), Limit: 5000}
		require.Equal(t, ledger.MaxHoldingsPage, f.PageSize())
		require.Equal(t, expect(f), walk(f))
	}},
	{"BadFilter", func(t *testing.T, l ledger.Ledger) {
		r := register(t, l)
		for _, f := range []ledger.HoldingFilter{
			{From: t0, To: t0},
			{System: "s1"},
			{System: "s1", From: t0},
			{System: "s1", From: t0.Add(time.Minute), To: t0},
		} {
			_, err := r.Holdings(context.Background(), f)
			require.Error(t, err, "%+v", f)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%+v", f)
		}
	}},
}

// Holdings is the loaded ledger's backend's register, so the register
// suite runs with loading transactions too.
func (l loading) Holdings(ctx context.Context, f ledger.HoldingFilter) ([]ledger.Holding, error) {
	r, ok := l.Ledger.(ledger.Register)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Internal, "ledgertest: the backend keeps no access register")
	}
	return r.Holdings(ctx, f)
}
