package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStaticHeadersAreSecrets: a static header of a REST instance carries
// an API key under any name; config check prints only known harmless
// headers' values.
func TestStaticHeadersAreSecrets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.write(t, "secrets/token", 0o600, "tok\n")
	text := strings.Replace(validConfig, "  manual: {type: manual}\n", `  manual: {type: manual}
  rest:
    type: rest
    base_url: https://gerica.example.no/api/v1
    auth: {token_file: {{dir}}/secrets/token}
    headers:
      Accept: application/json
      X-API-Key: Hemmelig-api-1
      Ocp-Apim-Subscription-Key: Hemmelig-apim-2
      Cookie: session=Hemmelig-cookie-3
    operations:
      ensure_account: {method: POST, path: /users}
      enable: {method: POST, path: /enable}
      disable: {method: POST, path: /disable}
      grant: {method: POST, path: /grant, headers: {X-Tenant-Secret: Hemmelig-op-4, Content-Type: application/json}}
      revoke: {method: POST, path: /revoke}
`, 1)
	c, err := w.check(t, w.config(t, text), DefaultRegistry())
	require.NoError(t, err)
	out := c.Redacted()
	require.NotContains(t, out, "Hemmelig", out)
	require.Contains(t, out, "Accept: application/json", out)
	require.Contains(t, out, "Content-Type: application/json", out)
	require.Contains(t, out, "X-API-Key: REDACTED", out)
}

// TestRedactedDSNs: a password with a comma, an escaped character or an
// escaped space is redacted whole, in URLs and in libpq key=value DSNs.
func TestRedactedDSNs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"postgres://u:Hemmelig,Pass1@db/tilgang", "postgres://u:REDACTED@db/tilgang"},
		{"postgres://u:p%40ss,word9@db:5432/tilgang?sslmode=require", "postgres://u:REDACTED@db:5432/tilgang?sslmode=require"},
		{"nats://a:4222,nats://TOKEN@b:4222", "nats://a:4222,nats://REDACTED@b:4222"},
		{`host=db user=u password=Hem\ melig8 dbname=t`, "host=db user=u password=REDACTED dbname=t"},
		{`host=db password='Hem\'me lig' dbname=t`, "host=db password=REDACTED dbname=t"},
		{"host=db sslpassword=abc password=def", "host=db sslpassword=REDACTED password=REDACTED"},
		{"https://example.no/a,b", "https://example.no/a,b"},
	} {
		got := redactString(tt.in)
		require.Equal(t, tt.want, got, tt.in)
		require.NotContains(t, got, "Hem")
		require.NotContains(t, got, "ss,word9")
	}
}
