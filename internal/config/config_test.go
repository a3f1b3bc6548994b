package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
)

const secretPassword = "hunter2-Sjokolade"

// world is a temporary /etc/tilgang: principals, a catalogue, secret files.
type world struct {
	dir string
	env map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), env: map[string]string{
		"TILGANG_LEDGER_DSN": "postgres://tilgang:" + secretPassword + "@db-1.ror.local:5432/tilgang?sslmode=verify-full",
	}}
	w.write(t, "principals.yaml", 0o644, "principals: []\n")
	w.write(t, "policies/gerica.yaml", 0o644, "system: gerica\n")
	w.write(t, "secrets/worker.creds", 0o600, "-----BEGIN NATS USER JWT-----\n")
	w.write(t, "secrets/worker.nk", 0o600, "SUAEXAMPLE\n")
	w.write(t, "secrets/ledger.dsn", 0o640, "postgres://tilgang:"+secretPassword+"@db-1:5432/tilgang\n")
	w.write(t, "nats-ca.pem", 0o644, "-----BEGIN CERTIFICATE-----\n")
	return w
}

func (w *world) write(t *testing.T, name string, mode os.FileMode, content string) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// config writes a worker config, {{dir}} standing for the world's directory.
func (w *world) config(t *testing.T, text string) string {
	t.Helper()
	return w.write(t, "worker.yaml", 0o644, strings.ReplaceAll(text, "{{dir}}", w.dir))
}

func (w *world) getenv(k string) string { return w.env[k] }

// check is what `tilgang config check` does: Load, then Validate.
func (w *world) check(t *testing.T, path string, reg *connectors.Registry) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	c, err := Parse(path, data, reg, w.getenv)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

const validConfig = `# a worker of the ROR-IKT test environment
name: worker-a
nats:
  url: nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222
  creds_file: {{dir}}/secrets/worker.creds
  tls: {ca_file: {{dir}}/nats-ca.pem}
  stream_replicas: 3
ledger:
  driver: postgres
  dsn_env: TILGANG_LEDGER_DSN
  max_conns: 8
principals: {{dir}}/principals.yaml
worker_key: {{dir}}/secrets/worker.nk
policies: {{dir}}/policies
http: 127.0.0.1:8480
intake: {batch: 128, lease_ttl: 15s}
executor: {workers: 16, claim_lease: 90s, call_timeout: 30s, max_attempts: 5}
log: {format: text, level: debug}
connectors:
  manual: {type: manual}
  noop:
    type: noop
    journal: {{dir}}/noop.journal
`

func TestLoadValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, err := w.check(t, w.config(t, validConfig), DefaultRegistry())
	require.NoError(t, err)
	require.Equal(t, "worker-a", c.Name)
	require.Equal(t, "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", c.NATS.URL)
	require.Equal(t, 3, c.NATS.StreamReplicas)
	require.Equal(t, 128, c.Intake.Batch)
	require.Equal(t, 15*time.Second, c.Intake.LeaseTTL)
	require.Equal(t, Executor{Workers: 16, ClaimLease: 90 * time.Second, CallTimeout: 30 * time.Second, MaxAttempts: 5}, c.Executor)
	require.Equal(t, Log{Format: "text", Level: "debug"}, c.Log)
	require.Equal(t, []string{"manual", "noop"}, c.ConnectorNames())

	cfgs := c.ConnectorConfigs()
	require.IsType(t, &manual.Config{}, cfgs["manual"])
	require.Equal(t, &noop.Config{Journal: filepath.Join(w.dir, "noop.journal")}, cfgs["noop"])
	conn, err := cfgs["noop"].Open("noop", slog.Default())
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	dsn, err := c.DSN()
	require.NoError(t, err)
	require.Contains(t, dsn, secretPassword)
	require.Equal(t, 3, c.StreamOptions().Replicas)
	opts, err := c.NATSOptions()
	require.NoError(t, err)
	require.Len(t, opts, 3) // name, credentials, root CA
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, err := w.check(t, w.config(t, `
nats: {url: nats://127.0.0.1:4222}
ledger: {driver: postgres}
principals: {{dir}}/principals.yaml
worker_key: {{dir}}/secrets/worker.nk
policies: {{dir}}/policies
connectors: {manual: {type: manual}}
`), DefaultRegistry())
	require.NoError(t, err)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	require.Equal(t, fmt.Sprintf("%s-%d", host, os.Getpid()), c.Name)
	require.Equal(t, DefaultStreamReplicas, c.NATS.StreamReplicas)
	require.Equal(t, Ledger{Driver: "postgres", DSNEnv: DefaultDSNEnv, MaxConns: 8}, c.Ledger)
	require.Equal(t, "127.0.0.1:8480", c.HTTP)
	require.Equal(t, Intake{Batch: 1024, LeaseTTL: 10 * time.Second}, c.Intake)
	require.Equal(t, Executor{Workers: 32, ClaimLease: 60 * time.Second, CallTimeout: 20 * time.Second, MaxAttempts: 8}, c.Executor)
	require.Equal(t, Log{Format: "json", Level: "info"}, c.Log)
}

// lineOf is the 1-based line of the first line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the config", s)
	return 0
}

// topLevelKeys lists the worker config's settings in the order of Config's
// fields, as the unknown-setting message names them.
func topLevelKeys() string {
	var keys []string
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		if name, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return strings.Join(keys, ", ")
}

func TestMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string // replace old with new in validConfig
		at       string // the line the problem names contains this ("" = no line)
		want     string // "path: message" as printed after file:line:
	}{
		{name: "unknown top-level key", old: "http: 127.0.0.1:8480", new: "http: 127.0.0.1:8480\nmetrics: true",
			at: "metrics: true", want: `metrics: unknown setting (known here: ` + topLevelKeys() + `)`},
		{name: "unknown nested key with a near name", old: "  stream_replicas: 3", new: "  stream_replicas: 3\n  credsFile: x",
			at: "credsFile", want: `nats.credsFile: unknown setting (did you mean creds_file?)`},
		{name: "key twice", old: "http: 127.0.0.1:8480", new: "http: 127.0.0.1:8480\nhttp: :8480",
			at: "http: :8480", want: "http: given twice (first on line " + fmt.Sprint(lineOf(t, validConfig, "http:")) + ")"},
		{name: "driver not known", old: "driver: postgres", new: "driver: mysql",
			at: "driver: mysql", want: `ledger.driver: "mysql" is not one of postgres, sqlite`},
		{name: "driver missing", old: "  driver: postgres\n", new: "",
			at: "ledger:", want: `ledger.driver: missing: postgres or sqlite`},
		{name: "nats url missing", old: "  url: nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222\n", new: "",
			at: "nats:", want: `nats.url: missing: the NATS server(s)`},
		{name: "nats url with a password", old: "url: nats://nats-1:4222", new: "url: nats://worker:" + secretPassword + "@nats-1:4222",
			at: "url: nats://", want: `nats.url: a URL holds a user, password or token: use creds_file or nkey_seed_file instead`},
		{name: "duration not a duration", old: "lease_ttl: 15s", new: "lease_ttl: 15",
			at: "lease_ttl", want: `intake.lease_ttl: "15" is not a duration (write it like 10s, 1m30s or 2h)`},
		{name: "number not a number", old: "batch: 128", new: "batch: many",
			at: "batch: many", want: `intake.batch: "many" is not a whole number`},
		{name: "mapping where a value goes", old: "http: 127.0.0.1:8480", new: "http:\n  addr: 127.0.0.1:8480",
			at: "http:", want: `http: must be a single value, not a mapping`},
		{name: "lease ttl too short", old: "lease_ttl: 15s", new: "lease_ttl: 3s",
			at: "lease_ttl", want: `intake.lease_ttl: 3s must be longer than 3s`},
		{name: "batch above the most the intake commits at once", old: "batch: 128", new: "batch: 2000",
			at: "batch: 2000", want: `intake.batch: 2000 is not between 1 and 1024`},
		{name: "claim lease not longer than the call", old: "claim_lease: 90s", new: "claim_lease: 30s",
			at: "claim_lease", want: `executor.claim_lease: 30s must be longer than executor.call_timeout (30s)`},
		{name: "replicas", old: "stream_replicas: 3", new: "stream_replicas: 7",
			at: "stream_replicas", want: `nats.stream_replicas: 7 is not between 1 and 5`},
		{name: "log format", old: "format: text", new: "format: xml",
			at: "format: xml", want: `log.format: "xml" is not one of json, text`},
		{name: "http not host:port", old: "http: 127.0.0.1:8480", new: "http: localhost",
			at: "http: localhost", want: `http: "localhost" is not host:port`},
		{name: "principals file missing", old: "{{dir}}/principals.yaml", new: "{{dir}}/nowhere.yaml",
			at: "principals:", want: `principals: {{dir}}/nowhere.yaml does not exist`},
		{name: "policies not a directory", old: "policies: {{dir}}/policies", new: "policies: {{dir}}/principals.yaml",
			at: "policies:", want: `policies: {{dir}}/principals.yaml is not a directory`},
		{name: "ca file missing", old: "{{dir}}/nats-ca.pem", new: "{{dir}}/ca.pem",
			at: "tls:", want: `nats.tls.ca_file: {{dir}}/ca.pem does not exist`},
		{name: "creds and nkey both", old: "  stream_replicas: 3", new: "  stream_replicas: 3\n  nkey_seed_file: {{dir}}/secrets/worker.creds",
			at: "nats:", want: `nats: set only one of creds_file and nkey_seed_file`},
		{name: "two DSN sources", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn_env: TILGANG_LEDGER_DSN\n  dsn_file: {{dir}}/secrets/ledger.dsn",
			at: "ledger:", want: `ledger: set only one of dsn_env, dsn_file and dsn`},
		{name: "DSN variable not set", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn_env: TILGANG_NO_SUCH_DSN",
			at: "dsn_env", want: `ledger.dsn_env: the environment variable TILGANG_NO_SUCH_DSN is not set or empty`},
		{name: "connector type missing", old: "  manual: {type: manual}", new: "  manual: {}",
			at: "manual: {}", want: `connectors.manual.type: missing: say which connector type this instance is (known: ` + knownTypes + `)`},
		{name: "connector type unknown", old: "  manual: {type: manual}", new: "  manual: {type: sap}",
			at: "type: sap", want: `connectors.manual.type: "sap" is not a connector type this build knows (known: ` + knownTypes + `)`},
		{name: "connector setting unknown to its type", old: "    journal:", new: "    journl:",
			at: "journl", want: `connectors.noop.journl: unknown setting (known in connectors.noop: journal)`},
		{name: "manual has no settings", old: "  manual: {type: manual}", new: "  manual: {type: manual, system: gerica}",
			at: "system: gerica", want: `connectors.manual.system: unknown setting (this has no settings)`},
		{name: "connector instance name", old: "  manual: {type: manual}", new: "  manual tasks: {type: manual}",
			at: "manual tasks", want: `connectors.manual tasks: "manual tasks" is not a usable instance name`},
		{name: "no connectors", old: "connectors:\n  manual: {type: manual}\n  noop:\n    type: noop\n    journal: {{dir}}/noop.journal\n", new: "",
			want: `connectors: missing: at least one connector instance`},
		{name: "two documents", old: "{{dir}}/noop.journal\n", new: "{{dir}}/noop.journal\n---\nname: y\n",
			at: "---", want: `a second YAML document (---): the config is one document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			require.Contains(t, validConfig, tt.old)
			text := strings.Replace(validConfig, tt.old, tt.new, 1)
			path := w.config(t, text)
			_, err := w.check(t, path, DefaultRegistry())
			require.Error(t, err)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
			var ce *Error
			require.True(t, errors.As(err, &ce))
			want := strings.ReplaceAll(tt.want, "{{dir}}", w.dir)
			prefix := path + ": "
			if tt.at != "" {
				prefix = fmt.Sprintf("%s:%d: ", path, lineOf(t, text, tt.at))
			}
			require.Contains(t, err.Error(), prefix+want, "all problems:\n%s", err)
			require.Len(t, ce.Problems, 1, "one mistake, one problem:\n%s", err)
			require.NotContains(t, err.Error(), secretPassword)
		})
	}
}

func TestNotYAML(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	path := w.config(t, strings.Replace(validConfig, "lease_ttl: 15s}", "lease_ttl: 15s", 1))
	_, err := w.check(t, path, DefaultRegistry())
	require.ErrorContains(t, err, path+":")
	require.ErrorContains(t, err, ": not valid YAML: ")
}

func TestEveryMistakeAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	text := strings.NewReplacer(
		"driver: postgres", "driver: mysql",
		"lease_ttl: 15s", "lease_ttl: 2s",
		"claim_lease: 90s", "claim_lease: 10s",
		"    journal:", "    journl:",
		"http: 127.0.0.1:8480", "http: 127.0.0.1:8480\nmetrics: :9090",
		"batch: 128", "batch: lots",
		"{{dir}}/principals.yaml", "{{dir}}/nobody.yaml",
	).Replace(validConfig)
	path := w.config(t, text)
	_, err := w.check(t, path, DefaultRegistry())
	require.Error(t, err)
	var ce *Error
	require.True(t, errors.As(err, &ce))
	var paths []string
	for _, p := range ce.Problems {
		require.Equal(t, path, p.File)
		require.NotZero(t, p.Line, "%s", p)
		paths = append(paths, p.Path)
	}
	// In file order; the batch that did not decode is not also "out of range".
	require.Equal(t, []string{"ledger.driver", "principals", "metrics", "intake.batch", "intake.lease_ttl", "executor.claim_lease", "connectors.noop.journl"}, paths, "%s", err)
}

// secretType is a connector type with secrets, as the ad connector will have.
type secretType struct {
	URL          string `yaml:"url"`
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	Passfile     string `yaml:"bind_password_file"`
	Hidden       string `yaml:"hidden" secret:"true"`
	Port         int    `yaml:"port"`
	Token        int    `yaml:"token"`
}

func (*secretType) Open(string, *slog.Logger) (connectors.Connector, error) {
	return nil, errors.New("not for opening")
}

func (s *secretType) Validate() error {
	if s.BindDN == "" {
		return errors.New("bind_dn: missing")
	}
	return nil
}

func secretRegistry() *connectors.Registry {
	reg := DefaultRegistry()
	reg.Register("secretive", func() connectors.Config { return &secretType{} })
	return reg
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string
		env      string // TILGANG_LEDGER_DSN; "" keeps the world's
		wantErr  string // "" = valid
	}{
		{name: "DSN from the environment"},
		{name: "DSN from a file", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn_file: {{dir}}/secrets/ledger.dsn"},
		{name: "key=value DSN", env: "host=db-1 user=tilgang password='" + secretPassword + "' dbname=tilgang sslmode=verify-full"},
		{name: "inline DSN with a password", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn: postgres://tilgang:" + secretPassword + "@db-1/tilgang",
			wantErr: "ledger.dsn: holds a password: put the DSN in an environment variable (dsn_env) or a file (dsn_file) instead"},
		{name: "inline key=value DSN with a password", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn: host=db-1 password=" + secretPassword,
			wantErr: "ledger.dsn: holds a password"},
		{name: "connector secrets", old: "  manual: {type: manual}", new: "  manual: {type: manual}\n  dc: {type: secretive, url: 'ldaps://svc:" + secretPassword + "@dc1:636', bind_dn: CN=svc, bind_password: " + secretPassword + ", hidden: " + secretPassword + "}"},
		{name: "a secret of the wrong kind is not quoted", old: "  manual: {type: manual}", new: "  manual: {type: manual}\n  dc: {type: secretive, bind_dn: x, token: " + secretPassword + "}",
			wantErr: "connectors.dc.token: the value is not a whole number"},
		{name: "a connector's own validation", old: "  manual: {type: manual}", new: "  manual: {type: manual}\n  dc: {type: secretive, bind_password: " + secretPassword + "}",
			wantErr: "connectors.dc: bind_dn: missing"},
		{name: "a secret file readable by everyone", old: "dsn_env: TILGANG_LEDGER_DSN", new: "dsn_file: {{dir}}/world.dsn",
			wantErr: "ledger.dsn_file: {{dir}}/world.dsn holds a secret but everyone may read it (mode 0644): chmod o-rwx {{dir}}/world.dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.write(t, "world.dsn", 0o644, "postgres://tilgang:"+secretPassword+"@db-1/tilgang\n")
			if tt.env != "" {
				w.env["TILGANG_LEDGER_DSN"] = tt.env
			}
			path := w.config(t, strings.Replace(validConfig, tt.old, tt.new, 1))
			c, err := w.check(t, path, secretRegistry())
			if tt.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), strings.ReplaceAll(tt.wantErr, "{{dir}}", w.dir))
				require.NotContains(t, err.Error(), secretPassword)
				if c == nil {
					return
				}
			} else {
				require.NoError(t, err)
			}
			out := c.Redacted()
			require.NotContains(t, out, secretPassword, out)
			require.Contains(t, out, RedactedValue, out)
			require.Contains(t, out, "ledger:", out)
			if strings.Contains(tt.new, "secretive") && tt.wantErr == "" {
				require.Contains(t, out, "bind_password: REDACTED")
				require.Contains(t, out, "hidden: REDACTED")
				require.Contains(t, out, "url: ldaps://svc:REDACTED@dc1:636")
				require.Contains(t, out, "bind_dn: CN=svc")
			}
		})
	}
}

func TestRedactedIsTheConfig(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, err := w.check(t, w.config(t, validConfig), DefaultRegistry())
	require.NoError(t, err)
	out := c.Redacted()
	require.Contains(t, out, "# ledger DSN (from $TILGANG_LEDGER_DSN): postgres://tilgang:REDACTED@db-1.ror.local:5432/tilgang?sslmode=verify-full")
	// The printed config loads again and means the same (secrets aside).
	again, err := Parse("printed", []byte(out), DefaultRegistry(), w.getenv)
	require.NoError(t, err, out)
	require.NoError(t, again.Validate())
	require.Equal(t, c.Intake, again.Intake)
	require.Equal(t, c.Executor, again.Executor)
	require.Equal(t, c.NATS, again.NATS)
	require.Equal(t, c.Ledger, again.Ledger)
	require.Equal(t, c.ConnectorConfigs(), again.ConnectorConfigs())
}

func TestDSN(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.write(t, "empty.dsn", 0o600, "\n")
	tests := []struct {
		name    string
		ledger  Ledger
		want    string
		wantErr string
	}{
		{name: "environment", ledger: Ledger{DSNEnv: "TILGANG_LEDGER_DSN"}, want: w.env["TILGANG_LEDGER_DSN"]},
		{name: "file, first line", ledger: Ledger{DSNFile: filepath.Join(w.dir, "secrets/ledger.dsn")}, want: "postgres://tilgang:" + secretPassword + "@db-1:5432/tilgang"},
		{name: "inline", ledger: Ledger{DSN: "/var/lib/tilgang/ledger.db"}, want: "/var/lib/tilgang/ledger.db"},
		{name: "variable unset", ledger: Ledger{DSNEnv: "NOPE"}, wantErr: "ledger.dsn_env: the environment variable NOPE is not set or empty"},
		{name: "file missing", ledger: Ledger{DSNFile: filepath.Join(w.dir, "none.dsn")}, wantErr: "ledger.dsn_file: " + filepath.Join(w.dir, "none.dsn") + " does not exist"},
		{name: "file empty", ledger: Ledger{DSNFile: filepath.Join(w.dir, "empty.dsn")}, wantErr: "ledger.dsn_file: " + filepath.Join(w.dir, "empty.dsn") + " holds no DSN on its first line"},
		{name: "none", wantErr: "ledger: no DSN: set dsn_env, dsn_file or dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{Ledger: tt.ledger, Getenv: w.getenv}
			got, err := c.DSN()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestExamples loads deploy/worker.example.yaml and the worker.yaml of
// deploy/kubernetes/configmap.yaml with their /etc/tilgang and
// /var/lib/tilgang paths moved to a temporary directory, so the examples
// never rot.
func TestExamples(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile("../../deploy/worker.example.yaml")
	require.NoError(t, err)
	cmData, err := os.ReadFile("../../deploy/kubernetes/configmap.yaml")
	require.NoError(t, err)
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	require.NoError(t, yaml.NewDecoder(strings.NewReader(string(cmData))).Decode(&cm))
	require.NotEmpty(t, cm.Data["worker.yaml"])

	for _, tt := range []struct{ name, text string }{
		{"deploy/worker.example.yaml", string(example)},
		{"deploy/kubernetes/configmap.yaml worker.yaml", cm.Data["worker.yaml"]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			text := strings.NewReplacer("/etc/tilgang/ca/", w.dir+"/", "/etc/tilgang/", w.dir+"/", "/var/lib/tilgang/", w.dir+"/").Replace(tt.text)
			w.write(t, "secrets/nats.creds", 0o600, "-----BEGIN NATS USER JWT-----\n")
			w.write(t, "nats-ca.pem", 0o644, selfSignedPEM(t))
			w.write(t, "secrets/ad-bind-password", 0o600, secretPassword+"\n")
			w.write(t, "ad-ca.pem", 0o644, selfSignedPEM(t))
			w.write(t, "secrets/smtp-password", 0o600, "smtp-"+secretPassword+"\n")
			path := w.write(t, "worker.yaml", 0o644, text)

			reg := DefaultRegistry()
			if _, err := reg.New("ad"); err != nil {
				// The ad connector has not registered itself yet: stand in
				// for it, accepting any settings, until it does (then its
				// own strict Config checks the examples' ad settings).
				reg.Register("ad", func() connectors.Config { return &anySettings{} })
			}
			c, err := w.check(t, path, reg)
			require.NoError(t, err)
			require.Equal(t, "postgres", c.Ledger.Driver)
			require.Equal(t, 3, c.NATS.StreamReplicas)
			require.Equal(t, []string{"ad", "manual", "noop"}, c.ConnectorNames())
			require.NotContains(t, c.Redacted(), secretPassword)
		})
	}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ROR-IKT test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

type anySettings map[string]any

func (*anySettings) Open(string, *slog.Logger) (connectors.Connector, error) {
	return nil, errors.New("stand-in")
}

func (a *anySettings) UnmarshalYAML(n *yaml.Node) error { return n.Decode((*map[string]any)(a)) }

// knownTypes is how the errors list the connector types this build has.
var knownTypes = strings.Join(DefaultRegistry().Types(), ", ")
