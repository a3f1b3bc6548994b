package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ror-ikt/tilgang/internal/api"
)

// OIDC is the OpenID Connect sign-in (config portal.oidc).
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// PersonClaim is the ID token claim that names the person: its value
	// must be exactly one person's id, or else (when the token's
	// email_verified is true) one person's e-mail address, compared
	// case-insensitively (API method signin.match). "email" is the usual
	// claim for the latter, an employee id claim for the former.
	PersonClaim string
	// HTTPClient, when set, reaches the issuer (tests).
	HTTPClient *http.Client
}

// oidcLoginTTL bounds the time from sending a person to the provider to
// their coming back.
const oidcLoginTTL = 10 * time.Minute

// oidcFlow holds the client's settings; the provider's metadata and keys
// are discovered at the first sign-in and kept (a provider that cannot be
// reached is asked again at the next), so a worker starts, and runs its
// intake, while the provider is down.
type oidcFlow struct {
	o        OIDC
	redirect string
	client   *http.Client

	mu       sync.Mutex
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCFlow(o OIDC, public *url.URL) (*oidcFlow, error) {
	if o.Issuer == "" || o.ClientID == "" || o.PersonClaim == "" {
		return nil, errors.New("portal: oidc needs an issuer, a client id and a person claim")
	}
	cb := *public
	cb.Path = "/signin/callback"
	return &oidcFlow{o: o, redirect: cb.String(), client: o.HTTPClient}, nil
}

// ctx is ctx with the flow's HTTP client, when it has one.
func (f *oidcFlow) ctx(ctx context.Context) context.Context {
	if f.client != nil {
		return oidc.ClientContext(ctx, f.client)
	}
	return ctx
}

// provider discovers the provider once it can.
func (f *oidcFlow) provider(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conf != nil {
		return f.conf, f.verifier, nil
	}
	// Discovery outlives the request that triggers it: the provider's keys
	// are fetched later with this context.
	p, err := oidc.NewProvider(f.ctx(context.WithoutCancel(ctx)), f.o.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("portal: oidc: discover %s: %w", f.o.Issuer, err)
	}
	f.conf = &oauth2.Config{ClientID: f.o.ClientID, ClientSecret: f.o.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: f.redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	f.verifier = p.Verifier(&oidc.Config{ClientID: f.o.ClientID})
	return f.conf, f.verifier, nil
}

// oidcLogin is what the browser carries, sealed, from the start of a
// sign-in to its callback.
type oidcLogin struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

func (p *Portal) loginCookie() string { return p.cookieName() + "-login" }

// oidcStart sends the person to the provider: authorization code with
// PKCE (S256), a fresh state and nonce, all three kept in a sealed cookie.
func (p *Portal) oidcStart(w http.ResponseWriter, r *http.Request) {
	if p.oidc == nil {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	conf, _, err := p.oidc.provider(r.Context())
	if err != nil {
		p.o.Log.Warn("portal: the OpenID Connect provider cannot be reached", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "signin.provider")
		return
	}
	l := oidcLogin{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Expires: p.o.Now().Add(oidcLoginTTL).Unix()}
	v, err := p.seal.seal(p.loginCookie(), l)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: p.loginCookie(), Value: v, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcLoginTTL / time.Second)})
	http.Redirect(w, r, conf.AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), http.StatusSeeOther)
}

// oidcCallback is GET /signin/callback: the state must be the one this
// browser was sent with, the code is exchanged with the PKCE verifier, the
// ID token verified (issuer, audience, expiry, signature) and its nonce
// compared; then the person claim must name a person the API knows.
func (p *Portal) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if p.oidc == nil {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	var l oidcLogin
	c, err := r.Cookie(p.loginCookie())
	http.SetCookie(w, &http.Cookie{Name: p.loginCookie(), Value: "", Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	q := r.URL.Query()
	switch {
	case err != nil || !p.seal.open(p.loginCookie(), c.Value, &l) || p.o.Now().Unix() > l.Expires:
		p.o.Log.Warn("portal: oidc callback without a live sign-in in this browser")
		p.errorPage(w, r, http.StatusBadRequest, "signin.failed")
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.State)) != 1:
		p.o.Log.Warn("portal: oidc callback with a wrong state")
		p.errorPage(w, r, http.StatusBadRequest, "signin.failed")
		return
	case q.Get("error") != "" || q.Get("code") == "":
		p.o.Log.Warn("portal: oidc provider refused the sign-in", "error", q.Get("error"))
		p.errorPage(w, r, http.StatusForbidden, "signin.failed")
		return
	}
	ctx := p.oidc.ctx(r.Context())
	conf, verifier, err := p.oidc.provider(ctx)
	if err != nil {
		p.o.Log.Warn("portal: the OpenID Connect provider cannot be reached", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "signin.provider")
		return
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		p.o.Log.Warn("portal: oidc code exchange failed", "err", err)
		p.errorPage(w, r, http.StatusForbidden, "signin.failed")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		p.o.Log.Warn("portal: oidc ID token refused", "err", err)
		p.errorPage(w, r, http.StatusForbidden, "signin.failed")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.Nonce)) != 1 {
		p.o.Log.Warn("portal: oidc ID token with a wrong nonce")
		p.errorPage(w, r, http.StatusForbidden, "signin.failed")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		p.fail(w, r, err)
		return
	}
	value, _ := claims[p.oidc.o.PersonClaim].(string)
	if value == "" {
		p.o.Log.Warn("portal: oidc ID token without the person claim", "claim", p.oidc.o.PersonClaim)
		p.problemPage(w, r, noClaim)
		return
	}
	// Whom the claim names: asked as the portal itself, for nobody is
	// signed in yet.
	var m api.SignInMatch
	ac := &api.Client{NC: p.o.NC, Key: p.o.Key, Actor: p.o.ID, Timeout: 10 * time.Second}
	if err := ac.Call(ctx, api.MethodSignInMatch, api.SignInMatchArgs{Value: value, EmailVerified: emailVerified(claims)}, &m); err != nil {
		p.apiError(w, r, err)
		return
	}
	switch {
	case m.Unverified:
		p.o.Log.Warn("portal: oidc sign-in by an e-mail address the provider has not verified", "claim", p.oidc.o.PersonClaim)
		p.problemPage(w, r, unverified)
	case m.Matches > 1:
		p.o.Log.Warn("portal: oidc claim names more than one person", "claim", p.oidc.o.PersonClaim)
		p.problemPage(w, r, ambiguous)
	case m.Matches == 0 || m.Person == "":
		p.o.Log.Warn("portal: oidc claim names nobody tilgang knows", "claim", p.oidc.o.PersonClaim)
		p.problemPage(w, r, noPerson)
	default:
		p.signInAs(w, r, m.Person, "oidc")
	}
}

// emailVerified reads the email_verified claim: true, or "true" as some
// providers write it.
func emailVerified(claims map[string]any) bool {
	switch v := claims["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

func random() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("portal: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
