// Package connectortest is the suite every connector type passes: the
// contract of package connectors, above all idempotency (an account made
// twice is one account; a membership granted twice is held once and
// revoked twice is gone without an error).
package connectortest

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Target is what the suite needs besides the connector.
type Target struct {
	Connector connectors.Connector
	// Person returns a fresh person the target has never seen.
	Person func(t *testing.T) tilgang.Person
	// Entitlement is one the connector may grant.
	Entitlement string
	// Member reports whether the person's account holds the entitlement at
	// the target, read from the target itself (not from the connector's memory).
	Member func(t *testing.T, a connectors.Account, entitlement string) bool
	// Enabled reports whether the account is enabled at the target.
	Enabled func(t *testing.T, a connectors.Account) bool
}

// Run runs the suite.
func Run(t *testing.T, tg Target) {
	ctx := context.Background()
	c := tg.Connector
	ensure := func(t *testing.T, p tilgang.Person, disabled bool) connectors.Account {
		t.Helper()
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		a := connectors.Account{Person: p, Ref: ref, Disabled: disabled}
		got, _, err := c.EnsureAccount(ctx, a)
		require.NoError(t, err)
		a.Ref = got
		return a
	}
	t.Run("EnsureAccountTwiceIsOneAccount", func(t *testing.T) {
		p := tg.Person(t)
		a := ensure(t, p, false)
		again, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: a.Ref})
		require.NoError(t, err)
		require.Equal(t, a.Ref, again, "the same account is found again")
		require.True(t, tg.Enabled(t, a))
	})
	t.Run("GrantTwiceRevokeTwice", func(t *testing.T) {
		a := ensure(t, tg.Person(t), false)
		for i := 0; i < 2; i++ {
			require.NoError(t, c.Grant(ctx, a, tg.Entitlement), "grant %d", i+1)
			require.True(t, tg.Member(t, a, tg.Entitlement))
		}
		for i := 0; i < 2; i++ {
			require.NoError(t, c.Revoke(ctx, a, tg.Entitlement), "revoke %d", i+1)
			require.False(t, tg.Member(t, a, tg.Entitlement))
		}
	})
	t.Run("DisableEnableTwice", func(t *testing.T) {
		a := ensure(t, tg.Person(t), false)
		for i := 0; i < 2; i++ {
			require.NoError(t, c.Disable(ctx, a))
			require.False(t, tg.Enabled(t, a))
		}
		for i := 0; i < 2; i++ {
			require.NoError(t, c.Enable(ctx, a))
			require.True(t, tg.Enabled(t, a))
		}
	})
	t.Run("CreatedDisabled", func(t *testing.T) {
		a := ensure(t, tg.Person(t), true)
		require.False(t, tg.Enabled(t, a), "a future joiner's account waits for the start date")
	})
	if l, ok := c.(connectors.Lister); ok {
		t.Run("ListMembers", func(t *testing.T) {
			a := ensure(t, tg.Person(t), false)
			require.NoError(t, c.Grant(ctx, a, tg.Entitlement))
			refs, err := l.ListMembers(ctx, tg.Entitlement)
			require.NoError(t, err)
			require.True(t, slices.ContainsFunc(refs, func(r connectors.Ref) bool { return refsMatch(r, a.Ref) }), "member listed")
		})
	}
}

func refsMatch(a, b connectors.Ref) bool {
	for k, v := range a {
		if b[k] == v {
			return true
		}
	}
	return false
}
