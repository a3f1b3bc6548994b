package portal

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// Every text key the templates and the code name is in the catalogue.
func TestCatalogueComplete(t *testing.T) {
	t.Parallel()
	uses := []*regexp.Regexp{
		regexp.MustCompile(`\{\{t "([a-z0-9_]+(?:\.[a-z0-9_]+)+)"`),
		regexp.MustCompile(`i18n\.T\("([a-z0-9_]+(?:\.[a-z0-9_]+)+)"`),
		regexp.MustCompile(`"(error\.[a-z0-9]+\.[a-z0-9.]+|signin\.[a-z.]+|approvals\.[a-z.]+)"`),
	}
	var keys []string
	scan := func(b []byte) {
		for _, re := range uses {
			for _, m := range re.FindAllSubmatch(b, -1) {
				keys = append(keys, string(m[1]))
			}
		}
	}
	require.NoError(t, fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(path)
		scan(b)
		return err
	}))
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		scan(b)
	}
	require.Greater(t, len(keys), 50)
	for _, k := range keys {
		require.True(t, i18n.Has(k), "%s is not in the catalogue", k)
	}
	for _, p := range []problem{noPerson, hasLeft, noClaim, unverified, ambiguous} {
		require.True(t, i18n.Has("error."+string(p)+".title"))
		require.True(t, i18n.Has("error."+string(p)+".body"))
	}
}
