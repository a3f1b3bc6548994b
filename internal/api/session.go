package api

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// The portal's sessions (DESIGN.md "The portal"):
//
//	session {"session"} -> {"person": {...}, "signed_out"}
//	session.signout {"session", "until"} -> {}
//	signin.match {"value", "email_verified"} -> {"person", "matches", "unverified"}
//
// session is what the portal asks on every request, as the person signed
// in: their record (not found when there is none) and whether this
// session id is on the sign-out list, in one call. session.signout puts
// the actor's session on the list until until (when the session would
// end anyway, at most MaxSessionLife ahead), so the same sealed cookie,
// replayed to any replica, signs nobody in.
//
// signin.match is for a service principal with on_behalf signing for
// itself (the portal, between the provider's answer and a session): the
// OpenID Connect claim's value matches the person whose id it is, or else,
// when the provider says the e-mail address is verified, the one person
// whose record has that address (case-insensitive). matches is how many
// people it matched (0, 1, or 2 for more than one); person is set only for
// exactly one; unverified says an address matched nobody by id and the
// provider did not verify it.
const (
	MethodSession     = "session"
	MethodSignOut     = "session.signout"
	MethodSignInMatch = "signin.match"
)

// MaxSessionLife bounds how far ahead a sign-out is kept.
const MaxSessionLife = 24 * time.Hour

func init() {
	handlers[MethodSession] = (*Server).session
	handlers[MethodSignOut] = (*Server).signOut
	handlers[MethodSignInMatch] = (*Server).signInMatch
}

// SessionArgs name a portal session by its id.
type SessionArgs struct {
	Session string `json:"session"`
}

// SessionInfo is the person signed in and whether the session was signed out.
type SessionInfo struct {
	Person    PersonInfo `json:"person"`
	SignedOut bool       `json:"signed_out"`
	// ReadsAll: the person holds auditor or operator (reads the whole
	// audit); Administers: the systems the catalogue names them an
	// administrator of, sorted. The portal shows its links by them; the
	// pages behind the links ask the API again.
	ReadsAll    bool     `json:"reads_all,omitempty"`
	Administers []string `json:"administers,omitempty"`
	// Reviewable: the systems whose policy has a review: block and of
	// which the person may start a campaign (their own as an
	// administrator; every one as an operator), sorted.
	Reviewable []string `json:"reviewable,omitempty"`
}

// SignOutArgs put a session on the sign-out list until Until.
type SignOutArgs struct {
	Session string    `json:"session"`
	Until   time.Time `json:"until"`
}

// SignInMatchArgs are the claim's value and the provider's email_verified.
type SignInMatchArgs struct {
	Value         string `json:"value"`
	EmailVerified bool   `json:"email_verified"`
}

// SignInMatch is whom a claim names.
type SignInMatch struct {
	Person     string `json:"person,omitempty"`
	Matches    int    `json:"matches"`
	Unverified bool   `json:"unverified,omitempty"`
}

// validSession: the portal's session ids are random base64url strings.
func validSession(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Server) signOuts() (ledger.SignOuts, error) {
	so, ok := s.Ledger.(ledger.SignOuts)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker's ledger keeps no sign-out list")
	}
	return so, nil
}

func (s *Server) session(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a SessionArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !validSession(a.Session) {
		return nil, invalidf("session %q is not a session id (16 to 128 base64url characters)", short(a.Session))
	}
	so, err := s.signOuts()
	if err != nil {
		return nil, err
	}
	p, err := s.Ledger.Person(ctx, v.actor)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "api: no person %s", v.actor)
	}
	out, err := so.SignedOut(ctx, a.Session, v.actor)
	if err != nil {
		return nil, err
	}
	info := SessionInfo{Person: personInfo(p, s.now()), SignedOut: out, ReadsAll: v.all}
	if v.cat != nil {
		for _, id := range v.cat.SystemIDs() {
			if v.administers(id) {
				info.Administers = append(info.Administers, id)
			}
			if sys, ok := v.cat.System(id); ok && sys.Review != nil && (v.operator || v.administers(id)) {
				info.Reviewable = append(info.Reviewable, id)
			}
		}
	}
	return info, nil
}

func (s *Server) signOut(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a SignOutArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !validSession(a.Session) {
		return nil, invalidf("session %q is not a session id (16 to 128 base64url characters)", short(a.Session))
	}
	now := s.now()
	if a.Until.IsZero() || a.Until.After(now.Add(MaxSessionLife)) {
		return nil, invalidf("until must be when the session ends, at most %s ahead", MaxSessionLife)
	}
	so, err := s.signOuts()
	if err != nil {
		return nil, err
	}
	if a.Until.Before(now) {
		return struct{}{}, nil // ended already
	}
	return struct{}{}, so.SignOut(ctx, a.Session, v.actor, a.Until.UTC(), now.UTC())
}

func (s *Server) signInMatch(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a SignInMatchArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	set := s.principals()
	if pr, ok := set.Get(v.actor); !ok || pr.Kind != principals.KindService || !set.Can(v.actor, tilgang.CapOnBehalf) {
		return nil, deniedf("%s may not match sign-ins: a service principal with on_behalf, signing for itself, only", v.actor)
	}
	value := strings.TrimSpace(a.Value)
	if value == "" || len(value) > 320 {
		return nil, invalidf("value must be the claim's value, 1 to 320 bytes")
	}
	if tilgang.ValidToken(value) {
		p, err := s.Ledger.Person(ctx, value)
		if err != nil {
			return nil, err
		}
		if p != nil {
			return SignInMatch{Person: p.Person.ID, Matches: 1}, nil
		}
	}
	if !strings.Contains(value, "@") {
		return SignInMatch{}, nil
	}
	if !a.EmailVerified {
		return SignInMatch{Unverified: true}, nil
	}
	pe, ok := s.Ledger.(ledger.PeopleByEmail)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker's ledger cannot find people by e-mail")
	}
	ids, err := pe.PersonIDsByEmail(ctx, value, 2)
	if err != nil {
		return nil, err
	}
	m := SignInMatch{Matches: len(ids)}
	if len(ids) == 1 {
		m.Person = ids[0]
	}
	return m, nil
}
