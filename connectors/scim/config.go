package scim

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// Type is the connector type name in the worker config.
const Type = "scim"

// Register adds the scim type to a connector registry.
func Register(r *connectors.Registry) {
	r.Register(Type, func() connectors.Config { return &Config{} })
}

// Config of a scim instance; the struct is the YAML schema. An example:
//
//	type: scim
//	base_url: https://visma.example.no/scim/v2    # https; http only for loopback
//	ca_file: /etc/tilgang/visma-ca.pem             # optional; empty: the system roots
//	auth:
//	  type: bearer                                 # bearer or basic
//	  token_env: TILGANG_VISMA_SCIM_TOKEN          # or token_file: /run/secrets/visma-scim
//	user_name: "{email}"                           # userName of a new account: {id} {email} {given} {family}
//	groups_by: displayName                         # an entitlement names a group by displayName or id
//	delete_on_disable: false                       # true: Disable deletes the user (never by default)
//	page_size: 100                                 # listing pages (startIndex/count)
//	timeout: 10s                                   # each attempt
//	retry: { max: 3, wait_min: 200ms, wait_max: 5s, max_retry_after: 10s }
//	rate_limit: { per_second: 10, burst: 10, concurrency: 4 }   # Slack: 600 writes/min
//
// A user is found by externalId (the employee number) and then by userName
// before one is created, so an existing account is adopted, never
// duplicated. The token and password are read when the instance opens and
// are never logged.
type Config struct {
	BaseURL         string        `yaml:"base_url"`
	CAFile          string        `yaml:"ca_file"`
	Auth            Auth          `yaml:"auth"`
	UserName        string        `yaml:"user_name"`
	GroupsBy        string        `yaml:"groups_by"`
	DeleteOnDisable bool          `yaml:"delete_on_disable"`
	PageSize        int           `yaml:"page_size"`
	Timeout         time.Duration `yaml:"timeout"`
	Retry           Retry         `yaml:"retry"`
	RateLimit       RateLimit     `yaml:"rate_limit"`
}

// Auth says how requests authenticate; secrets come from env or a file.
type Auth = httpconn.Auth

// Retry bounds the one retry layer of this hop.
type Retry = httpconn.Retry

// RateLimit bounds what the instance sends.
type RateLimit = httpconn.RateLimit

// String describes the config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("scim{base_url=%s auth=%s credentials=(redacted)}", c.BaseURL, c.Auth.Type)
}

var _ connectors.Defaulter = (*Config)(nil)

// WithDefaults is the config Open runs with (connectors.Defaulter).
func (c *Config) WithDefaults(name string) connectors.Config {
	d := c.withDefaults()
	return &d
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Auth.Type == "" {
		d.Auth.Type = "bearer"
	}
	if d.UserName == "" {
		d.UserName = "{email}"
	}
	if d.GroupsBy == "" {
		d.GroupsBy = "displayName"
	}
	if d.PageSize == 0 {
		d.PageSize = 100
	}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	d.Retry.Defaults()
	d.RateLimit.Defaults()
	return d
}

var userNameFields = []string{"{id}", "{email}", "{given}", "{family}"}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(d.BaseURL)
	switch {
	case d.BaseURL == "":
		add("base_url is empty (for example https://visma.example.no/scim/v2)")
	case err != nil:
		add("base_url %q: %v", d.BaseURL, err)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		add("base_url %q must be an https:// URL", d.BaseURL)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		add("base_url %q: plain http is allowed only to a loopback address; use https", d.BaseURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		add("base_url %q must hold no credentials, query or fragment", d.BaseURL)
	}
	if d.CAFile != "" {
		if b, err := os.ReadFile(d.CAFile); err != nil {
			add("ca_file: %v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			add("ca_file %s holds no PEM certificate", d.CAFile)
		}
	}
	for _, p := range d.Auth.Problems("bearer", "basic") {
		add("%s", p)
	}
	rest := d.UserName
	for _, f := range userNameFields {
		rest = strings.ReplaceAll(rest, f, "")
	}
	if rest == d.UserName || strings.ContainsAny(rest, "{}") {
		add("user_name %q must use {id}, {email}, {given} or {family} and no other {...}", d.UserName)
	}
	if d.GroupsBy != "displayName" && d.GroupsBy != "id" {
		add("groups_by %q must be displayName or id", d.GroupsBy)
	}
	if d.PageSize < 1 || d.PageSize > 1000 {
		add("page_size %d must be 1..1000", d.PageSize)
	}
	if d.Timeout < 0 {
		add("timeout must be positive")
	}
	for _, p := range append(d.Retry.Problems(), d.RateLimit.Problems()...) {
		add("%s", p)
	}
	if len(errs) > 0 {
		return tilgang.Errorf(tilgang.Invalid, "scim config: %s", strings.Join(errs, "; "))
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// Open validates the config, reads the credentials and returns the
// instance. It does not contact the service: the first operation does.
func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Open(name, *c, logger)
}
