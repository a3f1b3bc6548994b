package portal_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// The portal `tilgang dev` serves, in a real Chromium: the development
// sign-in, what waits for me and the approvals pass axe-core's WCAG 2.1
// A/AA rules, load without a CSP problem, and the keyboard reaches the
// skip link first.
func TestPagesInChromium(t *testing.T) {
	w := startWorld(t)
	b := browser.Start(t)
	id := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leder", Reason: "ny i heimetenesta"})
	w.Wait("approval.pending", "1547-1", testenv.ForRequest(id))

	p := b.Page(t)
	require.Equal(t, 200, p.Navigate(w.PortalURL+"/"))
	require.True(t, strings.HasSuffix(p.URL(), "/signin"), p.URL())
	require.Contains(t, p.Title(), "Logg inn")
	require.Contains(t, p.VisibleText(), "Utviklingsmodus")
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("signin-dev")

	p.Press(browser.Tab)
	require.True(t, p.HasFocus("a.ds-skip-link"), "the skip link is first: %s", p.Focused())

	p.SetValue("#person", "1547-3")
	require.Equal(t, 200, p.Submit("#person"))
	require.True(t, strings.HasSuffix(p.URL(), "/"), p.URL())
	text := p.VisibleText()
	require.Contains(t, text, "Logget inn som Åse Øvergård-Bø")
	require.Contains(t, text, "Godkjenninger som venter på deg")
	c, ok := p.Cookie("tilgang")
	require.True(t, ok)
	require.True(t, c.HTTPOnly)
	require.Equal(t, "Lax", c.SameSite)
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("home")

	require.Equal(t, 200, p.Navigate(w.PortalURL+"/approvals"))
	require.Equal(t, 1, p.Count(`form[action="/approvals/`+id+`"]`))
	// By keyboard: the skip link first, and it takes the focus to main.
	p.Press(browser.Tab)
	require.True(t, p.HasFocus("a.ds-skip-link"), p.Focused())
	p.Press(browser.Enter)
	require.True(t, p.HasFocus("main#main"), "the skip link moves the focus to main: %s", p.Focused())
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("approvals")

	// A deny without a comment: the error summary, then the denial.
	require.Equal(t, 400, p.ClickAndWait(`form[action="/approvals/`+id+`"] button[value="deny"]`))
	p.RequireNoAxeViolations()
	require.Contains(t, p.VisibleText(), "Skriv hvorfor du avslår")
	p.Screenshot("approvals-error")

	// The request's page, an error page, and signing out.
	require.Equal(t, 200, p.Navigate(w.PortalURL+"/requests/"+id))
	require.Contains(t, p.VisibleText(), "Venter på godkjenning")
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("request")
	require.Equal(t, 200, p.Navigate(w.PortalURL+"/requests/new?person=1547-2"))
	require.Contains(t, p.VisibleText(), "Hva Tilgang vil avgjøre for 1547-2")
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("request-new")
	require.Equal(t, 200, p.Navigate(w.PortalURL+"/people/1547-3"))
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	require.Equal(t, 404, p.Navigate(w.PortalURL+"/nowhere"))
	require.Contains(t, p.VisibleText(), "Siden finnes ikke")
	p.RequireNoAxeViolations()
	require.Equal(t, 200, p.ClickAndWait(`form[action="/signout"] button`))
	require.True(t, strings.HasSuffix(p.URL(), "/signedout"), p.URL())
	require.Contains(t, p.VisibleText(), "Du er logget ut")
	p.RequireNoAxeViolations()
	_, ok = p.Cookie("tilgang")
	require.False(t, ok, "the session cookie is gone")
	require.Equal(t, 200, p.Navigate(w.PortalURL+"/approvals"))
	require.True(t, strings.HasSuffix(p.URL(), "/signin"), "signed out: %s", p.URL())
}
