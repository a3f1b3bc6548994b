package principals

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// deployExample is the annotated principals file operators copy.
var deployExample = filepath.Join("..", "..", "deploy", "principals.example.yaml")

// TestDeployExample loads deploy/principals.example.yaml as a worker does,
// so the example operators start from is one the loader accepts, and checks
// that it shows every kind of principal and explains every capability.
func TestDeployExample(t *testing.T) {
	t.Parallel()
	s, err := Load(deployExample)
	require.NoError(t, err)
	require.Equal(t, []string{"1506-20002", "1506-90001", "1547-10300", "1547-20001", "hr-feed", "portal", "revisjon", "ror-ikt-drift"}, s.IDs())
	for _, tc := range []struct {
		id, capability string
	}{
		{"hr-feed", tilgang.CapHR},
		{"portal", tilgang.CapOnBehalf},
		{"ror-ikt-drift", tilgang.CapOperator},
		{"revisjon", tilgang.CapAuditor},
	} {
		p, ok := s.Get(tc.id)
		require.True(t, ok, tc.id)
		require.Equal(t, KindService, p.Kind, tc.id)
		require.Equal(t, []string{tc.capability}, p.Capabilities, "%s holds only what it needs", tc.id)
	}
	for _, id := range []string{"1547-10300", "1547-20001", "1506-20002"} {
		p, _ := s.Get(id)
		require.Equal(t, KindPerson, p.Kind, id)
		require.NotEmpty(t, p.CurveKey, "%s receives initial passwords", id)
	}
	p, _ := s.Get("1506-90001")
	require.Empty(t, p.CurveKey, "one person without a curve key shows it is optional")

	src, err := os.ReadFile(deployExample)
	require.NoError(t, err)
	for _, c := range Capabilities {
		require.Contains(t, string(src), "#       "+c+" ", "the comment explains capability %s", c)
	}
}
