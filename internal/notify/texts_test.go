package notify

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTextsComplete: every key a template or the code names is in the
// catalogue, and every kind a mail is made for has its subject, action
// and template, in plain text and HTML.
func TestTextsComplete(t *testing.T) {
	keys := map[string]bool{}
	for _, f := range []string{"templates/mail.txt.tmpl", "templates/mail.html.tmpl", "notify.go", "compose.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?:t|T)\s*\(?"([a-z_]+(?:\.[a-z_]+)+)"`).FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = true
		}
	}
	require.NotEmpty(t, keys)
	for k := range keys {
		require.True(t, Has(k), "%s is not in the catalogue", k)
	}
	for _, kind := range []string{"approval.pending", "approval.reminded", "approval.escalated", "training.pending", "task.manual",
		"task.reminded", "task.escalated", "grant.active", "grant.denied", "grant.failed", "credential.issued", "person.left", "person.moved",
		"no_email", "digest", "review.started", "review.reminded", "review.escalated"} {
		require.True(t, Has(kind+".subject"), kind)
		require.True(t, Has(kind+".action"), kind)
		require.NotNil(t, textTmpl.Lookup(kind), "plain text template %s", kind)
		require.NotNil(t, htmlTmpl.Lookup(kind), "HTML template %s", kind)
	}
}

// TestHTMLEscapesNames: a person named like markup is text in the HTML
// part.
func TestHTMLEscapesNames(t *testing.T) {
	l := letter{key: "ev1.p", recipient: "p", address: "p@example.no",
		v: view{Kind: "grant.active", Name: "<b>Kari</b>", Person: "<script>alert(1)</script>", Role: "r", System: "S", Link: "https://x/requests/1"}}
	msg, id, err := compose(l, mailAddress("tilgang@example.no"), "x")
	require.NoError(t, err)
	require.Equal(t, "<ev1.p@x>", id)
	_, html, ok := strings.Cut(string(msg), "Content-Type: text/html")
	require.True(t, ok)
	require.NotContains(t, html, "<script>")
	require.NotContains(t, html, "<b>Kari")
	require.Contains(t, html, "&lt;script&gt;")
	again, _, err := compose(l, mailAddress("tilgang@example.no"), "x")
	require.NoError(t, err)
	require.Equal(t, msg, again, "the same letter gives the same bytes")
}
