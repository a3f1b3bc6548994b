package principals

import (
	"encoding/base64"
	"errors"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
)

// Seal encrypts plaintext (an initial password) to the holder of the curve
// key recipientCurvePub (X...), with a fresh curve key pair made for this
// message alone (nkeys xkv1: NaCl box). sealed is the result in unpadded
// base64url; senderPub, the fresh pair's public key, is needed to open it.
// The fresh key says nothing about who sealed: the signed envelope the
// sealed text travels in (credential.issued) does.
func Seal(plaintext []byte, recipientCurvePub string) (sealed string, senderPub string, err error) {
	if !nkeys.IsValidPublicCurveKey(recipientCurvePub) {
		return "", "", tilgang.Errorf(tilgang.Invalid, "principals: seal: %s", keyProblem("recipient", recipientCurvePub, "an nkeys curve public key (X...)"))
	}
	kp, err := nkeys.CreateCurveKeys()
	if err != nil {
		return "", "", tilgang.Wrap(tilgang.Internal, err, "principals: seal: make a key")
	}
	defer kp.Wipe()
	senderPub, err = kp.PublicKey()
	if err != nil {
		return "", "", tilgang.Wrap(tilgang.Internal, err, "principals: seal")
	}
	b, err := kp.Seal(plaintext, recipientCurvePub)
	if err != nil {
		return "", "", tilgang.Wrap(tilgang.Internal, err, "principals: seal")
	}
	return base64.RawURLEncoding.EncodeToString(b), senderPub, nil
}

// Open decrypts what Seal made, with the recipient's curve key pair (for
// example from LoadCurveSeed). It fails with Invalid when sealed is not
// Seal's output, and with Denied when it was not sealed to recipient (or
// was altered, which cannot be told apart).
func Open(sealed, senderPub string, recipient nkeys.KeyPair) ([]byte, error) {
	if recipient == nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: open: no key")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	if err != nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: open: the sealed text is not unpadded base64url")
	}
	if !nkeys.IsValidPublicCurveKey(senderPub) {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: open: %s", keyProblem("sender", senderPub, "an nkeys curve public key (X...)"))
	}
	pt, err := recipient.Open(b, senderPub)
	switch {
	case err == nil:
		return pt, nil
	case errors.Is(err, nkeys.ErrCouldNotDecrypt):
		return nil, tilgang.Wrap(tilgang.Denied, err, "principals: open: not sealed to this key, or altered")
	default:
		return nil, tilgang.Wrap(tilgang.Invalid, err, "principals: open")
	}
}
