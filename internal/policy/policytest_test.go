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

// A case decides with the record in effect on its at (default: now), not
// the whole record: an employment that has ended or not yet started counts
// only on the days it runs. A bad at is a failure naming it.
func TestPolicyTestAt(t *testing.T) {
	t.Parallel()
	cat, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	dir := t.TempDir()
	f := filepath.Join(dir, "at_test.yaml")
	// a: a nurse in helse until the end of 2025; b: a teacher from August
	// 2026; c: in the personnel office from January 2026.
	person := `
    person:
      id: 1547-10600
      employments:
        - {id: a, primary: true, percent: 100, org_unit: helse/hjemmetjenesten, position: sykepleier, start: 2020-01-01, end: 2025-12-31}
        - {id: b, primary: true, percent: 100, org_unit: oppvekst/aukra-skule, position: lærer, start: 2026-08-01}
        - {id: c, percent: 50, org_unit: stab/personal, position: konsulent, start: 2026-01-01}`
	ended := `
    person:
      id: 1547-10601
      employments:
        - {id: a, primary: true, percent: 100, org_unit: helse/hjemmetjenesten, position: sykepleier, start: 2020-01-01, end: 2025-12-31}
        - {id: b, primary: true, percent: 100, org_unit: oppvekst/aukra-skule, position: lærer, start: 2026-08-01}`
	require.NoError(t, os.WriteFile(f, []byte(`now: 2026-03-02
cases:
  - name: now only the personnel office counts`+person+`
    request: {system: gerica, role: bruker, by: manager}
    expect: {decision: denied, rule: eligible, birthright: [visma-enterprise/ansatt]}
  - name: in 2025 the nurse's employment counted
    at: 2025-06-01`+person+`
    request: {system: gerica, role: bruker, by: manager}
    expect: {decision: allowed, birthright: [gerica/bruker, visma-enterprise/ansatt]}
  - name: from August the teacher's employment counts too
    at: 2026-08-01`+person+`
    expect: {birthright: [visma-enterprise/ansatt, visma-flyt-skole/laerer]}
  - name: between an ended and a future employment, the future one`+ended+`
    request: {system: gerica, role: bruker, by: manager}
    expect: {decision: denied, rule: eligible, birthright: [visma-enterprise/ansatt, visma-flyt-skole/laerer]}
  - name: the last day of the ended one still counts
    at: 2025-12-31`+ended+`
    expect: {birthright: [gerica/bruker, visma-enterprise/ansatt]}
  - name: the whole record is not what counts (this one fails)`+ended+`
    expect: {birthright: [gerica/bruker, visma-enterprise/ansatt, visma-flyt-skole/laerer]}
  - name: a bad at
    at: 1. august`+ended+`
    expect: {birthright: []}
`), 0o644))
	rep := RunTests(cat, []string{f}, time.Now())
	require.Equal(t, 7, rep.Cases)
	var msgs []string
	for _, x := range rep.Failures {
		msgs = append(msgs, x.String())
	}
	require.Len(t, msgs, 2, strings.Join(msgs, "\n"))
	require.Contains(t, msgs[0], "the whole record is not what counts (this one fails): expected birthright [gerica/bruker visma-enterprise/ansatt visma-flyt-skole/laerer], got [visma-enterprise/ansatt visma-flyt-skole/laerer]")
	require.Contains(t, msgs[1], `a bad at: at "1. august" is not a date YYYY-MM-DD`)
}
