package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/ror-ikt/tilgang"
)

// certificate is a client certificate and its RSA key, for the client
// assertion of the client credentials grant (Microsoft identity platform
// "certificate credentials": a JWT signed RS256 with x5t, aud the token URL,
// iss and sub the client id).
type certificate struct {
	der []byte
	key *rsa.PrivateKey
}

func loadCertificate(path string) (*certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "entra: client_certificate_file")
	}
	c := &certificate{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if c.der == nil {
				c.der = blk.Bytes
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, tilgang.Wrap(tilgang.Invalid, err, "entra: client_certificate_file %s: private key", path)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, tilgang.Errorf(tilgang.Invalid, "entra: client_certificate_file %s: the key must be RSA", path)
			}
			c.key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, tilgang.Wrap(tilgang.Invalid, err, "entra: client_certificate_file %s: private key", path)
			}
			c.key = k
		}
	}
	if c.der == nil || c.key == nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "entra: client_certificate_file %s must hold a PEM certificate and its RSA private key", path)
	}
	return c, nil
}

// assertion is the signed client assertion for the token endpoint aud.
func (c *certificate) assertion(clientID, aud string, now time.Time) (string, error) {
	thumb := sha1.Sum(c.der)
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": enc.EncodeToString(thumb[:])})
	p, _ := json.Marshal(map[string]any{"aud": aud, "iss": clientID, "sub": clientID, "jti": uuid.NewString(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", tilgang.Wrap(tilgang.Internal, err, "entra: sign client assertion")
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
