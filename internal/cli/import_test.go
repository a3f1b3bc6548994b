package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// When following the import fails (no worker answers), hr import still
// ends with the counts, those not known as not processed yet, and says why.
func TestImportFollowFailsWithCounts(t *testing.T) {
	w := newWorld(t)
	f := writeFile(t, "people.json", `[
 {"id": "1547-1", "given_name": "A", "family_name": "B", "municipality": "1547", "employments": []},
 {"id": "1547-2", "given_name": "C", "family_name": "D", "municipality": "1547", "employments": []}
]`)
	code, out, errOut := w.run(t, nil, "hr", "import", f, "--wait", "20s")
	require.Equal(t, 1, code, "stderr:\n%s", errOut)
	require.Equal(t, "accepted 0, rejected 0, ignored 0, not processed yet 2\n", out)
	require.Contains(t, errOut, "follow the import (2 of 2 records not known yet): api: status.many: no tilgang worker answers")
	require.Len(t, w.msgs(t), 2, "both were published")
}
