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
