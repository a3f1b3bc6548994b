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
