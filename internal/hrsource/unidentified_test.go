package hrsource

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A record whose id cannot be read may be anyone's: nobody leaves on such
// a snapshot, as on an incomplete one, and the summary says why.
func TestDiffUnidentifiedRejectionLeavesNobody(t *testing.T) {
	t.Parallel()
	prev, people := population(30)
	snap := Snapshot{People: people[:29], Complete: true,
		Rejected: []Rejection{{Reason: "record 29: json: cannot unmarshal string into Go value of type tilgang.Person"}}}
	plan := Diff(prev, snap, FailSafe{Today: d("2025-09-01")})
	require.Zero(t, plan.Count(Leaver), "the unreadable record may be 1547-30's")
	require.Contains(t, plan.Unchanged, "1547-30")
	require.Len(t, plan.Rejected, 1)
	require.Len(t, plan.Warnings, 1)
	require.True(t, strings.HasPrefix(plan.Warnings[0].Message, "1 record whose id could not be read"), plan.Warnings[0].Message)

	// The records it can read still move.
	moved := append(people[:0:0], people[:29]...)
	moved[0].GivenName = "Ny"
	snap.People = moved
	plan = Diff(prev, snap, FailSafe{Today: d("2025-09-01")})
	require.Equal(t, 1, plan.Count(Mover))
}
