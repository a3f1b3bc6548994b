package entra

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// Type is the connector type name in the worker config.
const Type = "entra"

// Register adds the entra type to a connector registry.
func Register(r *connectors.Registry) {
	r.Register(Type, func() connectors.Config { return &Config{} })
}

// Config of an entra instance; the struct is the YAML schema. An example:
//
//	type: entra
//	tenant: 00000000-0000-0000-0000-000000000000   # the directory (tenant) id
//	client_id: 11111111-1111-1111-1111-111111111111 # the app registration, with User.ReadWrite.All
//	                                                # and GroupMember.ReadWrite.All (application)
//	client_secret_env: TILGANG_ENTRA_SECRET         # or client_secret_file: /run/secrets/entra-secret,
//	                                                # or client_certificate_file: /run/secrets/entra.pem
//	                                                # (the certificate and its RSA key, PEM)
//	# graph_url: https://graph.microsoft.com/v1.0   # the default; an emulator: http://127.0.0.1:8081/v1.0
//	# authority_url: https://login.microsoftonline.com
//	upn_suffix: ror.no                              # a verified domain; UPN = given.family@upn_suffix
//	usage_location: "NO"
//	synced_from_ad: false   # true in a hybrid tenant where users come from AD: never create, wait for the sync
//	concurrency: 4          # requests in flight towards Graph
//	timeout: 30s            # each request
//	max_retries: 4          # 429/503/5xx/network retries of one request
//	max_retry_wait: 30s     # a longer Retry-After goes back to the outbox as Throttled
//	replication_wait: 20s   # how long a just-created object may read as 404
//	password_length: 16
//	initial_credential: password   # or temporary_access_pass: the new user gets a Temporary Access
//	tap_lifetime: 8h               # Pass to set up passwordless sign-in with, handed out sealed instead
//	sign_in_activity: false  # true: reads list each account's last sign-in (signInActivity) for
//	                         # access reviews; needs Entra ID P1/P2 and AuditLog.Read.All, and
//	                         # Graph then pages users 120 at a time instead of 999
//
// The client secret is read when the instance opens and is never logged or
// printed (String redacts it).
type Config struct {
	Tenant           string        `yaml:"tenant"`
	ClientID         string        `yaml:"client_id"`
	ClientSecretEnv  string        `yaml:"client_secret_env"`
	ClientSecretFile string        `yaml:"client_secret_file"`
	ClientCertFile   string        `yaml:"client_certificate_file"`
	GraphURL         string        `yaml:"graph_url"`
	AuthorityURL     string        `yaml:"authority_url"`
	UPNSuffix        string        `yaml:"upn_suffix"`
	UsageLocation    string        `yaml:"usage_location"`
	SyncedFromAD     bool          `yaml:"synced_from_ad"`
	Concurrency      int           `yaml:"concurrency"`
	Timeout          time.Duration `yaml:"timeout"`
	MaxRetries       int           `yaml:"max_retries"`
	MaxRetryWait     time.Duration `yaml:"max_retry_wait"`
	ReplicationWait  time.Duration `yaml:"replication_wait"`
	PasswordLength   int           `yaml:"password_length" secret:"false"`
	// InitialCredential is what a new user's person gets: password (the
	// one-time password the user is created with) or temporary_access_pass.
	InitialCredential string        `yaml:"initial_credential" secret:"false"`
	TAPLifetime       time.Duration `yaml:"tap_lifetime"`
	// SignInActivity makes EachAccount select signInActivity, so each
	// account carries its last successful sign-in. Off by default: without
	// the licence or the permission Graph refuses the whole listing (403),
	// and with it Graph serves at most 120 users a page (user-list.md).
	SignInActivity bool `yaml:"sign_in_activity"`
}

// String describes the config without its secret.
func (c Config) String() string {
	return fmt.Sprintf("entra{tenant=%s client_id=%s secret=(redacted) graph_url=%s}", c.Tenant, c.ClientID, c.GraphURL)
}

var _ connectors.Defaulter = (*Config)(nil)

// WithDefaults is the config Open runs with (connectors.Defaulter).
func (c *Config) WithDefaults(name string) connectors.Config {
	d := c.withDefaults()
	return &d
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.GraphURL == "" {
		d.GraphURL = "https://graph.microsoft.com/v1.0"
	}
	d.GraphURL = strings.TrimRight(d.GraphURL, "/")
	if d.AuthorityURL == "" {
		d.AuthorityURL = "https://login.microsoftonline.com"
	}
	d.AuthorityURL = strings.TrimRight(d.AuthorityURL, "/")
	if d.UsageLocation == "" {
		d.UsageLocation = "NO"
	}
	if d.Concurrency == 0 {
		d.Concurrency = 4
	}
	if d.Timeout == 0 {
		d.Timeout = 30 * time.Second
	}
	if d.MaxRetries == 0 {
		d.MaxRetries = 4
	}
	if d.MaxRetryWait == 0 {
		d.MaxRetryWait = 30 * time.Second
	}
	if d.ReplicationWait == 0 {
		d.ReplicationWait = 20 * time.Second
	}
	if d.InitialCredential == "" {
		d.InitialCredential = "password"
	}
	if d.TAPLifetime == 0 {
		d.TAPLifetime = 8 * time.Hour
	}
	if d.PasswordLength == 0 {
		d.PasswordLength = 16
	}
	return d
}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.Tenant == "" || strings.ContainsAny(d.Tenant, "/?# ") {
		add("tenant %q must be the directory (tenant) id or a domain", d.Tenant)
	}
	if d.ClientID == "" {
		add("client_id is empty")
	}
	n := 0
	for _, v := range []string{d.ClientSecretEnv, d.ClientSecretFile, d.ClientCertFile} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		add("set client_secret_env, client_secret_file or client_certificate_file")
	case n > 1:
		add("set only one of client_secret_env, client_secret_file and client_certificate_file")
	case d.ClientCertFile != "":
		if _, err := loadCertificate(d.ClientCertFile); err != nil {
			add("%v", err)
		}
	case d.ClientSecretEnv != "" && os.Getenv(d.ClientSecretEnv) == "":
		add("client_secret_env: the environment variable %s is empty or unset", d.ClientSecretEnv)
	case d.ClientSecretFile != "":
		if _, err := os.Stat(d.ClientSecretFile); err != nil {
			add("client_secret_file: %v", err)
		}
	}
	for name, v := range map[string]string{"graph_url": d.GraphURL, "authority_url": d.AuthorityURL} {
		u, err := url.Parse(v)
		switch {
		case err != nil:
			add("%s %q: %v", name, v, err)
		case u.Host == "":
			add("%s %q names no host", name, v)
		case u.Scheme == "http" && !loopback(u.Hostname()):
			add("%s %q: plain http is only for an emulator on a loopback address", name, v)
		case u.Scheme != "https" && u.Scheme != "http":
			add("%s %q: the scheme must be https", name, v)
		}
	}
	if d.UPNSuffix == "" || strings.ContainsAny(d.UPNSuffix, "@ ,") {
		add("upn_suffix %q must be a verified domain such as ror.no", d.UPNSuffix)
	}
	if len(d.UsageLocation) != 2 {
		add("usage_location %q must be a two-letter country code", d.UsageLocation)
	}
	if d.Concurrency < 1 || d.Concurrency > 64 {
		add("concurrency %d must be 1..64", d.Concurrency)
	}
	if d.Timeout < 0 || d.MaxRetryWait < 0 || d.ReplicationWait < 0 {
		add("timeout, max_retry_wait and replication_wait must be positive")
	}
	if d.MaxRetries < 0 || d.MaxRetries > 20 {
		add("max_retries %d must be 0..20", d.MaxRetries)
	}
	if d.InitialCredential != "password" && d.InitialCredential != "temporary_access_pass" {
		add("initial_credential %q must be password or temporary_access_pass", d.InitialCredential)
	}
	if d.TAPLifetime < 10*time.Minute || d.TAPLifetime > 30*24*time.Hour {
		add("tap_lifetime %s must be between 10m and 720h (Graph's limits)", d.TAPLifetime)
	}
	if d.PasswordLength < 12 || d.PasswordLength > 256 {
		add("password_length %d must be 12..256", d.PasswordLength)
	}
	if len(errs) > 0 {
		return tilgang.Errorf(tilgang.Invalid, "entra config: %s", strings.Join(errs, "; "))
	}
	return nil
}

func loopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

func (c *Config) secret() (string, error) {
	if c.ClientSecretEnv != "" {
		if v := os.Getenv(c.ClientSecretEnv); v != "" {
			return v, nil
		}
		return "", tilgang.Errorf(tilgang.Invalid, "entra: environment variable %s is empty", c.ClientSecretEnv)
	}
	b, err := os.ReadFile(c.ClientSecretFile)
	if err != nil {
		return "", tilgang.Wrap(tilgang.Invalid, err, "entra: client_secret_file")
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", tilgang.Errorf(tilgang.Invalid, "entra: client_secret_file %s is empty", c.ClientSecretFile)
	}
	return s, nil
}

// Open validates the config, reads the secret and returns the instance. It
// does not connect: the first operation fetches a token.
func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Open(name, *c, logger)
}

func newTokenClient(cfg Config) *http.Client {
	return &http.Client{Timeout: cfg.Timeout, Transport: telemetry.Transport(nil)}
}
