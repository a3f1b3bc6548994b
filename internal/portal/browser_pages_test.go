package portal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// The system page and the audit page, in a real Chromium: each state
// passes axe-core's WCAG 2.1 A/AA rules without a CSP problem, and so do
// the pages that refuse a person who may not see them.
func TestSystemAndAuditPagesInChromium(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": systemCatalogue})
	r := w.Send(tilgang.TypeRequest, "1547-666", "1547-3", envelope.Request{Action: "grant", System: "kasse", Role: "leser", Reason: "<b>ny</b>"})
	w.Wait("grant.active", "1547-666", testenv.ForRequest(r))
	tr := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
	w.Wait("training.pending", "1547-1", testenv.ForRequest(tr))
	m := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "manuell", Reason: "ny"})
	w.Wait("request.accepted", "1547-1", testenv.ForRequest(m))
	w.Wait("task.manual", "1547-1", nil)

	b := browser.Start(t)
	signIn := func(p *browser.Page, person string) {
		t.Helper()
		require.Equal(t, 200, p.Navigate(w.PortalURL+"/signin"))
		p.SetValue("#person", person)
		require.Equal(t, 200, p.Submit("#person"))
	}
	check := func(p *browser.Page, shot string) {
		t.Helper()
		p.RequireNoProblems()
		p.RequireNoAxeViolations()
		if shot != "" {
			p.Screenshot(shot)
		}
	}

	admin := b.Page(t)
	signIn(admin, "1547-20001")
	require.Equal(t, 1, admin.Count(`a[href="/systems/kasse"]`), "the first page links the system")
	require.Equal(t, 200, admin.ClickAndWait(`a[href="/systems/kasse"]`))
	require.Contains(t, admin.VisibleText(), "Hvem har hvilken rolle")
	require.Contains(t, admin.VisibleText(), "Ingen avstemming er kjørt ennå.")
	check(admin, "")
	// A dry run: the page shows it, with its counts by kind.
	reps, err := w.Reconcile(api.ReconcileArgs{System: "kasse"})
	require.NoError(t, err)
	require.Len(t, reps, 1)
	require.Empty(t, reps[0].Error)
	require.Equal(t, 200, admin.Navigate(w.PortalURL+"/systems/kasse"))
	require.Contains(t, admin.VisibleText(), "som prøvekjøring (ingenting ble endret)")
	require.Contains(t, admin.VisibleText(), "Resultat: OK")
	require.Equal(t, 5, admin.Count(`#reconcile-counts tbody tr`), "one row a kind")
	require.Equal(t, 1, admin.Count(`form[action="/training"]`))
	require.GreaterOrEqual(t, admin.Count(`form[action^="/tasks/"]`), 1)
	check(admin, "system")
	admin.SetValue("#system-role", "leser")
	require.Equal(t, 200, admin.ClickAndWait("#system-show"))
	check(admin, "")
	require.Equal(t, 200, admin.ClickAndWait(`form[action="/training"] button`))
	require.Contains(t, admin.VisibleText(), "Det er sendt.")
	check(admin, "system-sent")
	require.Equal(t, 403, admin.Navigate(w.PortalURL+"/audit"))
	require.Contains(t, admin.VisibleText(), "Revisjonssiden er bare for revisorer")
	check(admin, "")

	auditor := b.Page(t)
	signIn(auditor, Auditor)
	require.Equal(t, 200, auditor.ClickAndWait("#nav-audit"))
	require.Contains(t, auditor.VisibleText(), "Siste kontroll av revisjonssporet")
	check(auditor, "audit")
	auditor.SetValue("#audit-person", "1547-666")
	require.Equal(t, 200, auditor.ClickAndWait("#audit-show"))
	require.Contains(t, auditor.VisibleText(), "<b>ny</b>", "the reason, as text")
	check(auditor, "audit-filtered")
	auditor.SetValue("#audit-person", "<b>")
	require.Equal(t, 400, auditor.ClickAndWait("#audit-show"))
	require.Contains(t, auditor.VisibleText(), "Person må være en person-id")
	check(auditor, "audit-error")
	require.Equal(t, 404, auditor.Navigate(w.PortalURL+"/systems/kassex"), "a system the catalogue does not hold")
	check(auditor, "")
}
