package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func runLocal(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, options{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""),
		Getenv: func(string) string { return "" }, Now: time.Now})
	return code, out.String(), errOut.String()
}

func TestCatalogImport(t *testing.T) {
	src := filepath.Join(t.TempDir(), "systemoversikt.csv")
	require.NoError(t, os.WriteFile(src, []byte("system,navn,systemeier,systemansvarlig,systemkoordinator\n"+
		"gerica,Gerica,Helse og omsorg,1547-20001;1506-20002,1506-90001\nplania,Plania,Teknisk,1557-20060,\n"), 0o644))
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plania.yaml"), []byte("# mine\n"), 0o644))

	code, out, errOut := runLocal("catalog", "import", src, "--dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "wrote "+filepath.Join(dir, "gerica.yaml"))
	require.Contains(t, out, "skipped "+filepath.Join(dir, "plania.yaml")+" (row 3): exists: not overwritten")
	require.Contains(t, errOut, "1 of 2 systems written")

	// The skeleton passes policy check once the hand-written file is gone.
	require.NoError(t, os.Remove(filepath.Join(dir, "plania.yaml")))
	code, out, errOut = runLocal("policy", "check", dir)
	require.Equal(t, 0, code, out+errOut)

	code, _, errOut = runLocal("catalog", "import", filepath.Join(dir, "nope.ods"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, ".csv or .xlsx")
}

// `tilgang policy check` on a catalogue with five different mistakes prints
// five file:line problems and exits 1.
func TestPolicyCheckFiveMistakes(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gerica.yaml"), []byte(`system: gerica
name: Gerica
owner: Helse og omsorg
administrators: [1547-20001, 1547-20002]
connectors: [noop, manual]
colour: blue
roles:
  - id: bruker
    entitlements: {noop: [APP-Gerica-Bruker]}
    requestable_by: [manager]
    approval: [systemansvarlig]
    eligible: 'person.org_unit.startsWith("helse/"'
  - id: bruker
    entitlements: {noop: [APP-Gerica-Bruker2]}
    requestable_by: [manager]
    approval: []
    max_duration: 1y
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plania.yaml"), []byte(`system: plania
name: Plania
owner: Teknisk
administrators: [1557-20060]
connectors: [ad]
roles:
  - id: bruker
    entitlements: {ad: ["CN=Plania"]}
    requestable_by: [manager]
    approval: []
    conflicts: [gerica/sjef]
`), 0o644))
	code, out, errOut := runLocal("policy", "check", dir)
	require.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, out)
	g, p := filepath.Join(dir, "gerica.yaml"), filepath.Join(dir, "plania.yaml")
	for i, want := range []string{g + ":6: ", g + ":12: ", g + ":13: ", g + ":17: ", p + ":11: "} {
		require.True(t, strings.HasPrefix(lines[i], want), "line %d: %s", i, lines[i])
	}
	require.Contains(t, lines[0], `unknown key "colour"`)
	require.Contains(t, lines[1], "does not compile")
	require.Contains(t, lines[2], "bruker")
	require.Contains(t, lines[3], `"1y"`)
	require.Contains(t, lines[4], `has no role "sjef"`)
	require.Contains(t, errOut, "5 problems")
}
