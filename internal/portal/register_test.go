package portal_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// registerWorld is a worker where 1547-666 (named <script>) held
// kasse/leser and had it revoked, and 1547-1 holds it now.
func registerWorld(t *testing.T) (*world, string, string) {
	t.Helper()
	w := startWorldWith(t, map[string]string{"kasse.yaml": systemCatalogue})
	r := w.Send(tilgang.TypeRequest, "1547-666", "1547-3", envelope.Request{Action: "grant", System: "kasse", Role: "leser", Reason: "ny"})
	revoked := w.Wait("grant.active", "1547-666", testenv.ForRequest(r)).Data["grant_id"].(string)
	w.Send(tilgang.TypeRequest, "1547-666", "1547-3", envelope.Request{Action: "revoke", System: "kasse", Role: "leser", Reason: "slutter"})
	w.Wait("grant.revoked", "1547-666", testenv.ForRequest(r))
	h := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leser", Reason: "ny"})
	held := w.Wait("grant.active", "1547-1", testenv.ForRequest(h)).Data["grant_id"].(string)
	return w, revoked, held
}

// The register's pages: linked from the system's and the person's page,
// for now, a date or a period, as CSV; every bad form a bokmål error on the
// page; those who may not read a register are refused with a page.
func TestRegisterPage(t *testing.T) {
	w, revoked, held := registerWorld(t)
	today := tilgang.DateOf(time.Now())
	yesterday := tilgang.DateOf(time.Now().Add(-24 * time.Hour))
	tomorrow := tilgang.DateOf(time.Now().Add(48 * time.Hour))

	admin := w.browser(t, "1547-20001")
	_, body := admin.do(http.MethodGet, "/systems/kasse", nil)
	require.Contains(t, body, `id="system-register" href="/systems/kasse/register"`)

	res, body := admin.do(http.MethodGet, "/systems/kasse/register", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "Tilgangsregister for kasse")
	require.Contains(t, body, `href="/people/1547-1"`)
	require.Contains(t, body, "Har fortsatt tilgang")
	require.NotContains(t, body, "1547-666", "now: the revoked holder is not listed")

	for _, q := range []string{"?at=" + today.String(), "?from=" + yesterday.String() + "&to=" + today.String()} {
		res, body = admin.do(http.MethodGet, "/systems/kasse/register"+q, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		require.Contains(t, body, `href="/people/1547-666"`, q)
		require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", "the name, as text")
		require.NotContains(t, body, scriptName)
		require.Contains(t, body, `href="/people/1547-1"`, q)
		// Each row names its grant, as the CSV does.
		require.Contains(t, body, `<td id="register-grant-`+revoked+`">`+revoked+`</td>`, q)
		require.Contains(t, body, `<td id="register-grant-`+held+`">`+held+`</td>`, q)
		require.Contains(t, body, `id="register-csv" href="/systems/kasse/register.csv`+strings.ReplaceAll(q, "&", "&amp;")+`"`)
	}

	res, body = admin.do(http.MethodGet, "/systems/kasse/register.csv?at="+today.String(), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, []string{"person", "name", "system", "role", "grant_id", "from", "until", "requester", "approvers"}, recs[0])
	byGrant := map[string][]string{recs[1][4]: recs[1], recs[2][4]: recs[2]}
	require.Equal(t, "1547-666", byGrant[revoked][0])
	require.True(t, strings.HasPrefix(byGrant[revoked][1], scriptName), "the name: %q", byGrant[revoked][1])
	require.NotEmpty(t, byGrant[revoked][6], "until: revoked")
	require.Empty(t, byGrant[held][6], "until: held")
	require.Equal(t, "1547-2", byGrant[held][7])

	for _, tc := range []struct {
		name, query, msg string
	}{
		{"date and period", "?at=" + today.String() + "&from=" + today.String() + "&to=" + today.String(), "Fyll inn enten én dato eller en periode, ikke begge."},
		{"from alone", "?from=" + today.String(), "En periode trenger både fra og med-dato og til og med-dato."},
		{"from after to", "?from=" + today.String() + "&to=" + yesterday.String(), "Til og med-datoen kan ikke være før fra og med-datoen."},
		{"not a date", "?at=31.12.2025", "Datoen må skrives som ÅÅÅÅ-MM-DD."},
		{"future", "?at=" + tomorrow.String(), "Datoen kan ikke være etter i dag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := admin.do(http.MethodGet, "/systems/kasse/register"+tc.query, nil)
			require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
			require.Contains(t, body, tc.msg)
			require.Contains(t, body, `class="ds-error-summary"`)
			require.NotContains(t, body, `id="register-table"`, "no register with a bad form")
			res, body = admin.do(http.MethodGet, "/systems/kasse/register.csv"+tc.query, nil)
			require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
			require.Contains(t, body, "Tidspunktet inneholder noe Tilgang ikke kan bruke")
		})
	}

	// A manager who does not administer kasse: refused, with a bad form too.
	mgr := w.browser(t, "1547-3")
	for _, path := range []string{"/systems/kasse/register", "/systems/kasse/register.csv", "/systems/kasse/register?at=x"} {
		res, body := mgr.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)
		require.Contains(t, body, "Tilgangsregisteret for kasse er bare for systemets systemansvarlige", path)
		require.NotContains(t, body, "1547-1", path)
	}

	// A person reads their own, from their first page and their person
	// page; not another's.
	person := w.browser(t, "1547-1")
	_, body = person.do(http.MethodGet, "/", nil)
	require.Contains(t, body, `id="home-register" href="/people/1547-1/register"`)
	_, body = person.do(http.MethodGet, "/people/1547-1", nil)
	require.Contains(t, body, `id="person-register" href="/people/1547-1/register"`)
	res, body = person.do(http.MethodGet, "/people/1547-1/register", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "<td>kasse</td><td>leser</td><td id=\"register-grant-"+held+"\">"+held+"</td>")
	res, body = person.do(http.MethodGet, "/people/1547-666/register?at="+today.String(), nil)
	require.Equal(t, http.StatusForbidden, res.StatusCode, body)
	require.Contains(t, body, "Tilgangsregisteret for 1547-666 er bare for personen selv")
	require.NotContains(t, body, `id="register-table"`)
	// Their manager reads it.
	res, body = w.browser(t, "1547-2").do(http.MethodGet, "/people/1547-1/register", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "Har fortsatt tilgang")
}

// The register's page in a real Chromium: reached from the system's page,
// for a date, with a bad form, and refused; each passes axe-core's WCAG 2.1
// A/AA rules without a CSP problem.
func TestRegisterPageInChromium(t *testing.T) {
	w, revoked, held := registerWorld(t)
	today := tilgang.DateOf(time.Now()).String()
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
	require.Equal(t, 200, admin.Navigate(w.PortalURL+"/systems/kasse"))
	require.Equal(t, 200, admin.ClickAndWait("#system-register"))
	text := admin.VisibleText()
	require.Contains(t, text, "Tilgangsregister for kasse")
	require.Contains(t, text, "Har fortsatt tilgang")
	require.NotContains(t, text, "1547-666")
	check(admin, "register")

	admin.SetValue("#register-at", today)
	require.Equal(t, 200, admin.ClickAndWait("#register-show"))
	text = admin.VisibleText()
	require.Contains(t, text, scriptName, "the name, as text")
	require.Contains(t, text, "1547-1")
	require.Equal(t, 2, admin.Count("#register-table tbody tr"))
	require.Equal(t, revoked, admin.Text("#register-grant-"+revoked))
	href, ok := admin.Attr("#register-csv", "href")
	require.True(t, ok)
	require.Equal(t, "/systems/kasse/register.csv?at="+today, href)
	check(admin, "register-date")

	admin.SetValue("#register-from", today)
	require.Equal(t, 400, admin.ClickAndWait("#register-show"))
	require.Contains(t, admin.VisibleText(), "Fyll inn enten én dato eller en periode, ikke begge.")
	require.Zero(t, admin.Count("#register-table"))
	check(admin, "register-error")

	mgr := b.Page(t)
	signIn(mgr, "1547-3")
	require.Equal(t, 403, mgr.Navigate(w.PortalURL+"/systems/kasse/register"))
	require.Contains(t, mgr.VisibleText(), "Tilgangsregisteret for kasse er bare for")
	check(mgr, "")

	person := b.Page(t)
	signIn(person, "1547-1")
	require.Equal(t, 200, person.Navigate(w.PortalURL+"/"))
	require.Equal(t, 200, person.ClickAndWait("#home-register"))
	require.Equal(t, w.PortalURL+"/people/1547-1/register", person.URL())
	require.Contains(t, person.VisibleText(), "Tilgangsregister for 1547-1")
	require.NotContains(t, person.VisibleText(), revoked)
	require.Equal(t, held, person.Text("#register-grant-"+held))
	check(person, "register-person")
	require.Equal(t, 200, person.Navigate(w.PortalURL+"/people/1547-1"))
	require.Equal(t, 200, person.ClickAndWait("#person-register"))
	require.Equal(t, w.PortalURL+"/people/1547-1/register", person.URL())
}
