package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/testenv/mailtest"
)

// tlsFiles writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and a pool that trusts it.
func tlsFiles(t *testing.T) (string, string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return cert, keyFile, pool
}

// TestSTARTTLSAndAuthentication: the production sender insists on
// STARTTLS, authenticates after it, and is refused with a wrong password.
func TestSTARTTLSAndAuthentication(t *testing.T) {
	cert, key, pool := tlsFiles(t)
	sum := sha1.Sum([]byte("riktig-passord"))
	auth := filepath.Join(t.TempDir(), "htpasswd")
	require.NoError(t, os.WriteFile(auth, []byte("tilgang:{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o600))
	mp := mailtest.StartWith(t, mailtest.Options{TLSCert: cert, TLSKey: key, AuthFile: auth})
	msg := []byte("From: tilgang@ror-ikt.no\r\nTo: a@example.no\r\nSubject: tls\r\nMessage-ID: <tls.1@tilgang>\r\n\r\nhei\r\n")
	ctx := context.Background()
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	wrong := &notify.SMTP{Addr: mp.SMTP, Username: "tilgang", Password: "feil", TLS: tlsCfg, Timeout: 5 * time.Second}
	err := wrong.Send(ctx, "tilgang@ror-ikt.no", []string{"a@example.no"}, msg)
	require.ErrorContains(t, err, "authentication as tilgang")
	require.False(t, notify.Permanent(err), "a wrong password is the operator's to fix: the mail waits")

	untrusted := &notify.SMTP{Addr: mp.SMTP, Username: "tilgang", Password: "riktig-passord", Timeout: 5 * time.Second}
	require.ErrorContains(t, untrusted.Send(ctx, "tilgang@ror-ikt.no", []string{"a@example.no"}, msg), "STARTTLS")

	right := &notify.SMTP{Addr: mp.SMTP, Username: "tilgang", Password: "riktig-passord", TLS: tlsCfg, Timeout: 5 * time.Second}
	require.NoError(t, right.Send(ctx, "tilgang@ror-ikt.no", []string{"a@example.no"}, msg))
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 1 })
	require.Len(t, ms, 1)
	require.Equal(t, "tls.1@tilgang", ms[0].MessageID)

	// A server without STARTTLS is not sent to, unless Plain (dev, loopback).
	plain := mailtest.Start(t)
	noTLS := &notify.SMTP{Addr: plain.SMTP, Timeout: 5 * time.Second}
	require.ErrorContains(t, noTLS.Send(ctx, "tilgang@ror-ikt.no", []string{"a@example.no"}, msg), "does not offer STARTTLS")
}
