package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Session lifetimes (DESIGN.md "Web security").
const (
	MaxAge  = 8 * time.Hour    // from sign-in
	MaxIdle = 30 * time.Minute // since the last request
	// touchEvery is how stale the last-seen time may grow before a request
	// seals the cookie again: not every request rewrites it.
	touchEvery = time.Minute
)

// Session is what a session cookie holds, sealed: which session, who is
// signed in, how, when, and when they were last seen. Nothing else is
// kept, but the session's id on the ledger's sign-out list once it is
// signed out.
type Session struct {
	// ID names the session on the ledger's sign-out list: random, made at
	// sign-in.
	ID     string `json:"i"`
	Person string `json:"p"`
	Method string `json:"m"` // dev | oidc
	Start  int64  `json:"s"` // Unix seconds
	Seen   int64  `json:"l"` // Unix seconds
}

// Live reports whether the session may still be used at now (the
// sign-out list aside, which the API is asked about).
func (s *Session) Live(now time.Time) bool {
	t := now.Unix()
	return s.ID != "" && s.Person != "" && t >= s.Start-60 && t < s.Start+int64(MaxAge/time.Second) && t < s.Seen+int64(MaxIdle/time.Second)
}

// sealer seals and opens cookie values with AES-256-GCM. The standard
// library's AEAD was chosen over a cookie library: it is all that is
// needed (confidentiality and integrity, a random nonce a value), adds no
// dependency, and leaves no optional unauthenticated mode to misuse. The
// first key seals; every key opens, so keys rotate. The cookie's name is
// the additional data: a value sealed for one cookie opens as no other.
type sealer struct {
	aeads []cipher.AEAD
}

const sealVersion = 1

func newSealer(keys [][]byte) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("portal: no session key: at least one is needed to seal sessions")
	}
	s := &sealer{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("portal: session key %d is %d bytes, not 32", i+1, len(k))
		}
		b, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("portal: session key %d: %w", i+1, err)
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			return nil, fmt.Errorf("portal: session key %d: %w", i+1, err)
		}
		s.aeads = append(s.aeads, a)
	}
	return s, nil
}

// seal encrypts v, as JSON, for the cookie name.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("portal: seal %s: %w", name, err)
	}
	a := s.aeads[0]
	out := make([]byte, 1, 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = sealVersion
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("portal: seal %s: %w", name, err)
	}
	out = append(out, nonce...)
	out = a.Seal(out, nonce, plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts a value sealed for the cookie name into v; false when no
// key opens it (tampered, foreign, or of another cookie).
func (s *sealer) open(name, value string, v any) bool {
	// Strict: one encoding per value, no spare bits to vary a cookie by.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(raw) < 1 || raw[0] != sealVersion {
		return false
	}
	raw = raw[1:]
	for _, a := range s.aeads {
		if len(raw) < a.NonceSize()+a.Overhead() {
			return false
		}
		plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(name))
		if err != nil {
			continue
		}
		return json.Unmarshal(plain, v) == nil
	}
	return false
}
