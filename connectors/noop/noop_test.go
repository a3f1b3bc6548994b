package noop_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/connectortest"
	"github.com/ror-ikt/tilgang/connectors/noop"
)

func TestContract(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "noop.journal")
	c, err := noop.Open(noop.Config{Journal: journal})
	require.NoError(t, err)
	var n atomic.Int64
	connectortest.Run(t, connectortest.Target{
		Connector: c,
		Person: func(t *testing.T) tilgang.Person {
			return tilgang.Person{ID: fmt.Sprintf("1547-%d", n.Add(1)), GivenName: "Åse", FamilyName: "Øvergård-Bø", Municipality: "1547"}
		},
		Entitlement: "APP-Gerica-Bruker",
		Member:      func(t *testing.T, a connectors.Account, e string) bool { return c.Member(a.Person.ID, e) },
		Enabled:     func(t *testing.T, a connectors.Account) bool { en, _ := c.Enabled(a.Person.ID); return en },
	})
	require.NoError(t, c.Close())

	// The journal holds each effect once and brings the state back.
	again, err := noop.Open(noop.Config{Journal: journal})
	require.NoError(t, err)
	require.Equal(t, c.Effects(), again.Effects())
	require.True(t, again.Member("1547-5", "APP-Gerica-Bruker"))
	seen := map[noop.Effect]int{}
	for _, e := range again.Effects() {
		seen[e]++
	}
	require.Equal(t, 1, seen[noop.Effect{Op: "grant", Person: "1547-2", Entitlement: "APP-Gerica-Bruker"}], "granted twice, one effect")
}

// Two instances on one journal act as one target: the second grant of the
// same membership is no effect, and each sees the other's changes.
func TestSharedJournal(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "noop.journal")
	a, err := noop.Open(noop.Config{Journal: journal})
	require.NoError(t, err)
	b, err := noop.Open(noop.Config{Journal: journal})
	require.NoError(t, err)
	acct := connectors.Account{Person: tilgang.Person{ID: "1547-1"}}
	ctx := t.Context()
	_, _, err = a.EnsureAccount(ctx, acct)
	require.NoError(t, err)
	_, _, err = b.EnsureAccount(ctx, acct)
	require.NoError(t, err)
	require.NoError(t, b.Grant(ctx, acct, "G"))
	require.NoError(t, a.Grant(ctx, acct, "G"))
	require.NoError(t, a.Revoke(ctx, acct, "G"))
	require.NoError(t, b.Revoke(ctx, acct, "G"))
	effects, err := noop.ReadJournal(journal)
	require.NoError(t, err)
	require.Equal(t, []noop.Effect{{Op: "create", Person: "1547-1", Entitlement: "enabled"}, {Op: "grant", Person: "1547-1", Entitlement: "G"},
		{Op: "revoke", Person: "1547-1", Entitlement: "G"}}, effects)
}
