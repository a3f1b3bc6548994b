package portal_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// A person's page: their grants and history, for those the API lets see
// them, and a refusal page for others.
func TestPersonPage(t *testing.T) {
	w := startWorld(t)
	id := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "<em>trenger</em> kassen"})
	gid := w.Wait("request.accepted", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
	w.Wait("grant.active", "1547-1", testenv.ForGrant(gid))

	for _, tc := range []struct{ name, viewer string }{
		{"the person", "1547-1"},
		{"the manager", "1547-2"},
		{"an administrator of the system", "1547-20001"},
	} {
		res, body := w.browser(t, tc.viewer).do(http.MethodGet, "/people/1547-1", nil)
		require.Equal(t, http.StatusOK, res.StatusCode, tc.name)
		require.Contains(t, body, `href="/requests/`+id+`"`, tc.name)
		require.Contains(t, body, "Aktiv", tc.name)
		require.Contains(t, body, "&lt;em&gt;trenger&lt;/em&gt; kassen", tc.name)
		require.NotContains(t, body, "<em>trenger", tc.name)
	}
	res, body := w.browser(t, "1547-1").do(http.MethodGet, "/people/1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "Åse Øvergård-Bø (1547-1)")

	for _, path := range []string{"/people/1547-1", "/people/1547-404"} {
		res, body = w.browser(t, "1547-666").do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, path)
		require.Contains(t, body, "Du har ikke tilgang til dette", path)
	}
	_, body = w.browser(t, "1547-1").do(http.MethodGet, "/", nil)
	require.Contains(t, body, `href="/people/1547-1"`, "my history is a link away")
}
