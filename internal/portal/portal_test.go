package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
)

func TestPortal(t *testing.T) {
	w := startWorld(t)

	t.Run("dev sign-in lists the people and signs one in", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		res := do(h, http.MethodGet, "/signin", nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		body := bodyOf(t, res)
		require.Contains(t, body, `<option value="1547-1">`)
		require.Contains(t, body, "Utviklingsmodus")
		c := signIn(t, h, "1547-1")
		res = do(h, http.MethodGet, "/", nil, c)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, bodyOf(t, res), "Logget inn som Åse Øvergård-Bø")
	})

	t.Run("dev sign-in only on loopback", func(t *testing.T) {
		kp, err := principals.LoadSeed(filepath.Join(w.Data, "keys", principals.PortalSeedFile))
		require.NoError(t, err)
		_, err = portal.New(context.Background(), portal.Options{NC: w.NC, JS: w.JS, Key: kp, PublicURL: "https://tilgang.example.no",
			SessionKeys: [][]byte{make([]byte, 32)}, Dev: &portal.DevSignIn{Key: kp, Actor: "dev"}})
		require.ErrorContains(t, err, "only offered on a loopback http address")

		h := w.portal(t, portal.Options{})
		for _, remote := range []string{"192.0.2.10:4000", "[2001:db8::1]:4000"} {
			r := request(http.MethodPost, "/signin/dev", url.Values{"person": {"1547-1"}})
			r.RemoteAddr = remote
			res := serve(h, r)
			require.Equal(t, http.StatusForbidden, res.StatusCode, remote)
			require.Nil(t, session(res))
			require.Contains(t, bodyOf(t, res), "bare brukes fra denne maskinen")

			r = request(http.MethodGet, "/signin", nil)
			r.RemoteAddr = remote
			res = serve(h, r)
			require.NotContains(t, bodyOf(t, res), `<option`, "no list of people to %s", remote)
		}
	})

	t.Run("dev sign-in refuses unknown people and leavers", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		for _, tc := range []struct{ person, text string }{
			{"1547-404", "Vi finner deg ikke"},
			{"not a token", "Vi finner deg ikke"},
			{"1547-9", "Du har sluttet"},
		} {
			res := do(h, http.MethodPost, "/signin/dev", url.Values{"person": {tc.person}})
			require.Equal(t, http.StatusForbidden, res.StatusCode, tc.person)
			require.Nil(t, session(res), tc.person)
			require.Contains(t, bodyOf(t, res), tc.text, tc.person)
		}
	})

	t.Run("cookies carry the flags", func(t *testing.T) {
		c := signIn(t, w.portal(t, portal.Options{}), "1547-1")
		require.True(t, c.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, c.SameSite)
		require.False(t, c.Secure, "not Secure on loopback http")
		require.Equal(t, "/", c.Path)

		// Behind https, the cookie is Secure and __Host- bound.
		h := w.portal(t, portal.Options{PublicURL: "https://tilgang.example.no", Dev: nil})
		res := do(h, http.MethodGet, "/", nil)
		require.Equal(t, http.StatusBadRequest, res.StatusCode, "a Host other than the public URL's is refused")
		r := request(http.MethodPost, "/signout", url.Values{})
		r.Host, r.URL.Host, r.URL.Scheme = "tilgang.example.no", "tilgang.example.no", "https"
		r.Header.Set("Origin", "https://tilgang.example.no")
		res = serve(h, r)
		var cleared *http.Cookie
		for _, c := range res.Cookies() {
			cleared = c
		}
		require.NotNil(t, cleared)
		require.Equal(t, "__Host-tilgang", cleared.Name)
		require.True(t, cleared.Secure && cleared.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, cleared.SameSite)
	})

	t.Run("a state-changing request from another origin is refused", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		c := signIn(t, h, "1547-3")
		for _, hdr := range []map[string]string{
			{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
			{"Origin": "http://evil.example"},
			{"Sec-Fetch-Site": "same-site"},
		} {
			for _, path := range []string{"/signout", "/signin/dev", "/approvals/" + strings.Repeat("a", 64)} {
				r := request(http.MethodPost, path, url.Values{"person": {"1547-1"}, "decision": {"approve"}})
				r.Header.Del("Origin")
				r.Header.Del("Sec-Fetch-Site")
				for k, v := range hdr {
					r.Header.Set(k, v)
				}
				r.AddCookie(c)
				res := serve(h, r)
				require.Equal(t, http.StatusForbidden, res.StatusCode, "%s %v", path, hdr)
				require.Contains(t, bodyOf(t, res), "sendt fra en annen nettside", "%s %v", path, hdr)
				require.Nil(t, session(res))
			}
		}
	})

	t.Run("security headers on every answer", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		for _, path := range []string{"/signin", "/", "/nowhere", "/static/portal.css"} {
			res := do(h, http.MethodGet, path, nil)
			csp := res.Header.Get("Content-Security-Policy")
			require.NotEmpty(t, csp, path)
			require.NotContains(t, csp, "unsafe-inline", path)
			require.NotContains(t, csp, "unsafe-eval", path)
			require.Contains(t, csp, "frame-ancestors 'none'", path)
			require.Contains(t, csp, "default-src 'none'", path)
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
			require.Equal(t, "same-origin", res.Header.Get("Referrer-Policy"), path)
		}
	})

	t.Run("expired, idle, tampered and foreign cookies sign nobody in", func(t *testing.T) {
		now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		h := w.portal(t, portal.Options{Now: clock})
		c := signIn(t, h, "1547-1")
		signedIn := func(c *http.Cookie) bool {
			res := do(h, http.MethodGet, "/", nil, c)
			return res.StatusCode == http.StatusOK
		}
		require.True(t, signedIn(c))

		tampered := *c
		b := []byte(tampered.Value)
		b[len(b)/2] ^= 1
		tampered.Value = string(b)
		require.False(t, signedIn(&tampered), "tampered")

		other := w.portal(t, portal.Options{Now: clock, SessionKeys: [][]byte{[]byte("fedcba9876543210fedcba9876543210")}})
		foreign := signIn(t, other, "1547-1")
		require.False(t, signedIn(foreign), "sealed with a key this portal does not hold")

		// Rotation: a portal that seals with a new key still opens the old.
		rotated := w.portal(t, portal.Options{Now: clock, SessionKeys: [][]byte{[]byte("fedcba9876543210fedcba9876543210"), []byte("0123456789abcdef0123456789abcdef")}})
		require.Equal(t, http.StatusOK, do(rotated, http.MethodGet, "/", nil, c).StatusCode, "old key opens")

		now = now.Add(31 * time.Minute)
		res := do(h, http.MethodGet, "/", nil, c)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, "idle for 31 minutes")
		require.Equal(t, "/signin", res.Header.Get("Location"))

		// Active every 20 minutes, the session still ends 8 hours after sign-in.
		c = signIn(t, h, "1547-1")
		start := now
		for now.Sub(start) < portal.MaxAge-20*time.Minute {
			now = now.Add(20 * time.Minute)
			res := do(h, http.MethodGet, "/", nil, c)
			require.Equal(t, http.StatusOK, res.StatusCode, "at %s", now.Sub(start))
			if s := session(res); s != nil {
				c = s
			}
		}
		now = start.Add(portal.MaxAge + time.Second)
		require.False(t, signedIn(c), "8 hours after sign-in")
	})

	t.Run("a name that is markup is shown as text", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		res := do(h, http.MethodGet, "/signin", nil)
		body := bodyOf(t, res)
		require.NotContains(t, body, scriptName)
		require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
		c := signIn(t, h, "1547-666")
		body = bodyOf(t, do(h, http.MethodGet, "/", nil, c))
		require.NotContains(t, body, scriptName)
		require.Contains(t, body, "Logget inn som &lt;script&gt;alert(1)&lt;/script&gt;")
	})

	t.Run("every page has lang nb", func(t *testing.T) {
		h := w.portal(t, portal.Options{})
		c := signIn(t, h, "1547-3")
		for _, tc := range []struct {
			method, path string
			cookie       *http.Cookie
			status       int
		}{
			{http.MethodGet, "/signin", nil, http.StatusOK},
			{http.MethodGet, "/", c, http.StatusOK},
			{http.MethodGet, "/approvals", c, http.StatusOK},
			{http.MethodGet, "/signedout", nil, http.StatusOK},
			{http.MethodGet, "/nowhere", c, http.StatusNotFound},
			{http.MethodGet, "/requests/" + strings.Repeat("0", 64), c, http.StatusNotFound},
			{http.MethodGet, "/requests/bad", c, http.StatusNotFound},
			{http.MethodPost, "/approvals/" + strings.Repeat("0", 64), nil, http.StatusForbidden},
			{http.MethodPost, "/signin/dev", nil, http.StatusForbidden},
		} {
			var res *http.Response
			if tc.cookie != nil {
				res = do(h, tc.method, tc.path, url.Values{}, tc.cookie)
			} else {
				res = do(h, tc.method, tc.path, url.Values{})
			}
			if tc.method == http.MethodGet {
				if tc.cookie != nil {
					res = do(h, tc.method, tc.path, nil, tc.cookie)
				} else {
					res = do(h, tc.method, tc.path, nil)
				}
			}
			require.Equal(t, tc.status, res.StatusCode, "%s %s", tc.method, tc.path)
			body := bodyOf(t, res)
			require.Contains(t, body, `<html lang="nb">`, "%s %s", tc.method, tc.path)
			require.NotContains(t, body, "[", "%s %s: a text missing from the catalogue", tc.method, tc.path)
			require.Contains(t, body, `href="#main"`, "skip link")
		}
	})
}

// A form larger than MaxBody is not read: the decision is not sent.
func TestLargeFormRefused(t *testing.T) {
	w := startWorld(t)
	h := w.portal(t, portal.Options{})
	c := signIn(t, h, "1547-3")
	big := strings.Repeat("x", portal.MaxBody)
	res := do(h, http.MethodPost, "/approvals/"+strings.Repeat("a", 64), url.Values{"decision": {"approve"}, "comment": {big}}, c)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, bodyOf(t, res), `<html lang="nb">`)
}
