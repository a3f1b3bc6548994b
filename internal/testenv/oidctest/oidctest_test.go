package oidctest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	hiddenInput   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	formActionAny = regexp.MustCompile(`<form[^>]* action="([^"]+)"`)
)

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar}
}

func pkce() (verifier, challenge string) {
	verifier = randomHex(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// exchange redeems a code at the token endpoint with client_secret_basic.
func exchange(t *testing.T, p *Provider, clientID, secret, code, redirectURI, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	req, err := http.NewRequest(http.MethodPost, p.TokenEndpoint, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	return resp.StatusCode, out
}

// payload decodes a JWT's claims without verifying it.
func payload(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, into))
	}
	return header, claims
}

func TestDiscovery(t *testing.T) {
	p := Start(t, nil)
	require.True(t, strings.HasPrefix(p.Issuer, "http://127.0.0.1:"), p.Issuer)
	resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	require.Equal(t, p.Issuer, doc["issuer"])
	require.Equal(t, []any{"code"}, doc["response_types_supported"])
	require.Equal(t, []any{"S256"}, doc["code_challenge_methods_supported"])
	require.Contains(t, doc["token_endpoint_auth_methods_supported"], "client_secret_basic")
	require.Contains(t, doc["id_token_signing_alg_values_supported"], "RS256")
	require.Contains(t, doc["claims_supported"], EmployeeIDClaim)
	require.NotEmpty(t, p.EndSessionEndpoint)

	resp, err = http.Get(p.JWKSURI)
	require.NoError(t, err)
	defer resp.Body.Close()
	var jwks struct{ Keys []map[string]any }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&jwks))
	require.Len(t, jwks.Keys, 1)
	require.Equal(t, "RSA", jwks.Keys[0]["kty"])
	require.NotContains(t, jwks.Keys[0], "d", "the private key must not be published")
}

func TestWrongPasswordIsRefused(t *testing.T) {
	p := Start(t, nil)
	kari := p.User(t, "1547-10300")
	_, challenge := pkce()
	for _, tc := range []struct{ name, login, password string }{
		{"wrong password", kari.Login, "passord-1547-10412"},
		{"empty password", kari.Login, ""},
		{"unknown user", "nobody@aukra.kommune.no", kari.Password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			start := p.AuthURL(AuthRequest{RedirectURI: "http://127.0.0.1:1/signin/callback", State: "s", Nonce: "n", Challenge: challenge})
			_, err := p.SignIn(c, start, tc.login, tc.password)
			require.ErrorIs(t, err, ErrLoginRefused)
			require.ErrorContains(t, err, "Feil brukernavn eller passord")
			// Nobody is signed in: the authorization request asks for the form again.
			resp, err := c.Get(start)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, string(b), `<label for="password">`)
		})
	}
}

func TestSignInAndExchange(t *testing.T) {
	p := Start(t, nil)
	kari := p.User(t, "1547-10300")
	verifier, challenge := pkce()
	redirect := "http://127.0.0.1:45678/signin/callback" // any port: the default client is a loopback one
	start := p.AuthURL(AuthRequest{RedirectURI: redirect, State: "state-1", Nonce: "nonce-1", Challenge: challenge})

	cb, err := p.SignIn(newClient(t), start, strings.ToUpper(kari.Login), kari.Password)
	require.NoError(t, err)
	require.Equal(t, redirect, cb.Scheme+"://"+cb.Host+cb.Path)
	require.Equal(t, "state-1", cb.Query().Get("state"))
	require.Equal(t, p.Issuer, cb.Query().Get("iss"))
	code := cb.Query().Get("code")
	require.NotEmpty(t, code, cb.String())

	status, tok := exchange(t, p, p.ClientID, p.ClientSecret, code, redirect, verifier)
	require.Equal(t, http.StatusOK, status, "%v", tok)
	header, claims := payload(t, tok["id_token"].(string))
	require.Equal(t, "RS256", header["alg"])
	require.Equal(t, p.Issuer, claims["iss"])
	require.Equal(t, p.ClientID, claims["aud"])
	require.Equal(t, kari.Sub, claims["sub"])
	require.Equal(t, "nonce-1", claims["nonce"])
	require.Equal(t, "1547-10300", claims[EmployeeIDClaim])
	require.Equal(t, "Kari Nordhus", claims["name"])
	require.Equal(t, "kari.nordhus@aukra.kommune.no", claims["email"])
	require.Equal(t, "kari.nordhus@aukra.kommune.no", claims["preferred_username"])
	require.Equal(t, true, claims["email_verified"])

	// A code is redeemed once.
	status, tok = exchange(t, p, p.ClientID, p.ClientSecret, code, redirect, verifier)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_grant", tok["error"])
}

func TestTokenEndpointChecksVerifierAndSecret(t *testing.T) {
	p := Start(t, nil)
	kari := p.User(t, "1547-10300")
	redirect := "http://127.0.0.1:45678/signin/callback"
	signIn := func() (code, verifier string) {
		verifier, challenge := pkce()
		cb, err := p.SignIn(newClient(t), p.AuthURL(AuthRequest{RedirectURI: redirect, State: "s", Nonce: "n", Challenge: challenge}), kari.Login, kari.Password)
		require.NoError(t, err)
		require.NotEmpty(t, cb.Query().Get("code"), cb.String())
		return cb.Query().Get("code"), verifier
	}
	for _, tc := range []struct {
		name     string
		mod      func(secret, verifier, redirect *string)
		status   int
		errorKey string
	}{
		{"wrong verifier", func(_, v, _ *string) { *v, _ = pkce() }, http.StatusBadRequest, "invalid_grant"},
		{"no verifier", func(_, v, _ *string) { *v = "" }, http.StatusBadRequest, "invalid_grant"},
		{"wrong secret", func(s, _, _ *string) { *s = "not-the-secret" }, http.StatusUnauthorized, "invalid_client"},
		{"other redirect URI", func(_, _, r *string) { *r = "http://127.0.0.1:45679/signin/callback" }, http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := signIn()
			secret, r := p.ClientSecret, redirect
			tc.mod(&secret, &verifier, &r)
			status, tok := exchange(t, p, p.ClientID, secret, code, r, verifier)
			require.Equal(t, tc.status, status, "%v", tok)
			require.Equal(t, tc.errorKey, tok["error"], "%v", tok)
		})
	}
}

func TestPKCEIsRequired(t *testing.T) {
	p := Start(t, nil)
	kari := p.User(t, "1547-10300")
	cb, err := p.SignIn(newClient(t), p.AuthURL(AuthRequest{RedirectURI: "http://127.0.0.1:45678/signin/callback", State: "s", Nonce: "n"}), kari.Login, kari.Password)
	require.NoError(t, err)
	require.Equal(t, "invalid_request", cb.Query().Get("error"), cb.String())
	require.Contains(t, cb.Query().Get("error_description"), "PKCE")
	require.Empty(t, cb.Query().Get("code"))
}

func TestExactRedirectURI(t *testing.T) {
	p := Start(t, &Options{Clients: []Client{{ID: "web", RedirectURIs: []string{"http://127.0.0.1:45678/signin/callback"}}}})
	require.Equal(t, "web", p.ClientID)
	require.NotEmpty(t, p.ClientSecret)
	kari := p.User(t, "1547-10300")
	_, challenge := pkce()
	// Registered: a code.
	cb, err := p.SignIn(newClient(t), p.AuthURL(AuthRequest{State: "s", Nonce: "n", Challenge: challenge}), kari.Login, kari.Password)
	require.NoError(t, err)
	require.NotEmpty(t, cb.Query().Get("code"), cb.String())
	// Another port: the provider refuses on its own page, sending nobody anywhere.
	_, err = p.SignIn(newClient(t), p.AuthURL(AuthRequest{RedirectURI: "http://127.0.0.1:45679/signin/callback", State: "s", Nonce: "n", Challenge: challenge}), kari.Login, kari.Password)
	require.ErrorContains(t, err, "redirect_uri")
	require.NotErrorIs(t, err, ErrLoginRefused)
}

func TestCustomUsersAndClaims(t *testing.T) {
	p := Start(t, &Options{Users: []User{
		{EmployeeID: "1547-1", Name: "Åse Øvergård-Bø", Email: "ase@aukra.kommune.no"},
		{Login: "noclaim", Claims: map[string]any{"name": "Uten Id", "oid": "0000-1111"}},
		{EmployeeID: "1547-2", Email: "to@aukra.kommune.no", EmailVerified: true, Claims: map[string]any{"email_verified": nil}},
	}})
	verifier, challenge := pkce()
	claimsOf := func(login, password string) map[string]any {
		t.Helper()
		cb, err := p.SignIn(newClient(t), p.AuthURL(AuthRequest{RedirectURI: "http://127.0.0.1:9/signin/callback", State: "s", Nonce: "n", Challenge: challenge}), login, password)
		require.NoError(t, err)
		status, tok := exchange(t, p, p.ClientID, p.ClientSecret, cb.Query().Get("code"), "http://127.0.0.1:9/signin/callback", verifier)
		require.Equal(t, http.StatusOK, status, "%v", tok)
		_, claims := payload(t, tok["id_token"].(string))
		return claims
	}

	c := claimsOf("ase@aukra.kommune.no", "passord-1547-1")
	require.Equal(t, "1547-1", c[EmployeeIDClaim])
	require.Equal(t, "Åse Øvergård-Bø", c["name"])
	require.Equal(t, false, c["email_verified"])

	c = claimsOf("noclaim", "passord-noclaim")
	require.NotContains(t, c, EmployeeIDClaim)
	require.NotContains(t, c, "email")
	require.Equal(t, "0000-1111", c["oid"])
	require.Equal(t, "sub-noclaim", c["sub"])

	c = claimsOf("to@aukra.kommune.no", "passord-1547-2")
	require.Equal(t, "to@aukra.kommune.no", c["email"])
	require.NotContains(t, c, "email_verified")
}

func TestSignedInUserNeedsNoForm(t *testing.T) {
	p := Start(t, nil)
	marit := p.User(t, "1547-20001")
	c := newClient(t)
	_, challenge := pkce()
	start := p.AuthURL(AuthRequest{RedirectURI: "http://127.0.0.1:9/signin/callback", State: "s", Nonce: "n", Challenge: challenge})
	_, err := p.SignIn(c, start, marit.Login, marit.Password)
	require.NoError(t, err)
	// The provider's session cookie is in the jar: no form, whatever the password.
	cb, err := p.SignIn(c, start, "", "")
	require.NoError(t, err)
	require.NotEmpty(t, cb.Query().Get("code"))
}

func TestSignInFromARelyingParty(t *testing.T) {
	p := Start(t, nil)
	sindre := p.User(t, "1547-10412")
	_, challenge := pkce()
	// A relying party's /signin that redirects to the provider, as the portal's does.
	rp := &http.Server{}
	ln := listen(t)
	redirect := fmt.Sprintf("http://%s/signin/callback", ln.Addr())
	rp.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "rp_state", Value: "s", Path: "/"})
		http.Redirect(w, r, p.AuthURL(AuthRequest{RedirectURI: redirect, State: "s", Nonce: "n", Challenge: challenge}), http.StatusFound)
	})
	go func() { _ = rp.Serve(ln) }()
	t.Cleanup(func() { _ = rp.Close() })

	c := newClient(t)
	cb, err := p.SignIn(c, fmt.Sprintf("http://%s/signin", ln.Addr()), sindre.Login, sindre.Password)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(cb.String(), redirect+"?"), cb.String())
	require.NotEmpty(t, cb.Query().Get("code"))
	u, _ := url.Parse(redirect)
	require.Len(t, c.Jar.Cookies(u), 3, "the relying party's cookie beside the provider's (cookies do not tell ports apart)")
}

func TestEndSession(t *testing.T) {
	p := Start(t, nil)
	kari := p.User(t, "1547-10300")
	verifier, challenge := pkce()
	redirect := "http://127.0.0.1:9/signin/callback"
	c := newClient(t)
	start := p.AuthURL(AuthRequest{RedirectURI: redirect, State: "s", Nonce: "n", Challenge: challenge})
	cb, err := p.SignIn(c, start, kari.Login, kari.Password)
	require.NoError(t, err)
	_, tok := exchange(t, p, p.ClientID, p.ClientSecret, cb.Query().Get("code"), redirect, verifier)

	q := url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9/"}, "state": {"bye"}}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Get(p.EndSessionEndpoint + "?" + q.Encode())
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	// The confirmation form: its hidden xsrf field, posted with logout=yes.
	form := map[string]string{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(b), -1) {
		form[m[1]] = m[2]
	}
	require.Contains(t, form, "xsrf", "%s", b)
	action := formActionAny.FindStringSubmatch(string(b))
	require.NotNil(t, action, "%s", b)
	post := url.Values{"xsrf": {form["xsrf"]}, "logout": {"yes"}}
	target, err := url.Parse(p.EndSessionEndpoint)
	require.NoError(t, err)
	target, err = target.Parse(action[1])
	require.NoError(t, err)
	resp, err = nc.PostForm(target.String(), post)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc, err := resp.Location()
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/?state=bye", loc.String())

	// Signed out: the next sign-in needs the form again.
	_, err = p.SignIn(c, start, kari.Login, "wrong")
	require.ErrorIs(t, err, ErrLoginRefused)
}

func TestMissingPeerSaysWhatToRun(t *testing.T) {
	t.Setenv("TILGANG_OIDC_PEER", t.TempDir())
	_, _, err := locate()
	require.ErrorContains(t, err, "no node_modules/oidc-provider")
	require.ErrorContains(t, err, "bash deploy/oidc-testenv.sh start")
}

func TestBadOptions(t *testing.T) {
	_, _, err := prepare(Options{Users: []User{{Name: "Ingen"}}})
	require.ErrorContains(t, err, "users[0]: needs a Sub, EmployeeID or Login")
	_, _, err = prepare(Options{Clients: []Client{{ID: "x"}}})
	require.ErrorContains(t, err, "clients[0]: needs an ID and a redirect URI")
}
