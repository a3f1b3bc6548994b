package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A manager asks for a role for her employee: the plan first, then the
// request's page; someone who may not see the employee gets no plan, and
// a request that the policy refuses shows its reason.
func TestRequestFromThePortal(t *testing.T) {
	w := startWorld(t)
	manager := w.browser(t, "1547-2")
	res, body := manager.do(http.MethodGet, "/requests/new?person=1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "Hva Tilgang vil avgjøre for 1547-1")
	require.Contains(t, body, "kasse – leder")
	require.Contains(t, body, "Godkjennes av: manager (")
	require.Contains(t, body, "systemansvarlig (1547-20001, 1547-20002)")
	require.Equal(t, 3, strings.Count(body, `action="/requests"`), "a form for each role she may ask for")

	form := url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"leder"}, "reason": {"skal lede <b>kassen</b>"}}
	res, body = manager.do(http.MethodPost, "/requests", url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"leder"}, "reason": {" "}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body, "Skriv hvorfor tilgangen trengs")
	res, body = manager.do(http.MethodPost, "/requests", url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"leder"}, "reason": {"x"}, "valid_until": {"2001-01-01"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body, "Siste dag må være en dato")

	res, body = manager.do(http.MethodPost, "/requests", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	loc := res.Header.Get("Location")
	require.Regexp(t, `^/requests/[0-9a-f]{64}$`, loc)
	res, body = manager.do(http.MethodGet, loc, nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "Venter på godkjenning")
	require.Contains(t, body, "skal lede &lt;b&gt;kassen&lt;/b&gt;")

	// Someone who may not see her gets no plan; a request sent anyway,
	// by them or by an administrator (leder is for managers to ask), is
	// denied with the policy's reason.
	stranger := w.browser(t, "1547-666")
	res, body = stranger.do(http.MethodGet, "/requests/new?person=1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "Du kan ikke be om tilgang for 1547-1")
	require.NotContains(t, body, `action="/requests"`)
	for _, b := range []*httpBrowser{stranger, w.browser(t, "1547-20002")} {
		res, body = b.do(http.MethodPost, "/requests", form)
		require.Equal(t, http.StatusForbidden, res.StatusCode, body)
		require.Contains(t, body, "Bestillingen ble avslått: Rollen leder i kasse kan ikke bestilles av ")
		require.NotContains(t, body, "requestable", "the reason is in bokmål, not the policy's English")
	}
}
