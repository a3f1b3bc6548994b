package principals

import (
	"crypto/ed25519"
	"encoding/base64"

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
	p, ok := s.byIDOrNil(signer)
	if !ok {
		return "", denied("unknown signer: %s %s has no key in the principals file", role, quote(signer))
	}
	sig, err := sigEncoding.DecodeString(e.ActorSig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", denied("bad signature: actorsig is not an unpadded base64url Ed25519 signature")
	}
	if err := p.pub.Verify(e.SigningInput(), sig); err != nil {
		return "", denied("bad signature: actorsig does not verify with the key of %s %s", role, quote(signer))
	}
	if err := s.MayActFor(e.Via, e.Actor); err != nil {
		return "", err
	}
	return signer, nil
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
