package portal

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWhy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "",
		"1547-2 requested grant g-1 and may not decide it":                 "Du har selv bestilt tilgangen og kan derfor ikke godkjenne eller avslå den.",
		"stage 2 (manager) of grant g-1 is 1547-9's to decide, not 1547-3": "Trinn 2 skal godkjennes av 1547-9, ikke av deg.",
		`system kasse has no role "sjef"`:                                  "Systemet kasse har ingen rolle sjef.",
		"operation 12 is done, not a task waiting for people":              "Oppgave 12 venter ikke lenger på noen (status: done).",
		"grant g-1 is active, not waiting for approval":                    "Tilgangen venter ikke lenger på godkjenning (status: aktiv).",
		// The policy's reasons, several joined by "; ", one with "; " inside.
		"requestable_by: kasse/leder is requestable by manager; 1547-6 is none of them for 1547-1; conflicts: kasse/leder may not be held together with kasse/revisor (grant g-2, active)": "Rollen leder i kasse kan ikke bestilles av 1547-6 for 1547-1. Rollen leder i kasse kan ikke kombineres med kasse/revisor, som personen allerede har eller venter på.",
		"denied before provisioning: eligible: 1547-1 is not eligible for gerica/sykepleier (person.unit == 'x', gerica.yaml:12)":                                                          "Avslått rett før tilgangen skulle gis: 1547-1 oppfyller ikke vilkåret for rollen sykepleier i gerica.",
		"something nobody wrote a translation for": "Tilgang kunne ikke godta dette. Kontakt IT-tjenesten hvis du trenger hjelp.",
	} {
		require.Equal(t, want, Why(in), in)
	}
	// An argument with HTML stays an argument: html/template escapes it.
	require.Equal(t, "Tilgang kjenner ikke systemet <b>.", Why(`unknown system "<b>"`))
}

// Every reason the worker writes is translated: this reads the formats
// the engine rejects and denies with, the policy refuses with and the API
// explains a failure with, from their source, and checks each is in
// reasonFormats, so a new or changed reason fails here until it has
// bokmål words.
func TestReasonsCoverEngine(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	known := map[string]bool{}
	for _, f := range reasonFormats {
		known[f.format] = true
	}
	type site struct{ file, format string }
	var found []site
	files := []string{"internal/engine/*.go", "internal/policy/decide.go", "internal/api/methods.go"}
	for _, g := range files {
		paths, err := filepath.Glob(filepath.Join(root, g))
		require.NoError(t, err)
		for _, p := range paths {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			src, err := os.ReadFile(p)
			require.NoError(t, err)
			f, err := parser.ParseFile(token.NewFileSet(), p, src, 0)
			require.NoError(t, err)
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				name := callName(call)
				var args []ast.Expr
				switch {
				case name == "reject" && len(call.Args) == 3, name == "rejectUnauthenticated" && len(call.Args) == 3:
					args = call.Args[2:]
				case name == "refuse" && len(call.Args) == 2:
					args = call.Args[1:]
				default:
					return true
				}
				if format := sprintfFormat(args[0]); format != "" {
					found = append(found, site{p, format})
				}
				return true
			})
		}
	}
	// The reasons written without reject or refuse.
	for _, f := range []string{"%s has left (%s)", "%s/%s is not in the catalogue", "operation %d (%s %s on %s) failed: %s",
		// engine.ReviewWhyNot's, which the API shows beside each item too
		"review campaign %s is %s: decisions are taken only while it is open", "%s may not review their own access",
		"%s is not a reviewer of %s's %s access in campaign %s"} {
		found = append(found, site{"(named here)", f})
	}
	require.Greater(t, len(found), 30, "the engine's reasons were found")
	for _, s := range found {
		require.True(t, known[s.format], "%s: the reason %q has no bokmål words in reasonFormats", s.file, s.format)
	}
	// And each format matches its own example.
	for _, f := range reasonFormats {
		example := strings.NewReplacer("%s", "x1", "%q", `"x2"`, "%d", "3", "%v", "x4").Replace(f.format)
		s, ok := whyOne(example)
		require.True(t, ok, f.format)
		require.NotContains(t, s, "[why.", f.format)
		require.NotContains(t, s, "%!", f.format)
	}
}

func callName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.Ident:
		return f.Name
	}
	return ""
}

// sprintfFormat is the format of fmt.Sprintf("...", ...), else "".
func sprintfFormat(e ast.Expr) string {
	c, ok := e.(*ast.CallExpr)
	if !ok || callName(c) != "Sprintf" || len(c.Args) == 0 {
		return ""
	}
	lit, ok := c.Args[0].(*ast.BasicLit)
	if !ok {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// Why never fails, never shows a fmt error, and answers every reason with
// words: an unknown part becomes the general sentence.
func FuzzWhy(f *testing.F) {
	for _, s := range []string{"", "grant g-1 is active, not waiting for approval", "unknown system \"x\"",
		"requestable_by: a/b is requestable by manager; 1 is none of them for 2; conflicts: a/b may not be held together with c/d (grant g, active)",
		"denied before provisioning: ", "; ; ;", "%s %d %!", "stage 99999999999999999999 (x) of grant g is a's to decide, not b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Why(s)
		if strings.TrimSpace(s) != "" && out == "" {
			t.Fatalf("no words for %q", s)
		}
		if strings.Contains(out, "%!") && !strings.Contains(s, "%!") {
			t.Fatalf("a fmt error in %q for %q", out, s)
		}
		if strings.Contains(out, "[why.") {
			t.Fatalf("a missing catalogue key in %q", out)
		}
	})
}
