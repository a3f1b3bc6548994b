package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyExample copies the example catalogue (its system files) to a new dir.
func copyExample(t *testing.T) (dir string, files map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(exampleDir)
	require.NoError(t, err)
	dir, files = t.TempDir(), map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || !IsPolicyFile(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(exampleDir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	require.NotEmpty(t, files)
	return dir, files
}

func TestVersionIsStable(t *testing.T) {
	t.Parallel()
	orig, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	dir, files := copyExample(t)

	tests := []struct {
		name   string
		change func(t *testing.T)
	}{
		{name: "a copy elsewhere", change: func(t *testing.T) {}},
		{name: "the same bytes written again", change: func(t *testing.T) {
			for name, b := range files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
			}
		}},
		{name: "a policy test added", change: func(t *testing.T) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "gerica_test.yaml"), []byte("cases: []\n"), 0o644))
		}},
		{name: "a tests folder added", change: func(t *testing.T) {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "tests"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "x.yaml"), []byte("cases: []\n"), 0o644))
		}},
		{name: "a README added", change: func(t *testing.T) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# katalog\n"), 0o644))
		}},
	}
	// Sequential: each change adds to the same directory, and none may count.
	for _, tt := range tests {
		tt.change(t)
		c, err := Load(dir, devConnectors)
		require.NoError(t, err, tt.name)
		require.Equal(t, orig.Version, c.Version, tt.name)
		for id, s := range c.Systems {
			require.Equal(t, orig.Systems[id].FileHash, s.FileHash, tt.name)
			sum := sha256.Sum256(files[id+".yaml"])
			require.Equal(t, hex.EncodeToString(sum[:]), s.FileHash)
		}
	}
}

func TestVersionChangesWithAnyByte(t *testing.T) {
	t.Parallel()
	dir, files := copyExample(t)
	base, err := Load(dir, devConnectors)
	require.NoError(t, err)

	// ASCII bytes of the comments, flipped one at a time, and a byte added at
	// the end: the file stays valid, so only the version can tell.
	seen := map[string]string{base.Version: "original"}
	for name, orig := range files {
		var edits [][]byte
		for i := 0; i < len(orig); i++ {
			if orig[i] != '#' {
				continue
			}
			j := i + 1
			for ; j < len(orig) && orig[j] != '\n'; j++ {
				if orig[j] < 0x20 || orig[j] > 0x7d {
					continue // keep it printable ASCII, so the file stays valid
				}
				b := bytes.Clone(orig)
				b[j] ^= 0x01
				edits = append(edits, b)
			}
			i = j
		}
		// Spread over the file, not all of them: a load takes a millisecond.
		if stride := len(edits)/40 + 1; stride > 1 {
			var some [][]byte
			for k := 0; k < len(edits); k += stride {
				some = append(some, edits[k])
			}
			edits = some
		}
		edits = append(edits, append(bytes.Clone(orig), '\n'))
		require.Greater(t, len(edits), 10, name)

		for k, b := range edits {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
			c, err := Load(dir, devConnectors)
			require.NoError(t, err, "%s edit %d", name, k)
			what := name + " edit " + strconv.Itoa(k)
			if prev, dup := seen[c.Version]; dup && !bytes.Equal(b, orig) {
				t.Fatalf("%s: same version as %s", what, prev)
			}
			seen[c.Version] = what
			require.NotEqual(t, base.Systems[stemOf(name)].FileHash, c.Systems[stemOf(name)].FileHash)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), orig, 0o644))
	}

	back, err := Load(dir, devConnectors)
	require.NoError(t, err)
	require.Equal(t, base.Version, back.Version, "restoring the bytes restores the version")
}
