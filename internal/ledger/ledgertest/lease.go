package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// RunLeases checks the intake lease: one holder at a time, judged by the
// database's clock, a fencing token that grows with every takeover, and a
// transaction that cannot commit once its lease is lost.
func RunLeases(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	t.Run("OneHolder", func(t *testing.T) {
		t.Parallel()
		l := open(t)
		ctx := t.Context()
		a, err := l.AcquireLease(ctx, "intake", "a", time.Minute)
		require.NoError(t, err)
		require.Positive(t, a)
		b, err := l.AcquireLease(ctx, "intake", "b", time.Minute)
		require.NoError(t, err)
		require.Zero(t, b, "b cannot take a lease a holds")
		require.NoError(t, l.RenewLease(ctx, "intake", "a", a, time.Minute))
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(l.RenewLease(ctx, "intake", "b", a, time.Minute)))
		// Another lease name is independent.
		c, err := l.AcquireLease(ctx, "other", "b", time.Minute)
		require.NoError(t, err)
		require.Positive(t, c)
	})
	t.Run("TakeoverAfterLapse", func(t *testing.T) {
		t.Parallel()
		l := open(t)
		ctx := t.Context()
		a, err := l.AcquireLease(ctx, "intake", "a", 50*time.Millisecond)
		require.NoError(t, err)
		time.Sleep(120 * time.Millisecond)
		b, err := l.AcquireLease(ctx, "intake", "b", time.Minute)
		require.NoError(t, err)
		require.Greater(t, b, a, "the token grows with the takeover")
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(l.RenewLease(ctx, "intake", "a", a, time.Minute)), "a lost it")

		// A transaction fenced with the lost lease cannot commit.
		tx, err := l.Begin(ctx)
		require.NoError(t, err)
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(tx.Fence("intake", "a", a, time.Minute)))
		require.NoError(t, tx.Rollback())
		tx, err = l.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.Fence("intake", "b", b, time.Minute))
		require.NoError(t, tx.Commit())
	})
	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		l := open(t)
		ctx := t.Context()
		a, err := l.AcquireLease(ctx, "intake", "a", time.Minute)
		require.NoError(t, err)
		require.NoError(t, l.ReleaseLease(ctx, "intake", "a", a))
		b, err := l.AcquireLease(ctx, "intake", "b", time.Minute)
		require.NoError(t, err)
		require.Greater(t, b, a, "released: b takes it at once")
	})
	t.Run("ReacquireBySameHolderRaisesToken", func(t *testing.T) {
		t.Parallel()
		l := open(t)
		ctx := t.Context()
		a, err := l.AcquireLease(ctx, "intake", "a", time.Minute)
		require.NoError(t, err)
		a2, err := l.AcquireLease(ctx, "intake", "a", time.Minute)
		require.NoError(t, err)
		require.Greater(t, a2, a, "a restarted holder fences out its former self")
	})
}
