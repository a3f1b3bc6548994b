package policy_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/policy"
)

// The example catalogue entries for production connector instances (SCIM,
// REST) load against a worker config that names those instances.
func TestProductionCatalogueExamples(t *testing.T) {
	t.Parallel()
	cat, err := policy.Load("../../deploy/examples/catalogue", []string{"visma-scim", "profil-api", "manual"})
	require.NoError(t, err)
	require.Contains(t, cat.Systems, "visma-flyt-barnehage")
	require.Contains(t, cat.Systems, "profil")
}
