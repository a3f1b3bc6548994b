package portal_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// The audit page: an auditor person (capability auditor in the
// principals file, counted when the portal signs for them) filters the
// audit, pages through it, exports it as CSV with the approvers named,
// and sees the last verify; a person without the capability is refused.
func TestAuditPage(t *testing.T) {
	w := startWorld(t)
	const reason = `=HYPERLINK("http://evil.example") <b>haster</b>`
	id := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leder", Reason: reason})
	pending := w.Wait("approval.pending", "1547-1", testenv.ForRequest(id))
	gid := pending.Data["grant_id"].(string)
	manager := w.browser(t, "1547-3")
	res, body := manager.do(http.MethodPost, "/approvals/"+id, url.Values{"decision": {"approve"}, "comment": {"ok"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	w.Wait("approval.pending", "1547-1", func(ev testenv.Event) bool { return ev.Data["grant_id"] == gid && ev.Data["stage"] == float64(2) })

	// Refused: a manager is no auditor; no link, and a page saying so.
	_, body = manager.do(http.MethodGet, "/", nil)
	require.NotContains(t, body, `href="/audit"`)
	for _, path := range []string{"/audit", "/audit.csv", "/audit?person=1547-1"} {
		res, body := manager.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)
		require.Contains(t, body, "Revisjonssiden er bare for revisorer og driftsoperatører", path)
		require.NotContains(t, body, gid, path)
	}

	a := w.browser(t, Auditor)
	_, body = a.do(http.MethodGet, "/", nil)
	require.Contains(t, body, `href="/audit"`, "the auditor's first page links the audit")
	res, body = a.do(http.MethodGet, "/audit", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "Revisjonssporet er ikke kontrollert ennå")
	require.Contains(t, body, `id="audit-filter"`)

	// A verify run is recorded and shown.
	var rep map[string]any
	require.NoError(t, w.api(principals.DevID, "").Call(t.Context(), api.MethodAuditVerify, nil, &rep))
	_, body = a.do(http.MethodGet, "/audit", nil)
	require.Regexp(t, `alle \d+ hendelser henger sammen`, body)
	require.Contains(t, body, "Kjørt av dev")

	// Filter by person and actor: the approval of 1547-3, the reason as text.
	res, body = a.do(http.MethodGet, "/audit?"+url.Values{"person": {"1547-1"}, "actor": {"1547-3"}}.Encode(), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "1547-3 (via portal)")
	require.NotContains(t, body, "1547-2 (via dev)", "rows of other actors are left out")
	res, body = a.do(http.MethodGet, "/audit?person=1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "&lt;b&gt;haster&lt;/b&gt;", "HTML in a reason is text")
	require.NotContains(t, body, "<b>haster</b>")
	// A date range that ended before anything happened: no rows.
	_, body = a.do(http.MethodGet, "/audit?person=1547-1&from=2001-01-01&to=2001-12-31", nil)
	require.Contains(t, body, "Ingen hendelser på denne siden")

	// Bad filters: a page with an error summary naming the field.
	for q, text := range map[string]string{
		"from=2026-13-01":                  "Datoen må skrives som ÅÅÅÅ-MM-DD",
		"from=2026-05-02&to=2026-05-01":    "Til og med-datoen kan ikke være før",
		"person=" + url.QueryEscape("<x>"): "Person må være en person-id",
	} {
		res, body := a.do(http.MethodGet, "/audit?"+q, nil)
		require.Equal(t, http.StatusBadRequest, res.StatusCode, q)
		require.Contains(t, body, text, q)
		require.Contains(t, body, "ds-error-summary", q)
	}

	// Paging: the pages, followed by their links, hold every row once.
	// More rows than a page: the same request again, attached each time.
	var last string
	for i := 0; i < portal.AuditPageRows; i++ {
		last = w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leder", Reason: fmt.Sprintf("igjen %d", i)})
	}
	w.Wait("request.accepted", "1547-1", testenv.ForRequest(last))
	var all []api.AuditRow
	require.NoError(t, w.api(principals.DevID, "").Audit(t.Context(), api.AuditArgs{}, func(rs []api.AuditRow) error {
		all = append(all, rs...)
		return nil
	}))
	require.Greater(t, len(all), 50, "more than one page")
	seqRe := regexp.MustCompile(`<tr><td>(\d+)</td>`)
	nextRe := regexp.MustCompile(`id="audit-next" href="([^"]+)"`)
	seen, path := 0, "/audit"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 100)
		res, body := a.do(http.MethodGet, strings.ReplaceAll(path, "&amp;", "&"), nil)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		seen += len(seqRe.FindAllString(body, -1))
		path = ""
		if m := nextRe.FindStringSubmatch(body); m != nil {
			path = m[1]
		}
	}
	require.Equal(t, len(all), seen, "every row once")

	// The CSV: the CLI's columns, the approver named in the actor column,
	// a formula neutralised.
	res, body = a.do(http.MethodGet, "/audit.csv?person=1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, res.Header.Get("Content-Disposition"), "attachment")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, api.AuditCSVHeader, recs[0])
	approved, formula := false, false
	for _, r := range recs[1:] {
		require.Equal(t, "1547-1", r[3])
		if r[4] == "1547-3" && r[5] == principals.PortalID && r[8] == gid {
			approved = true
		}
		if strings.HasPrefix(r[13], `'=HYPERLINK(`) {
			formula = true
		}
		require.False(t, strings.HasPrefix(r[13], "="), "a formula cell: %q", r[13])
	}
	require.True(t, approved, "the file names the approver: %v", recs)
	require.True(t, formula, "the reason is there, neutralised")
}
