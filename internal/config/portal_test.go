package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const portalSection = `portal:
  public_url: https://tilgang.ror.kommune.no
  session_keys: [{{dir}}/secrets/session-new.key, {{dir}}/secrets/session-old.key]
  key: {{dir}}/secrets/portal.nk
  oidc:
    issuer: https://login.example.no/tenant/v2.0
    client_id: tilgang-portal
    client_secret_env: TILGANG_OIDC_SECRET
    person_claim: employee_id
`

func portalWorld(t *testing.T) *world {
	w := newWorld(t)
	w.env["TILGANG_OIDC_SECRET"] = "oidc-" + secretPassword
	w.write(t, "secrets/session-new.key", 0o600, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	w.write(t, "secrets/session-old.key", 0o600, "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA\n")
	w.write(t, "secrets/portal.nk", 0o600, "SUAEXAMPLE\n")
	return w
}

func TestPortalValid(t *testing.T) {
	t.Parallel()
	w := portalWorld(t)
	c, err := w.check(t, w.config(t, validConfig+portalSection), DefaultRegistry())
	require.NoError(t, err)
	require.Equal(t, "https://tilgang.ror.kommune.no", c.Portal.PublicURL)
	require.Len(t, c.Portal.SessionKeys, 2)
	k, err := ReadSessionKey(c.Portal.SessionKeys[0])
	require.NoError(t, err)
	require.Equal(t, "0123456789abcdef0123456789abcdef", string(k))
	require.Equal(t, "oidc-"+secretPassword, c.ClientSecret())
	require.NotContains(t, c.Redacted(), secretPassword)

	c, err = w.check(t, w.config(t, validConfig), DefaultRegistry())
	require.NoError(t, err)
	require.Nil(t, c.Portal, "no portal section: no portal")
}

func TestPortalEveryMistakeAtOnce(t *testing.T) {
	t.Parallel()
	w := portalWorld(t)
	delete(w.env, "TILGANG_OIDC_SECRET")
	w.write(t, "secrets/short.key", 0o600, "c2hvcnQ=\n")
	w.write(t, "secrets/open.key", 0o644, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	text := validConfig + `portal:
  public_url: http://tilgang.ror.kommune.no/?x=1
  session_keys: [{{dir}}/secrets/short.key, {{dir}}/secrets/open.key, {{dir}}/secrets/none.key]
  oidc:
    issuer: ftp://issuer
    client_secret_env: TILGANG_OIDC_SECRET
`
	_, err := w.check(t, w.config(t, text), DefaultRegistry())
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"portal.public_url: ",
		"portal.session_keys[0]: session key " + w.dir + "/secrets/short.key holds 5 bytes, not 32",
		"portal.session_keys[1]: " + w.dir + "/secrets/open.key holds a secret but everyone may read it",
		"portal.session_keys[2]: " + w.dir + "/secrets/none.key does not exist",
		"portal.key: missing",
		`portal.oidc.issuer: "ftp://issuer" must be https://`,
		"portal.oidc.client_id: missing",
		"portal.oidc.client_secret_env: the environment variable TILGANG_OIDC_SECRET is not set or empty",
		"portal.oidc.person_claim: missing",
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 9, strings.Count(msg, "portal."), msg)
}
