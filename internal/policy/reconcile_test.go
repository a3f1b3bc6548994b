package policy

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestReconcileSettings(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, block string) (*Catalogue, error) {
		return LoadFS(fstest.MapFS{"gerica.yaml": {Data: []byte(gerica + block)}}, devConnectors)
	}
	c, err := load(t, "")
	require.NoError(t, err)
	require.Equal(t, DefaultReconcile, c.Systems["gerica"].Reconcile, "no reconcile: means the defaults")

	c, err = load(t, "reconcile:\n  extra: revoke\n  orphan: disable\n  max_removals: 3\n  max_share: 2.5%\n")
	require.NoError(t, err)
	r := c.Systems["gerica"].Reconcile
	require.Equal(t, Reconcile{Extra: ReconcileRevoke, Orphan: ReconcileDisable, MaxRemovals: 3, MaxShare: 0.025, Line: 27}, r)

	c, err = load(t, "reconcile:\n  extra: review\n  max_share: 0.5\n")
	require.NoError(t, err)
	r = c.Systems["gerica"].Reconcile
	require.Equal(t, ReconcileReview, r.Extra)
	require.Equal(t, ReconcileReport, r.Orphan)
	require.Equal(t, 10, r.MaxRemovals)
	require.Equal(t, 0.5, r.MaxShare)

	_, err = load(t, "reconcile:\n  extra: delete\n  orphan: revoke\n  max_removals: -1\n  max_share: 150%\n  every: 1d\n")
	require.Error(t, err)
	for _, want := range []string{
		`gerica.yaml:27: reconcile.extra "delete" is not one of report, revoke, review`,
		`gerica.yaml:28: reconcile.orphan "revoke" is not one of report, disable`,
		`gerica.yaml:29: reconcile.max_removals "-1" must be a whole number, 0 or more`,
		`gerica.yaml:30: reconcile.max_share "150%" must be a share from 0% to 100%`,
		`gerica.yaml:31: reconcile: unknown key "every"`,
	} {
		require.Contains(t, err.Error(), want)
	}
	_, err = load(t, "reconcile: revoke\n")
	require.ErrorContains(t, err, "gerica.yaml:26: reconcile must be a mapping")
	require.False(t, strings.Contains(gerica, "reconcile"))
}
