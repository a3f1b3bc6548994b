package portal_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv/oidctest"
)

// Sign-in through a real OpenID Connect provider and its login form:
// authorization code with PKCE, state and nonce checked, the person found
// by the employee id claim.
func TestOIDCSignIn(t *testing.T) {
	w := startWorld(t)
	user := func(id, name string) oidctest.User {
		return oidctest.User{EmployeeID: id, Name: name, Email: id + "@aukra.kommune.no", EmailVerified: true}
	}
	idp := oidctest.Start(t, &oidctest.Options{
		Users:   []oidctest.User{user("1547-1", "Åse Øvergård-Bø"), user("1547-9", "Sluttet"), user("1547-404", "Ukjent")},
		Clients: []oidctest.Client{oidctest.DefaultClient()},
	})
	h := w.portal(t, portal.Options{OIDC: &portal.OIDC{Issuer: idp.Issuer, ClientID: idp.ClientID,
		ClientSecret: idp.ClientSecret, PersonClaim: oidctest.EmployeeIDClaim}})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}

	// start begins a sign-in at the portal: the provider's URL and the
	// cookie that carries state, nonce and PKCE verifier.
	start := func() (*url.URL, *http.Cookie) {
		t.Helper()
		res := do(h, http.MethodGet, "/signin/oidc", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		loc, err := res.Location()
		require.NoError(t, err)
		q := loc.Query()
		require.Equal(t, "S256", q.Get("code_challenge_method"))
		require.NotEmpty(t, q.Get("code_challenge"))
		require.NotEmpty(t, q.Get("state"))
		require.NotEmpty(t, q.Get("nonce"))
		var login *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "tilgang-login" {
				login = c
			}
		}
		require.NotNil(t, login)
		require.True(t, login.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, login.SameSite)
		return loc, login
	}
	signIn := func(login string, from *url.URL) *url.URL {
		t.Helper()
		u := idp.User(t, login)
		cb, err := idp.SignIn(browser, from.String(), u.Login, u.Password)
		require.NoError(t, err)
		require.Equal(t, "/signin/callback", cb.Path)
		return cb
	}

	t.Run("a person signs in", func(t *testing.T) {
		loc, login := start()
		cb := signIn("1547-1", loc)
		res := do(h, http.MethodGet, cb.RequestURI(), nil, login)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, bodyOf(t, res))
		require.Equal(t, "/", res.Header.Get("Location"))
		c := session(res)
		require.NotNil(t, c)
		res = do(h, http.MethodGet, "/", nil, c)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, bodyOf(t, res), "Logget inn som Åse Øvergård-Bø")

		// The same callback again: its sign-in is used up.
		res = do(h, http.MethodGet, cb.RequestURI(), nil)
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Nil(t, session(res))
	})

	t.Run("a wrong state is refused", func(t *testing.T) {
		loc, login := start()
		cb := signIn("1547-1", loc)
		q := cb.Query()
		q.Set("state", "an-attackers-state")
		cb.RawQuery = q.Encode()
		res := do(h, http.MethodGet, cb.RequestURI(), nil, login)
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Nil(t, session(res))
		require.Contains(t, bodyOf(t, res), "Innloggingen mislyktes")
	})

	t.Run("a wrong nonce is refused", func(t *testing.T) {
		loc, login := start()
		// The same request (state, PKCE challenge) with another nonce: an
		// ID token minted for another sign-in.
		q := loc.Query()
		q.Set("nonce", "another-sign-ins-nonce")
		loc.RawQuery = q.Encode()
		cb := signIn("1547-1", loc)
		res := do(h, http.MethodGet, cb.RequestURI(), nil, login)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Nil(t, session(res))
		require.Contains(t, bodyOf(t, res), "Innloggingen mislyktes")
	})

	t.Run("an unknown person and a leaver get a clear page", func(t *testing.T) {
		for _, tc := range []struct{ login, text string }{{"1547-404", "Vi finner deg ikke"}, {"1547-9", "Du har sluttet"}} {
			jar, err := cookiejar.New(nil) // signed out at the provider
			require.NoError(t, err)
			browser.Jar = jar
			loc, login := start()
			cb := signIn(tc.login, loc)
			res := do(h, http.MethodGet, cb.RequestURI(), nil, login)
			require.Equal(t, http.StatusForbidden, res.StatusCode, tc.login)
			require.Nil(t, session(res), tc.login)
			require.Contains(t, bodyOf(t, res), tc.text, tc.login)
		}
	})
}

// A provider that cannot be reached does not stop the portal (or the
// worker it runs in) from starting: sign-in says so, in words.
func TestOIDCProviderDown(t *testing.T) {
	w := startWorld(t)
	h := w.portal(t, portal.Options{OIDC: &portal.OIDC{Issuer: "http://127.0.0.1:1", ClientID: "tilgang-portal",
		ClientSecret: "x", PersonClaim: oidctest.EmployeeIDClaim}})
	res := do(h, http.MethodGet, "/signin", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	body := bodyOf(t, res)
	require.Contains(t, body, "Innloggingstjenesten svarer ikke")
	require.Contains(t, body, `<html lang="nb">`)
}

// person_claim email: the claim matches one person's e-mail address,
// case-insensitively, and only when the provider verified it; a missing
// claim, an unverified or shared address and a leaver get a clear page.
func TestOIDCSignInByEmail(t *testing.T) {
	w := startWorld(t)
	user := func(login, email string, verified bool) oidctest.User {
		return oidctest.User{Sub: "sub-" + login, Login: login, Name: login, Email: email, EmailVerified: verified}
	}
	noEmail := user("uten-epost", "", false)
	noEmail.Claims = map[string]any{"email": nil}
	idp := oidctest.Start(t, &oidctest.Options{
		Users: []oidctest.User{
			user("ase", "Ase.Overgard@AUKRA.kommune.no", true),
			user("ase-ubekreftet", "ase.overgard@aukra.kommune.no", false),
			user("felles", "felles@aukra.kommune.no", true),
			user("sluttet", "sluttet@aukra.kommune.no", true),
			user("ukjent", "ukjent@aukra.kommune.no", true),
			noEmail,
		},
		Clients: []oidctest.Client{oidctest.DefaultClient()},
	})
	h := w.portal(t, portal.Options{OIDC: &portal.OIDC{Issuer: idp.Issuer, ClientID: idp.ClientID,
		ClientSecret: idp.ClientSecret, PersonClaim: "email"}})
	signIn := func(t *testing.T, login string) *http.Response {
		t.Helper()
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		res := do(h, http.MethodGet, "/signin/oidc", nil)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		var cookie *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "tilgang-login" {
				cookie = c
			}
		}
		u := idp.User(t, login)
		cb, err := idp.SignIn(&http.Client{Jar: jar}, res.Header.Get("Location"), u.Login, u.Password)
		require.NoError(t, err)
		return do(h, http.MethodGet, cb.RequestURI(), nil, cookie)
	}

	res := signIn(t, "ase")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, bodyOf(t, res))
	c := session(res)
	require.NotNil(t, c)
	res = do(h, http.MethodGet, "/", nil, c)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, bodyOf(t, res), "Logget inn som Åse Øvergård-Bø", "the address in another case is hers")

	for _, tc := range []struct{ login, text string }{
		{"ase-ubekreftet", "E-postadressen er ikke bekreftet"},
		{"felles", "Flere personer i Tilgang har samme e-postadresse"},
		{"sluttet", "Du har sluttet"},
		{"ukjent", "Vi finner deg ikke"},
		{"uten-epost", "Innloggingstjenesten sendte ikke opplysningen"},
	} {
		res := signIn(t, tc.login)
		body := bodyOf(t, res)
		require.Equal(t, http.StatusForbidden, res.StatusCode, "%s: %s", tc.login, body)
		require.Nil(t, session(res), tc.login)
		require.Contains(t, body, tc.text, tc.login)
		require.Contains(t, body, `<html lang="nb">`, tc.login)
	}

	// Only the portal itself, not a person through it, may ask whom an
	// address names.
	var m api.SignInMatch
	err := w.api(principals.PortalID, "1547-1").Call(t.Context(), api.MethodSignInMatch, api.SignInMatchArgs{Value: "felles@aukra.kommune.no", EmailVerified: true}, &m)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)
}
