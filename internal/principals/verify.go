package principals

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
)

var sigEncoding = base64.RawURLEncoding.Strict()

// Verify checks e's actorsig as worker mode does (DESIGN.md "Principals and
// signatures"): the signer is via when set, else actor; it must be a
// principal of s, actorsig must be its Ed25519 signature over
// e.SigningInput(), and a via must be allowed to act for the actor
// (MayActFor). It returns the signer. Refusals are *tilgang.Error of kind
// Denied naming the reason: unsigned, unknown signer, malformed or bad
// signature, via not allowed to act for the actor. What the actor may do
// with the message type is judged elsewhere, on actor.
func (s *Set) Verify(e *envelope.Envelope) (signer string, err error) {
	if e == nil {
		return "", tilgang.Errorf(tilgang.Invalid, "principals: verify: no envelope")
	}
	signer = e.Signer()
	role := "actor"
	if e.Via != "" {
		role = "via"
	}
	if e.ActorSig == "" {
		return "", denied("unsigned envelope: actorsig is missing (%s %s must sign)", role, quote(signer))
	}
	if _, ok := s.byIDOrNil(signer); !ok {
		return "", denied("unknown signer: %s %s has no key in the principals file", role, quote(signer))
	}
	sig, err := sigEncoding.DecodeString(e.ActorSig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", denied("bad signature: actorsig is not an unpadded base64url Ed25519 signature")
	}
	switch err := s.VerifySig(signer, e.SigningInput(), sig, s.clock()); {
	case errors.Is(err, ErrRevoked):
		return "", denied("revoked signer: the keys of %s %s are revoked", role, quote(signer))
	case err != nil:
		return "", denied("bad signature: actorsig does not verify with the key of %s %s", role, quote(signer))
	}
	if err := s.MayActFor(e.Via, e.Actor); err != nil {
		return "", err
	}
	return signer, nil
}

// Why VerifySig refuses.
var (
	ErrUnknownSigner = errors.New("unknown signer")
	ErrRevoked       = errors.New("revoked signer")
	ErrBadSignature  = errors.New("bad signature")
)

// VerifySig checks that sig is principal id's Ed25519 signature over msg,
// at time now: by its current key, or by a retired key whose until is
// after now. It is the one key check for messages (Verify) and API calls.
// A refusal wraps ErrUnknownSigner, ErrRevoked or ErrBadSignature.
func (s *Set) VerifySig(id string, msg, sig []byte, now time.Time) error {
	e, ok := s.byIDOrNil(id)
	switch {
	case !ok:
		return ErrUnknownSigner
	case e.pub == nil:
		return ErrRevoked
	case e.pub.Verify(msg, sig) == nil:
		return nil
	}
	for _, r := range e.retired {
		if now.Before(r.until) && r.pub.Verify(msg, sig) == nil {
			return nil
		}
	}
	return ErrBadSignature
}

// WithClock is s judging retired keys at now() instead of the time of day.
func (s *Set) WithClock(now func() time.Time) *Set {
	if s == nil {
		return nil
	}
	c := *s
	c.now = now
	return &c
}

func (s *Set) clock() time.Time {
	if s != nil && s.now != nil {
		return s.now()
	}
	return time.Now()
}

// MayActFor reports whether via may sign for actor, the one rule for
// messages and API calls alike (DESIGN.md "Principals and signatures"):
// via needs the on_behalf capability and acts only for persons (a person
// principal, or an id the principals file does not know) or for the
// principals its on_behalf_of names. A service principal's own
// capabilities thus count only when it signs for itself. No via, or a via
// that is the actor, is the actor signing for itself. A refusal is a
// *tilgang.Error of kind Denied.
func (s *Set) MayActFor(via, actor string) error {
	if via == "" || via == actor {
		return nil
	}
	v, ok := s.byIDOrNil(via)
	if !ok {
		return denied("unknown signer: via %s has no key in the principals file", quote(via))
	}
	if !v.caps[tilgang.CapOnBehalf] {
		return denied("via %s may not act on behalf of others: it lacks the %s capability", quote(via), tilgang.CapOnBehalf)
	}
	if v.actFor[actor] {
		return nil
	}
	if a, ok := s.byIDOrNil(actor); ok && a.p.Kind == KindService {
		return denied("via %s may not act on behalf of service principal %s: it acts for persons only, and a service principal's capabilities count only when it signs for itself (or when %s's on_behalf_of names it)",
			quote(via), quote(actor), quote(via))
	}
	return nil
}

func denied(format string, args ...any) error {
	return tilgang.Errorf(tilgang.Denied, "principals: "+format, args...)
}

// AnchorKeys are the keys that verify audit anchors signed by principal
// id: its current key and every retired one, whatever its until, since an
// anchor is history signed when the key was current. A revoked or unknown
// principal has none.
func (s *Set) AnchorKeys(id string) []string {
	e, ok := s.byIDOrNil(id)
	if !ok || e.pub == nil {
		return nil
	}
	keys := []string{e.p.Key}
	for _, r := range e.p.RetiredKeys {
		keys = append(keys, r.Key)
	}
	return keys
}
