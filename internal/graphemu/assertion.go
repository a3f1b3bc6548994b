package graphemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// checkAssertion verifies a client assertion against the configured
// certificate (Microsoft identity platform, "certificate credentials").
func (s *Server) checkAssertion(jwt, clientID, aud string) error {
	if s.opts.ClientCertificate == nil {
		return errors.New("no certificate is registered for the application")
	}
	cert, err := x509.ParseCertificate(s.opts.ClientCertificate)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the registered certificate has no RSA key")
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	enc := base64.RawURLEncoding
	var hdr struct {
		Alg, X5t string
	}
	var claims struct {
		Aud, Iss, Sub string
		Exp           int64
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if err := errors.Join(json.Unmarshal(hb, &hdr), json.Unmarshal(cb, &claims)); err != nil {
		return err
	}
	thumb := sha1.Sum(s.opts.ClientCertificate)
	if hdr.Alg != "RS256" || hdr.X5t != enc.EncodeToString(thumb[:]) {
		return errors.New("the key (x5t) is not registered for the application")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return err
	}
	switch {
	case claims.Aud != aud:
		return errors.New("the audience is not the token endpoint")
	case claims.Iss != clientID || claims.Sub != clientID:
		return errors.New("iss and sub must be the client id")
	case claims.Exp < s.opts.Now().Unix():
		return errors.New("the assertion has expired")
	}
	return nil
}
