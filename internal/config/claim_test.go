package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A bulk call may take executor.MaxBulkTimeouts call timeouts: a claim
// lease longer than one call timeout but not longer than that let a claim
// lapse in the middle of a bulk call, and another executor repeat it.
func TestClaimLeaseOutlivesTheLongestBulkCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, claim, want string
	}{
		{name: "not longer than a bulk call", claim: "claim_lease: 50s",
			want: "executor.claim_lease: 50s must be longer than executor.call_timeout (30s) × 2 = 1m0s, the longest a bulk call may take"},
		{name: "exactly a bulk call", claim: "claim_lease: 60s",
			want: "executor.claim_lease: 1m0s must be longer than executor.call_timeout (30s) × 2 = 1m0s"},
		{name: "longer than a bulk call", claim: "claim_lease: 61s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			require.Contains(t, validConfig, "claim_lease: 90s, call_timeout: 30s")
			path := w.config(t, strings.Replace(validConfig, "claim_lease: 90s", tt.claim, 1))
			_, err := w.check(t, path, DefaultRegistry())
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
