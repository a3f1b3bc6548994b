package portal_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

const systemCatalogue = trainingCatalogue + `  - id: leser
    entitlements: {noop: [KASSE-LESER]}
    requestable_by: [manager]
    approval: []
`

// A system's page for its administrators: who holds which role, training
// to confirm and manual tasks with their buttons, the holders as CSV;
// anyone else is refused with a page.
func TestSystemPage(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": systemCatalogue})
	reader := w.Send(tilgang.TypeRequest, "1547-666", "1547-3", envelope.Request{Action: "grant", System: "kasse", Role: "leser", Reason: "ny"})
	gReader := w.Wait("grant.active", "1547-666", testenv.ForRequest(reader)).Data["grant_id"].(string)
	trained := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
	w.Wait("training.pending", "1547-1", testenv.ForRequest(trained))
	manual := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "manuell", Reason: "ny"})
	w.Wait("request.accepted", "1547-1", testenv.ForRequest(manual))
	task := w.Wait("task.manual", "1547-1", nil)
	op := task.Data["operation_id"]
	require.NotNil(t, op)

	// Refused: a manager who does not administer kasse.
	m := w.browser(t, "1547-3")
	_, body := m.do(http.MethodGet, "/", nil)
	require.NotContains(t, body, `href="/systems/kasse"`)
	for _, path := range []string{"/systems/kasse", "/systems/kasse/holders.csv", "/systems/kasse?role=leser"} {
		res, body := m.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)
		require.Contains(t, body, "Siden for kasse er bare for systemets systemansvarlige", path)
		require.NotContains(t, body, gReader, path)
	}

	admin := w.browser(t, "1547-20001")
	_, body = admin.do(http.MethodGet, "/", nil)
	require.Contains(t, body, `href="/systems/kasse"`, "the first page links the system")
	_, body = admin.do(http.MethodGet, "/people/1547-666", nil)
	require.Contains(t, body, `href="/systems/kasse"`, "the person page links the system")

	res, body := admin.do(http.MethodGet, "/systems/kasse", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "Kasse (kasse)")
	require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", "the holder's name, as text")
	require.NotContains(t, body, scriptName)
	require.Contains(t, body, `<td>leser</td>`)
	require.Contains(t, body, `action="/training"`)
	require.Contains(t, body, `name="return" value="system"`)
	require.Contains(t, body, `action="/tasks/`)
	require.Contains(t, body, `id="system-csv" href="/systems/kasse/holders.csv"`)

	// The role filter, and an unknown role or system.
	_, body = admin.do(http.MethodGet, "/systems/kasse?role=bruker", nil)
	require.NotContains(t, body, `<td>leser</td>`)
	res, _ = admin.do(http.MethodGet, "/systems/"+url.PathEscape("<x>"), nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	res, body = admin.do(http.MethodGet, "/systems/lonn", nil)
	require.Equal(t, http.StatusForbidden, res.StatusCode, "another system's page: %s", body)

	// Confirm the training from the system's page: back to it.
	res, body = admin.do(http.MethodPost, "/training", url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"bruker"}, "return": {"system"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.Equal(t, "/systems/kasse?sent", res.Header.Get("Location"))
	w.Wait("grant.active", "1547-1", testenv.ForRequest(trained))

	// The holders as CSV.
	res, body = admin.do(http.MethodGet, "/systems/kasse/holders.csv", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, portal.HolderCSVHeader, recs[0])
	found := false
	for _, r := range recs[1:] {
		if r[1] == "leser" && r[2] == "1547-666" && r[5] == gReader {
			found = true
			require.Contains(t, r[3], scriptName, "the name, as it is (a CSV is no web page)")
		}
	}
	require.True(t, found, "%v", recs)
}
