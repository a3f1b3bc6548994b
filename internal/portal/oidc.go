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
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ror-ikt/tilgang"
)

// OIDC is the OpenID Connect sign-in (config portal.oidc).
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// PersonClaim is the ID token claim holding the person's id. "email"
	// would match a person's e-mail address; the API cannot look people up
	// by e-mail yet, so it is refused for now.
	PersonClaim string
	// HTTPClient, when set, reaches the issuer (tests).
	HTTPClient *http.Client
}

// oidcLoginTTL bounds the time from sending a person to the provider to
// their coming back.
const oidcLoginTTL = 10 * time.Minute

type oidcFlow struct {
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	claim    string
	client   *http.Client
}

func newOIDCFlow(ctx context.Context, o OIDC, public *url.URL) (*oidcFlow, error) {
	if o.Issuer == "" || o.ClientID == "" || o.PersonClaim == "" {
		return nil, errors.New("portal: oidc needs an issuer, a client id and a person claim")
	}
	if o.PersonClaim == "email" {
		return nil, errors.New("portal: oidc: person_claim email is not supported yet: name the claim that holds the person's id")
	}
	if o.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("portal: oidc: discover %s: %w", o.Issuer, err)
	}
	cb := *public
	cb.Path = "/signin/callback"
	f := &oidcFlow{
		conf: oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cb.String(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}},
		verifier: provider.Verifier(&oidc.Config{ClientID: o.ClientID}),
		claim:    o.PersonClaim,
		client:   o.HTTPClient,
	}
	return f, nil
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
	l := oidcLogin{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Expires: p.o.Now().Add(oidcLoginTTL).Unix()}
	v, err := p.seal.seal(p.loginCookie(), l)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: p.loginCookie(), Value: v, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcLoginTTL / time.Second)})
	http.Redirect(w, r, p.oidc.conf.AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), http.StatusSeeOther)
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
	ctx := r.Context()
	if p.oidc.client != nil {
		ctx = oidc.ClientContext(ctx, p.oidc.client)
	}
	tok, err := p.oidc.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		p.o.Log.Warn("portal: oidc code exchange failed", "err", err)
		p.errorPage(w, r, http.StatusForbidden, "signin.failed")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.oidc.verifier.Verify(ctx, raw)
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
	person, _ := claims[p.oidc.claim].(string)
	if !tilgang.ValidToken(person) {
		p.o.Log.Warn("portal: oidc ID token without a usable person claim", "claim", p.oidc.claim)
		p.problemPage(w, r, noPerson)
		return
	}
	p.signInAs(w, r, person, "oidc")
}

func random() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("portal: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
