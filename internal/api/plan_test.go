package api

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// The plan names whoever will decide a manager stage as the engine will:
// the person's manager, or, when that manager is the one asking, their
// manager; the system's administrators when nobody is up the line.
func TestPlanNamesTheManagerStageOfTheAsker(t *testing.T) {
	ctx := context.Background()
	cat, err := policy.LoadFS(fstest.MapFS{"gerica.yaml": {Data: []byte(`system: gerica
name: Gerica
owner: Helse
administrators: [` + marit + `]
connectors: [noop]
roles:
  - id: superbruker
    entitlements: {noop: [G]}
    requestable_by: [manager]
    approval: [manager, systemansvarlig]
`)}}, []string{"noop"})
	require.NoError(t, err)
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	for _, p := range []tilgang.Person{person(ase, kjell, "helse"), person(kjell, escalated, "helse"), person(escalated, "", "helse")} {
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: p, Version: 1, Updated: now}))
	}
	require.NoError(t, tx.Commit())
	s := &Server{Ledger: store, Catalogue: func() *policy.Catalogue { return cat }}

	stages := func(actor, person string) []PlanStage {
		t.Helper()
		res, err := s.plan(ctx, s.viewer(ctx, actor), mustJSON(PlanArgs{Person: person}))
		require.NoError(t, err)
		roles := res.(PlanResult).Roles
		require.Len(t, roles, 1)
		return roles[0].Stages
	}
	admins := PlanStage{Kind: policy.StageSystemansvarlig, Who: []string{marit}}
	// Kjell asks for Åse: his manager decides the manager stage.
	require.Equal(t, []PlanStage{{Kind: policy.StageManager, Who: []string{escalated}}, admins}, stages(kjell, ase))
	// Marit looks as administrator: Åse's manager would decide.
	require.Equal(t, []PlanStage{{Kind: policy.StageManager, Who: []string{kjell}}, admins}, stages(marit, ase))
	// Kjell's manager asks for Kjell, and has none above: the administrators.
	require.Equal(t, []PlanStage{{Kind: policy.StageManager, Who: []string{marit}}, admins}, stages(escalated, kjell))
}
