package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang/connectors/entra"
)

// TestPrintedDefaultsAreInForce: a minimal connector config prints the
// values its connector runs with, not the zeros the file left (timeout: 0s
// reads as no timeout), and its secrets stay redacted.
func TestPrintedDefaultsAreInForce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.write(t, "secrets/ad", 0o600, secretPassword+"\n")
	w.write(t, "secrets/entra", 0o600, secretPassword+"\n")
	w.write(t, "secrets/token", 0o600, secretPassword+"\n")
	w.write(t, "export/.keep", 0o644, "")
	restOps := ""
	for _, op := range []string{"ensure_account", "enable", "disable", "grant", "revoke"} {
		restOps += "      " + op + ": {method: POST, path: /" + op + "}\n"
	}
	text := strings.Replace(validConfig, "  manual: {type: manual}\n", `  manual: {type: manual}
  ad:
    type: ad
    url: ldaps://dc1.ror.test:636
    bind_dn: CN=svc-tilgang,OU=Service,DC=ror,DC=test
    bind_password_file: {{dir}}/secrets/ad
    base_dn: DC=ror,DC=test
    user_ou: OU=Brukere,DC=ror,DC=test
    upn_suffix: ror.test
  entra:
    type: entra
    tenant: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret_file: {{dir}}/secrets/entra
    upn_suffix: ror.no
  scim:
    type: scim
    base_url: https://visma.example.no/scim/v2
    auth: {token_file: {{dir}}/secrets/token}
  rest:
    type: rest
    base_url: https://gerica.example.no/api/v1
    auth: {token_file: {{dir}}/secrets/token}
    operations:
`+restOps+`  lonn:
    type: csv
    dir: {{dir}}/export
`, 1)
	reg := DefaultRegistry()
	entra.Register(reg)
	c, err := w.check(t, w.config(t, text), reg)
	require.NoError(t, err)
	out := c.Redacted()
	require.NotContains(t, out, secretPassword)
	require.Contains(t, out, RedactedValue, "the ledger DSN's password")

	var printed struct {
		Connectors map[string]map[string]any `yaml:"connectors"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &printed), out)
	for _, tc := range []struct {
		connector string
		want      map[string]any
	}{
		{"ad", map[string]any{"pool_size": 4, "timeout": "10s", "dial_timeout": "5s", "page_size": 500, "range_size": 1500,
			"password_length": 20, "username_pattern": "{given:3}{family:3}", "correlate_attribute": "employeeID"}},
		{"entra", map[string]any{"graph_url": "https://graph.microsoft.com/v1.0", "usage_location": "NO", "concurrency": 4,
			"timeout": "30s", "max_retries": 4, "max_retry_wait": "30s", "replication_wait": "20s", "password_length": 16,
			"initial_credential": "password", "tap_lifetime": "8h0m0s"}},
		{"scim", map[string]any{"user_name": "{email}", "groups_by": "displayName", "page_size": 100, "timeout": "10s"}},
		{"rest", map[string]any{"timeout": "10s"}},
		{"lonn", map[string]any{"file": "lonn.csv", "rows": "account", "delimiter": ",", "header": true, "role_separator": "|"}},
	} {
		t.Run(tc.connector, func(t *testing.T) {
			got := printed.Connectors[tc.connector]
			require.NotNil(t, got, out)
			for k, v := range tc.want {
				require.Equal(t, v, got[k], "connectors.%s.%s in\n%s", tc.connector, k, out)
			}
		})
	}
	for _, settings := range []string{"scim", "rest"} {
		auth, _ := printed.Connectors[settings]["auth"].(map[string]any)
		require.Equal(t, "bearer", auth["type"], "connectors.%s.auth.type", settings)
		retry, _ := printed.Connectors[settings]["retry"].(map[string]any)
		require.NotZero(t, retry["max"], "connectors.%s.retry.max", settings)
	}

	// The printed config loads again and means what it meant.
	again, err := Parse("printed", []byte(out), reg, w.getenv)
	require.NoError(t, err, out)
	require.NoError(t, again.Validate())
}
