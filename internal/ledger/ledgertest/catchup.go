package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// HoldingsForgetter is what a backend's test gives the suite to play a
// replica of the release before the access register: it deletes the
// holdings rows of started and reopens (no end) those of ended, as if
// their moves had been chained by that release, without them.
// DeleteHolding deletes a grant's holdings row, as tampering does.
type HoldingsForgetter interface {
	ForgetHoldings(ctx context.Context, started, ended []string) error
	DeleteHolding(ctx context.Context, grantID string) error
}

// catchUpTest: holdings an earlier release left unwritten come back from
// the chain, identical, at the catch-up a start runs; running it again
// changes nothing, and audit verify passes again.
func catchUpTest(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	r := register(t, l)
	cu, ok := l.(ledger.RegisterCatchUp)
	require.True(t, ok, "the ledger catches its register up with the chain (ledger.RegisterCatchUp)")
	f, ok := l.(HoldingsForgetter)
	require.True(t, ok, "the backend's test gives the suite a HoldingsForgetter")
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	S := func(s tilgang.GrantState) tilgang.GrantState { return s }
	read := func() []ledger.Holding {
		t.Helper()
		hs, err := r.Holdings(ctx, ledger.HoldingFilter{System: "gerica", From: at(0), To: at(200)})
		require.NoError(t, err)
		return hs
	}

	g1 := grant("g1", "p1", "gerica", "bruker", "")
	g1.Approvers = []string{"1547-20001", "1547-20002"}
	moves(t, l, g1, S(tilgang.StateProvisioning), at(2), S(tilgang.StateActive), at(10), S(tilgang.StateRevoking), at(38),
		S(tilgang.StateRevoked), at(40))
	g2 := grant("g2", "p2", "gerica", "bruker", "")
	g2.Requester, g2.Approvers = "birthright", nil
	moves(t, l, g2, S(tilgang.StateProvisioning), at(19), S(tilgang.StateActive), at(20))
	moves(t, l, grant("g3", "p3", "gerica", "les", ""), S(tilgang.StateProvisioning), at(4), S(tilgang.StateActive), at(5),
		S(tilgang.StateRevoking), at(29), S(tilgang.StateRevoked), at(30))
	moves(t, l, grant("g4", "p4", "gerica", "les", ""), S(tilgang.StateProvisioning), at(14), S(tilgang.StateActive), at(15))
	moves(t, l, grant("g5", "p5", "gerica", "admin", ""), S(tilgang.StateProvisioning), at(11), S(tilgang.StateActive), at(12),
		S(tilgang.StateRevoking), at(25), S(tilgang.StateExpired), at(25))
	want := read()
	require.Equal(t, []string{"g5", "g1", "g2", "g3", "g4"}, holdingIDs(want))
	require.True(t, verify(t, l, nil).OK)

	// g1, g2 and g5 were activated by an old replica, g3's revoke too.
	require.NoError(t, f.ForgetHoldings(ctx, []string{"g1", "g2", "g5"}, []string{"g3"}))
	require.Equal(t, []string{"g3", "g4"}, holdingIDs(read()))
	rep := verify(t, l, nil)
	require.False(t, rep.OK, "audit verify finds the register short")
	require.Contains(t, rep.Problem, "access register")

	n, err := cu.CatchUpHoldings(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n, "three rows added, one ended")
	require.Equal(t, want, read())
	require.True(t, verify(t, l, nil).OK)
	n, err = cu.CatchUpHoldings(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n, "again: nothing to do")
	require.Equal(t, want, read())

	// Later moves by an old replica: only what was chained since is read.
	moves(t, l, grant("g6", "p6", "gerica", "bruker", ""), S(tilgang.StateProvisioning), at(50), S(tilgang.StateActive), at(51))
	g4 := grant("g4", "p4", "gerica", "les", "")
	g4.Created = at(14)
	for _, m := range []struct {
		s  tilgang.GrantState
		at time.Time
	}{{tilgang.StateRevoking, at(60)}, {tilgang.StateRevoked, at(61)}} {
		from := g4.State
		if from == "" {
			from = tilgang.StateActive
		}
		g4.State, g4.Updated = m.s, m.at
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.UpdateGrant(g4))
			e := stateEntry(g4, from)
			e.Details = ledger.GrantDetails(g4, nil)
			tx.Audit(e)
		})
	}
	want = read()
	require.Equal(t, []string{"g5", "g1", "g2", "g6", "g3", "g4"}, holdingIDs(want))
	require.NoError(t, f.ForgetHoldings(ctx, []string{"g6"}, []string{"g4"}))
	require.False(t, verify(t, l, nil).OK)
	n, err = cu.CatchUpHoldings(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, want, read())
	require.True(t, verify(t, l, nil).OK)

	// A row of a move this release chained is not filled in: it was
	// deleted, and audit verify says so.
	moves(t, l, grant("g7", "p7", "gerica", "bruker", ""), S(tilgang.StateProvisioning), at(70), S(tilgang.StateActive), at(71))
	require.NoError(t, f.DeleteHolding(ctx, "g7"))
	n, err = cu.CatchUpHoldings(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	rep = verify(t, l, nil)
	require.False(t, rep.OK)
	require.Contains(t, rep.Problem, "grant g7")
}

// CatchUpHoldings and ForgetHoldings are the loaded ledger's backend's, so
// the catch-up runs with loading transactions too.
func (l loading) CatchUpHoldings(ctx context.Context) (int, error) {
	cu, ok := l.Ledger.(ledger.RegisterCatchUp)
	if !ok {
		return 0, tilgang.Errorf(tilgang.Internal, "ledgertest: the backend does not catch its register up")
	}
	return cu.CatchUpHoldings(ctx)
}

func (l loading) ForgetHoldings(ctx context.Context, started, ended []string) error {
	f, ok := l.Ledger.(HoldingsForgetter)
	if !ok {
		return tilgang.Errorf(tilgang.Internal, "ledgertest: the backend's test gives no HoldingsForgetter")
	}
	return f.ForgetHoldings(ctx, started, ended)
}

func (l loading) DeleteHolding(ctx context.Context, grantID string) error {
	f, ok := l.Ledger.(HoldingsForgetter)
	if !ok {
		return tilgang.Errorf(tilgang.Internal, "ledgertest: the backend's test gives no HoldingsForgetter")
	}
	return f.DeleteHolding(ctx, grantID)
}
