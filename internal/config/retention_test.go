package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestRetention(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, text string
		limit      time.Time // the newest date an erasure may name at now
		problem    string
	}{
		{name: "default", limit: time.Date(2021, time.March, 2, 11, 0, 0, 0, tilgang.Oslo)},
		{name: "years", text: "retention: {min: 10y}\n", limit: time.Date(2016, time.March, 2, 11, 0, 0, 0, tilgang.Oslo)},
		{name: "years and months", text: "retention: {min: 1y6mo}\n", limit: time.Date(2024, time.September, 2, 11, 0, 0, 0, tilgang.Oslo)},
		{name: "days", text: "retention: {min: 400d}\n", limit: time.Date(2025, time.January, 26, 11, 0, 0, 0, tilgang.Oslo)},
		{name: "shorter than a year", text: "retention: {min: 5d}\n", problem: "retention.min: 5d is shorter than 1y"},
		{name: "months short of a year", text: "retention: {min: 11mo}\n", problem: "retention.min: 11mo is shorter than 1y"},
		{name: "not a period", text: "retention: {min: 5 years}\n", problem: `retention.min: "5 years" is not a period`},
		{name: "a unit twice", text: "retention: {min: 1y2y}\n", problem: `retention.min: "1y2y" is not a period`},
		{name: "unknown key", text: "retention: {max: 5y}\n", problem: "retention.max"},
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
			require.True(t, tc.limit.Equal(c.Retention.Limit(now)), "limit %s, want %s", c.Retention.Limit(now), tc.limit)
			require.Contains(t, c.Redacted(), "min: "+string(c.Retention.Min))
		})
	}
}

// A Retention not loaded from a file (dev) takes the default.
func TestRetentionLimitUnset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	require.True(t, Retention{}.Limit(now).Equal(DefaultRetentionMin.Back(now)))
}

// The API falls back to five years when no retention.min reaches it
// (internal/api/erase.go, which cannot import this package).
func TestDefaultRetentionIsTheAPIsFallback(t *testing.T) {
	require.Equal(t, Period("5y"), DefaultRetentionMin)
}
