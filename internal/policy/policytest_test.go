package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example catalogue's own policy tests pass.
func TestExamplePolicyTests(t *testing.T) {
	t.Parallel()
	cat, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	files, err := TestFiles(exampleDir)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	rep := RunTests(cat, files, time.Now())
	var msgs []string
	for _, f := range rep.Failures {
		msgs = append(msgs, f.String())
	}
	require.Empty(t, msgs, strings.Join(msgs, "\n"))
	require.GreaterOrEqual(t, rep.Cases, 10)
}

// A failing case says file:line, the case and what differed.
func TestPolicyTestFailures(t *testing.T) {
	t.Parallel()
	cat, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	dir := t.TempDir()
	f := filepath.Join(dir, "x_test.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`now: 2026-03-02
cases:
  - name: holds
    person: {org_unit: helse/x, position: sykepleier}
    request: {system: gerica, role: bruker, by: manager}
    expect: {decision: allowed}
  - name: wrong decision
    person: {org_unit: oppvekst/x}
    request: {system: gerica, role: bruker, by: manager}
    expect: {decision: allowed, until: 2027-03-02}
  - name: wrong birthright
    person: {org_unit: helse/x, position: sykepleier}
    expect: {birthright: [gerica/admin]}
`), 0o644))
	rep := RunTests(cat, []string{f}, time.Now())
	require.Equal(t, 3, rep.Cases)
	require.Len(t, rep.Failures, 2)
	require.True(t, strings.HasPrefix(rep.Failures[0].String(), f+":7: wrong decision: expected allowed, got denied (eligible: test-person is not eligible for gerica/bruker"), rep.Failures[0].String())
	require.Contains(t, rep.Failures[1].String(), f+":11: wrong birthright: expected birthright [gerica/admin], got [gerica/bruker visma-enterprise/ansatt]")

	require.NoError(t, os.WriteFile(f, []byte("cases:\n  - name: x\n    colour: blue\n"), 0o644))
	rep = RunTests(cat, []string{f}, time.Now())
	require.Len(t, rep.Failures, 1)
	require.Contains(t, rep.Failures[0].String(), f+":3: cannot read the tests:")
	require.Contains(t, rep.Failures[0].String(), "colour")
}
