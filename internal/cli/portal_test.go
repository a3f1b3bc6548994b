package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/config"
)

func TestPortalOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "portal.nk")
	require.NoError(t, os.WriteFile(keyFile, seed, 0o600))
	sk := filepath.Join(dir, "session.key")
	require.NoError(t, os.WriteFile(sk, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600))

	o, err := portalOptions(&config.Config{})
	require.NoError(t, err)
	require.Nil(t, o, "no portal section: no portal")

	cfg := &config.Config{Portal: &config.Portal{PublicURL: "https://tilgang.example.no", SessionKeys: []string{sk}, Key: keyFile,
		OIDC: config.PortalOIDC{Issuer: "https://login.example.no", ClientID: "tilgang", ClientSecretEnv: "X_SECRET", PersonClaim: "employeeid"}},
		Getenv: func(k string) string { return map[string]string{"X_SECRET": "s3cret"}[k] }}
	o, err = portalOptions(cfg)
	require.NoError(t, err)
	require.Equal(t, "portal", o.ID)
	require.Equal(t, [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, o.SessionKeys)
	require.Equal(t, "s3cret", o.OIDC.ClientSecret)
	require.Equal(t, "employeeid", o.OIDC.PersonClaim)
	pub, err := o.Key.PublicKey()
	require.NoError(t, err)
	want, err := kp.PublicKey()
	require.NoError(t, err)
	require.Equal(t, want, pub)

	cfg.Portal.Key = filepath.Join(dir, "none.nk")
	_, err = portalOptions(cfg)
	require.ErrorContains(t, err, "none.nk does not exist")
}
