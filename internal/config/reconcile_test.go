package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestReconcileSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       Reconcile
		problem    string
	}{
		{name: "absent: only on command"},
		{name: "daily dry run", text: "reconcile: {every: 24h}\n", want: Reconcile{Every: 24 * time.Hour}},
		{name: "hourly with fixes", text: "reconcile: {every: 1h, fix: true}\n", want: Reconcile{Every: time.Hour, Fix: true}},
		{name: "too often", text: "reconcile: {every: 30s}\n", problem: "reconcile.every 30s is shorter than 10m0s"},
		{name: "negative", text: "reconcile: {every: -1h}\n", problem: "is shorter than"},
		{name: "unknown key", text: "reconcile: {every: 1h, allow_removals: 5}\n", problem: `reconcile: unknown key "allow_removals"`},
		{name: "not a mapping", text: "reconcile: daily\n", problem: "reconcile must be a mapping"},
		{name: "not a duration", text: "reconcile: {every: daily}\n", problem: "reconcile:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			c, err := w.check(t, w.config(t, validConfig+tc.text), DefaultRegistry())
			if tc.problem != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.problem)
				require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Reconcile)
		})
	}
}
