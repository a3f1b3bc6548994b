package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policies, err := filepath.Abs("../../policies")
	require.NoError(t, err)
	principalsFile, err := filepath.Abs("../principals/testdata/example.yaml")
	require.NoError(t, err)
	const password = "Fjellgeit-42"
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	base := "nats: {url: nats://nats-1:4222, stream_replicas: 1}\nledger: {driver: postgres}\n" +
		"principals: " + principalsFile + "\nworker_key: " + write("worker.nk", "SUAEXAMPLE\n") + "\npolicies: " + policies + "\n"
	tests := []struct {
		name     string
		config   string
		env      map[string]string
		code     int
		want     []string
		wantNot  []string
		wantErrs string
	}{
		{name: "valid", config: base + "connectors: {manual: {type: manual}, noop: {type: noop}}\n",
			env:  map[string]string{"TILGANG_LEDGER_DSN": "postgres://tilgang:" + password + "@db-1/tilgang"},
			want: []string{"postgres://tilgang:REDACTED@db-1/tilgang", "noop: {type: noop, journal: \"\"}", "\nok\n"}},
		{name: "every problem, the catalogue's too", config: base + "intake: {lease_ttl: 1s}\nconnectors: {noop: {type: noop}}\n",
			code: 1,
			want: []string{
				"c.yaml:2: ledger.dsn_env: the environment variable TILGANG_LEDGER_DSN is not set or empty",
				"c.yaml:6: intake.lease_ttl: 1s must be longer than 3s",
				`gerica.yaml:13: connectors: "manual" is not a configured connector instance (configured: noop)`},
			wantNot:  []string{"\nok\n", "nats:"},
			wantErrs: "tilgang config check: "},
		{name: "a bad rest read template", config: base + `connectors:
  manual: {type: manual}
  profil:
    type: rest
    base_url: http://127.0.0.1:8090/api
    auth: {type: none}
    operations:
      ensure_account: {method: POST, path: /users, body: '{"id": {{ .Person.ID | json }}}'}
      disable: {method: POST, path: "/users/{{ .Person.ID | path }}/deactivate"}
      enable: {method: POST, path: "/users/{{ .Person.ID | path }}/activate"}
      grant: {method: PUT, path: "/roles/{{ .Entitlement | path }}/members/{{ .Person.ID | path }}"}
      revoke: {method: DELETE, path: "/roles/{{ .Entitlement | path }}/members/{{ .Person.ID | path }}"}
    reads:
      accounts: {path: "/users?page={{ .Page | query }}", items: data, key: id, person: employeeNumber, enabled: {field: active}}
      members: {path: "/roles/{{ .Entitlement }}/members?cursor={{ .Cursor | query }}", items: members, key: userId, paging: {cursor: next}}
`, code: 1,
			env:  map[string]string{"TILGANG_LEDGER_DSN": "postgres://tilgang:" + password + "@db-1/tilgang"},
			want: []string{"reads.members.path", "must end with | path"}, wantNot: []string{"\nok\n"}, wantErrs: "tilgang config check: "},
		{name: "unknown key", config: base + "connectors: {manual: {type: manual, journal: x}}\n", code: 1,
			want: []string{"c.yaml:6: connectors.manual.journal: unknown setting (this has no settings)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := write(strings.ReplaceAll(tt.name, " ", "_")+"-c.yaml", tt.config)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"config", "check", "--config", path}, options{
				Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return tt.env[k] }})
			require.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, w := range tt.want {
				require.Contains(t, stdout.String(), w)
			}
			for _, w := range tt.wantNot {
				require.NotContains(t, stdout.String(), w)
			}
			require.NotContains(t, stdout.String()+stderr.String(), password)
			require.Contains(t, stderr.String(), tt.wantErrs)
		})
	}
}
