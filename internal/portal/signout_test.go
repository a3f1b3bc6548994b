package portal_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/portal"
)

// A signed-out session is on the ledger's sign-out list: the same cookie,
// replayed to this portal or to another replica sharing its session keys,
// signs nobody in; another session of the same person lives on.
func TestSignOutEndsCopiesOfTheCookie(t *testing.T) {
	w := startWorld(t)
	a := w.portal(t, portal.Options{})
	b := w.portal(t, portal.Options{}) // another replica: same keys, same API
	c := signIn(t, a, "1547-1")
	other := signIn(t, b, "1547-1")
	require.Equal(t, http.StatusOK, do(b, http.MethodGet, "/", nil, c).StatusCode, "any replica serves the session")

	// A sign-out from another origin is refused, and signs nobody out.
	r := request(http.MethodPost, "/signout", url.Values{})
	r.Header.Set("Origin", "http://evil.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.AddCookie(c)
	res := serve(a, r)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, bodyOf(t, res), "sendt fra en annen nettside")
	require.Equal(t, http.StatusOK, do(b, http.MethodGet, "/", nil, c).StatusCode, "still signed in")

	res = do(a, http.MethodPost, "/signout", url.Values{}, c)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, bodyOf(t, res))
	require.Equal(t, "/signedout", res.Header.Get("Location"))

	for name, h := range map[string]http.Handler{"the replica signed out on": a, "another replica": b} {
		res := do(h, http.MethodGet, "/", nil, c)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, name)
		require.Equal(t, "/signin", res.Header.Get("Location"), name)
		res = do(h, http.MethodPost, "/approvals/"+repeat64("a"), url.Values{"decision": {"approve"}}, c)
		require.Equal(t, http.StatusForbidden, res.StatusCode, name)
		require.Contains(t, bodyOf(t, res), "Du er ikke logget inn", name)
	}
	require.Equal(t, http.StatusOK, do(a, http.MethodGet, "/", nil, other).StatusCode, "the person's other session is not signed out")

	// Signing in again makes a new session.
	again := signIn(t, a, "1547-1")
	require.Equal(t, http.StatusOK, do(b, http.MethodGet, "/", nil, again).StatusCode)
}

func repeat64(s string) string {
	out := ""
	for len(out) < 64 {
		out += s
	}
	return out[:64]
}
