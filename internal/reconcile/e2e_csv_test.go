package reconcile_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/internal/reconcile/reconciletest"
)

// TestScenarioCSV runs the acceptance scenario against a csv instance (no
// server needed; a csv instance holds one account per person, so the
// dispute is the AD and SCIM tests').
func TestScenarioCSV(t *testing.T) {
	conn, err := csv.Open("flyt", csv.Config{Dir: t.TempDir()}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	var rd connectors.Reader = conn
	member := func(t *testing.T, p tilgang.Person, ent string) bool {
		found := false
		require.NoError(t, rd.EachMember(context.Background(), ent, func(m connectors.Member) error {
			found = found || m.Key == p.ID
			return nil
		}))
		return found
	}
	enabled := func(t *testing.T, p tilgang.Person) bool {
		on := false
		require.NoError(t, rd.EachAccount(context.Background(), func(a connectors.TargetAccount) error {
			on = on || (a.Person == p.ID && a.Enabled)
			return nil
		}))
		return on
	}
	reconciletest.Run(t, reconciletest.Target{Name: "flyt", Conn: conn, Main: "Flyt-Bruker", Held: "Flyt-Leder", IDPrefix: "1547-9",
		Member: member, Enabled: enabled})
}
