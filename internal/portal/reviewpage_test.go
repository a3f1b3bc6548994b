package portal_test

import (
	"context"
	"encoding/csv"
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
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

const reviewedKasse = `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001, 1547-20002]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [KASSE-BRUKER]}
    requestable_by: [manager]
    approval: []
review: {reviewers: systemansvarlig, duration: 14d, if_no_response: keep, justification: required}
`

// The review pages refuse, each with a page in bokmål and nothing sent,
// whoever may not do what they ask: a start of a system with a campaign
// open, of a system without review:, a decision by someone who is not the
// item's reviewer, a decision on one's own access, a decision without the
// comment the policy requires, a campaign that does not exist, and the
// report to a reviewer who does not administer the system.
func TestReviewPagesRefuse(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": reviewedKasse})
	grants := map[string]string{}
	for person, by := range map[string]string{"1547-1": "1547-2", "1547-20002": "1547-3"} {
		id := w.Send(tilgang.TypeRequest, person, by, envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "kasse"})
		grants[person] = w.Wait("grant.active", person, testenv.ForRequest(id)).Data["grant_id"].(string)
	}

	admin := w.browser(t, "1547-20001")
	res, body := admin.do(http.MethodGet, "/reviews", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `id="start-kasse"`)
	res, body = admin.do(http.MethodPost, "/reviews", url.Values{"system": {"kasse"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	loc := res.Header.Get("Location")
	require.Regexp(t, `^/reviews/rc-[0-9a-f]+\?started$`, loc)
	campaign := regexp.MustCompile(`rc-[0-9a-f]+`).FindString(loc)

	for _, tc := range []struct {
		name, system string
		status       int
		text         string
	}{
		{"a second campaign", "kasse", http.StatusConflict, i18n.T("reviews.error.open", "kasse")},
		{"a system without review:", "ukjent", http.StatusBadRequest, i18n.T("reviews.error.nopolicy", "ukjent")},
		{"no system id", "<b>", http.StatusBadRequest, i18n.T("reviews.error.system")},
	} {
		res, body := admin.do(http.MethodPost, "/reviews", url.Values{"system": {tc.system}})
		require.Equal(t, tc.status, res.StatusCode, tc.name)
		require.Contains(t, body, esc(tc.text), tc.name)
	}
	// A manager may not start one.
	manager := w.browser(t, "1547-2")
	res, body = manager.do(http.MethodPost, "/reviews", url.Values{"system": {"kasse"}})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("reviews.error.start", "kasse")))

	// The campaign's page, for the administrator: both items, and none
	// for the other administrator's own.
	res, body = admin.do(http.MethodGet, "/reviews/"+campaign, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `id="keep-`+grants["1547-1"]+`"`)
	require.Contains(t, body, `id="keep-`+grants["1547-20002"]+`"`)
	other := w.browser(t, "1547-20002")
	_, body = other.do(http.MethodGet, "/", nil)
	require.Contains(t, body, `href="/reviews/`+campaign+`"`, "what waits for me links the campaign")
	_, body = other.do(http.MethodGet, "/reviews/"+campaign, nil)
	require.Contains(t, body, `id="keep-`+grants["1547-1"]+`"`)
	require.NotContains(t, body, `id="keep-`+grants["1547-20002"]+`"`, "not their own")

	decide := func(b *httpBrowser, grant, decision, comment string) (*http.Response, string) {
		return b.do(http.MethodPost, "/reviews/"+campaign+"/decide", url.Values{"grant": {grant}, "decision": {decision}, "comment": {comment}})
	}
	for _, tc := range []struct {
		name     string
		b        *httpBrowser
		grant    string
		decision string
		comment  string
		status   int
		text     string
	}{
		{"their own access", other, grants["1547-20002"], "keep", "min", http.StatusForbidden, i18n.T("error.403.reviewown")},
		{"not a reviewer", manager, grants["1547-1"], "remove", "nei", http.StatusForbidden, i18n.T("error.403.notreviewer")},
		{"no comment", admin, grants["1547-1"], "keep", " ", http.StatusBadRequest, i18n.T("review.error.comment")},
		{"no decision", admin, grants["1547-1"], "kanskje", "hm", http.StatusBadRequest, i18n.T("review.error.decision")},
		{"no grant id", admin, "<b>", "keep", "hm", http.StatusBadRequest, i18n.T("error.400.body")},
	} {
		res, body := decide(tc.b, tc.grant, tc.decision, tc.comment)
		require.Equal(t, tc.status, res.StatusCode, tc.name)
		require.Contains(t, body, esc(tc.text), tc.name)
	}
	// Nothing was decided.
	_, body = admin.do(http.MethodGet, "/reviews/"+campaign, nil)
	require.Contains(t, body, i18n.T("review.decided.none"))
	// A bulk keep finds nothing positive: the target knows no sign-ins.
	res, body = admin.do(http.MethodPost, "/reviews/"+campaign+"/keep", url.Values{"comment": {"alle"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("review.error.bulk")))

	res, body = decide(admin, grants["1547-20002"], "remove", "=1+1")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	_, body = admin.do(http.MethodGet, "/reviews/"+campaign, nil)
	require.Contains(t, body, `id="decided-`+grants["1547-20002"]+`"`)

	// Pages that are not there, or not theirs.
	res, body = admin.do(http.MethodGet, "/reviews/rc-0000000000000000", nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.Contains(t, body, i18n.T("reviews.error.nocampaign"))
	res, body = manager.do(http.MethodGet, "/reviews/"+campaign, nil)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("error.403.notcampaign")))
	for _, path := range []string{"/reviews/" + campaign + "/report", "/reviews/" + campaign + "/report.csv"} {
		res, body = manager.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)
		require.Contains(t, body, esc(i18n.T("error.403.notreportreader")), path)
	}

	// The report as CSV: one row an item, the formula quoted.
	res, body = admin.do(http.MethodGet, "/reviews/"+campaign+"/report.csv", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, portal.ReviewCSVHeader, rows[0])
	require.Len(t, rows, 3)
	var comments []string
	for _, r := range rows[1:] {
		comments = append(comments, r[13])
	}
	require.Contains(t, comments, "'=1+1")
	// The administrator may not close it before its end; nobody closes a
	// closed one.
	res, body = admin.do(http.MethodPost, "/reviews/"+campaign+"/close", url.Values{})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("reviews.error.close")))
	var closed map[string]any
	require.NoError(t, w.api(principals.DevID, "").Call(context.Background(), api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: campaign}, &closed))
	res, body = admin.do(http.MethodPost, "/reviews/"+campaign+"/close", url.Values{})
	require.Equal(t, http.StatusConflict, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("reviews.error.closed")))
	res, body = decide(other, grants["1547-1"], "keep", "for sent")
	require.Equal(t, http.StatusForbidden, res.StatusCode, "decided after the close")
	require.Contains(t, body, esc(i18n.T("error.403.review.why", i18n.T("why.review.closed"))))
	// An auditor reads the report too.
	auditor := w.browser(t, Auditor)
	res, body = auditor.do(http.MethodGet, "/reviews/"+campaign+"/report", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "2 tilganger: 0 beholdes, 1 fjernes, 0 sett, 1 ikke avgjort.")
}

// esc is s as html/template writes it in text.
func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

// lagerNoReview is a system of the same administrator without review:.
const lagerNoReview = `system: lager
name: Lager
owner: Økonomi
administrators: [1547-20001]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [LAGER-BRUKER]}
    requestable_by: [manager]
    approval: []
`

// /reviews offers a start only for the systems whose policy has a review:
// block: the administrator of kasse (reviewed) and lager (not) gets a
// start of kasse alone, an auditor (who may start none) no start at all,
// and once kasse's campaign is open, no start of it either.
func TestReviewStartOnlyWithPolicy(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": reviewedKasse, "lager.yaml": lagerNoReview})
	admin := w.browser(t, "1547-20001")
	res, body := admin.do(http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `href="/systems/lager"`, "the administrator has both systems")
	res, body = admin.do(http.MethodGet, "/reviews", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `id="start-kasse"`)
	require.NotContains(t, body, `id="start-lager"`, "lager has no review:")
	require.NotContains(t, body, `name="system" type="text"`, "no field for any system")
	// The systems' pages say which has reviews.
	_, body = admin.do(http.MethodGet, "/systems/lager", nil)
	require.Contains(t, body, esc(i18n.T("system.review.nopolicy")))
	require.NotContains(t, body, `id="system-reviews"`)
	_, body = admin.do(http.MethodGet, "/systems/kasse", nil)
	require.NotContains(t, body, esc(i18n.T("system.review.nopolicy")))
	require.Contains(t, body, `id="system-reviews"`)

	auditor := w.browser(t, Auditor)
	res, body = auditor.do(http.MethodGet, "/reviews", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.NotContains(t, body, `id="start-`, "an auditor starts nothing")
	require.NotContains(t, body, `action="/reviews" class`, "no start form at all")

	// A start of lager, forged, is still refused in words.
	res, body = admin.do(http.MethodPost, "/reviews", url.Values{"system": {"lager"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body, esc(i18n.T("reviews.error.nopolicy", "lager")))

	res, body = admin.do(http.MethodPost, "/reviews", url.Values{"system": {"kasse"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	_, body = admin.do(http.MethodGet, "/reviews", nil)
	require.NotContains(t, body, `id="start-kasse"`, "kasse's campaign is open")
}
