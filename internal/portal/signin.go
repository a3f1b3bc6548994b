package portal

import (
	"net/http"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

type signinModel struct {
	Dev    bool // the development sign-in is offered
	People []api.PersonInfo
	OIDC   bool
	Failed bool
}

// signinPage is GET /signin: the development list (in `tilgang dev`, to a
// loopback client) and the button to the OpenID Connect provider.
func (p *Portal) signinPage(w http.ResponseWriter, r *http.Request) {
	if current(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	m := signinModel{OIDC: p.oidc != nil, Failed: r.URL.Query().Has("failed")}
	if p.oidc != nil && p.o.Dev == nil {
		p.oidcStart(w, r) // DESIGN.md: GET /signin starts the sign-in
		return
	}
	if p.o.Dev != nil && fromLoopback(r) {
		m.Dev = true
		c := &api.Client{NC: p.o.NC, Key: p.o.Dev.Key, Actor: p.o.Dev.Actor, Timeout: 10 * time.Second}
		if err := c.Call(r.Context(), api.MethodPeople, nil, &m.People); err != nil {
			p.apiError(w, r, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "signin", i18n.T("signin.title"), m)
}

// devSignin is POST /signin/dev: the development sign-in, for the person
// in the form field person; 303 to / or 403.
func (p *Portal) devSignin(w http.ResponseWriter, r *http.Request) {
	if p.o.Dev == nil || !p.loopback || !fromLoopback(r) {
		p.errorPage(w, r, http.StatusForbidden, "error.403.devonly")
		return
	}
	person := r.PostFormValue("person")
	if !tilgang.ValidToken(person) {
		p.problemPage(w, r, noPerson)
		return
	}
	p.signInAs(w, r, person, "dev")
}

// signInAs starts a session for person once the API knows them and they
// have not left.
func (p *Portal) signInAs(w http.ResponseWriter, r *http.Request, person, method string) {
	id := random()
	_, prob, err := p.lookup(r.Context(), person, id)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	if prob != noProblem {
		p.problemPage(w, r, prob)
		return
	}
	now := p.o.Now().Unix()
	if err := p.setSession(w, &Session{ID: id, Person: person, Method: method, Start: now, Seen: now}); err != nil {
		p.fail(w, r, err)
		return
	}
	p.o.Log.Info("portal: signed in", "person", person, "method", method)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signout is POST /signout: the session goes on the ledger's sign-out
// list (through the API, as the person), so a copy of the cookie signs
// nobody in on any replica, and the cookie is removed. When the list
// cannot be written the person is told so, for the cookie lives on
// elsewhere until it ends.
func (p *Portal) signout(w http.ResponseWriter, r *http.Request) {
	p.clearSession(w)
	if u := current(r); u != nil {
		until := time.Unix(u.session.Start, 0).Add(MaxAge)
		err := p.client(u.ID).Call(r.Context(), api.MethodSignOut, api.SignOutArgs{Session: u.session.ID, Until: until}, nil)
		if err != nil {
			p.o.Log.Error("portal: the sign-out could not be recorded", "person", u.ID, "err", err)
			p.errorPage(w, r, http.StatusServiceUnavailable, "signout.failed")
			return
		}
		p.o.Log.Info("portal: signed out", "person", u.ID)
	}
	http.Redirect(w, r, "/signedout", http.StatusSeeOther)
}

func (p *Portal) signedOut(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "signedout", i18n.T("signedout.title"), nil)
}
