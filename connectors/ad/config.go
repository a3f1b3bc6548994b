package ad

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Type is the connector type name in the worker config.
const Type = "ad"

// Register adds the ad type to a connector registry.
func Register(r *connectors.Registry) {
	r.Register(Type, func() connectors.Config { return &Config{} })
}

// Config of an ad instance; the struct is the YAML schema. An example:
//
//	type: ad
//	url: ldaps://dc1.ror.local:636           # ldaps:// by default; ldap:// needs start_tls or insecure_plain_ldap
//	ca_file: /etc/tilgang/ad-ca.pem          # the CA that signed the DC's certificate; empty: the system roots
//	# server_name: dc1.ror.local             # the name to verify, when the URL uses an address
//	# start_tls: true                        # with an ldap:// URL: upgrade with StartTLS before binding
//	# insecure_plain_ldap: false             # with an ldap:// URL and no StartTLS: plain text. A lab only;
//	                                         # AD refuses passwords (unicodePwd) on it, so no account can be created
//	bind_dn: CN=svc-tilgang,OU=Service,DC=ror,DC=local   # or a UPN: svc-tilgang@ror.local
//	bind_password_env: TILGANG_AD_PASSWORD   # or bind_password_file: /run/secrets/ad-password
//	base_dn: DC=ror,DC=local                 # where accounts are searched for
//	user_ou: OU={municipality},OU=ROR,DC=ror,DC=local   # where a new account is made ({municipality} escaped)
//	user_ous: { "1547": "OU=Aukra,OU=ROR,DC=ror,DC=local" }   # optional, overrides user_ou per municipality
//	upn_suffix: ror.local                    # userPrincipalName = sAMAccountName@upn_suffix
//	username_pattern: "{given:3}{family:3}"  # see Pattern; collisions get 2, 3, ... checked in the directory
//	correlate_attribute: employeeID          # holds the person id; an account carrying it is adopted
//	leaver:
//	  ou: OU=Deaktivert,DC=ror,DC=local      # a disabled account is moved here (empty: not moved)
//	  mark_attribute: description            # optional: set to "tilgang: disabled <date>" on disable (the Oslo date)
//	  keep_groups: false                     # false: a disabled account leaves every group
//	pool_size: 4                             # connections, and so the bound on concurrent operations
//	timeout: 10s                             # each LDAP operation
//	dial_timeout: 5s
//	page_size: 500                           # paged searches (AD's MaxPageSize is 1000)
//	range_size: 1500                         # member;range=... retrieval (AD's MaxValRange is 1500)
//	password_length: 20                      # generated initial passwords (one-time: changed at first logon)
//
// The bind password is read when the instance opens and is never logged or
// printed (String redacts it).
type Config struct {
	URL               string            `yaml:"url"`
	CAFile            string            `yaml:"ca_file"`
	ServerName        string            `yaml:"server_name"`
	StartTLS          bool              `yaml:"start_tls"`
	InsecurePlainLDAP bool              `yaml:"insecure_plain_ldap"`
	BindDN            string            `yaml:"bind_dn"`
	BindPasswordEnv   string            `yaml:"bind_password_env"`
	BindPasswordFile  string            `yaml:"bind_password_file"`
	BaseDN            string            `yaml:"base_dn"`
	UserOU            string            `yaml:"user_ou"`
	UserOUs           map[string]string `yaml:"user_ous"`
	UPNSuffix         string            `yaml:"upn_suffix"`
	UsernamePattern   string            `yaml:"username_pattern"`
	CorrelateAttr     string            `yaml:"correlate_attribute"`
	Leaver            LeaverConfig      `yaml:"leaver"`
	PoolSize          int               `yaml:"pool_size"`
	Timeout           time.Duration     `yaml:"timeout"`
	DialTimeout       time.Duration     `yaml:"dial_timeout"`
	PageSize          int               `yaml:"page_size"`
	RangeSize         int               `yaml:"range_size"`
	PasswordLength    int               `yaml:"password_length" secret:"false"`

	// Now is the clock (for the leaver mark); nil is time.Now. Not YAML.
	Now func() time.Time `yaml:"-"`
}

// LeaverConfig says what Disable does besides clearing the enabled bit.
type LeaverConfig struct {
	OU            string `yaml:"ou"`
	MarkAttribute string `yaml:"mark_attribute"`
	KeepGroups    bool   `yaml:"keep_groups"`
}

// String describes the config without its secret.
func (c Config) String() string {
	return fmt.Sprintf("ad{url=%s bind_dn=%s password=(redacted) base_dn=%s}", c.URL, c.BindDN, c.BaseDN)
}

var _ connectors.Defaulter = (*Config)(nil)

// WithDefaults is the config Open runs with (connectors.Defaulter).
func (c *Config) WithDefaults(name string) connectors.Config {
	d := c.withDefaults()
	return &d
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.UsernamePattern == "" {
		d.UsernamePattern = "{given:3}{family:3}"
	}
	if d.CorrelateAttr == "" {
		d.CorrelateAttr = "employeeID"
	}
	if d.PoolSize == 0 {
		d.PoolSize = 4
	}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	if d.DialTimeout == 0 {
		d.DialTimeout = 5 * time.Second
	}
	if d.PageSize == 0 {
		d.PageSize = 500
	}
	if d.RangeSize == 0 {
		d.RangeSize = 1500
	}
	if d.PasswordLength == 0 {
		d.PasswordLength = 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.URL == "" {
		add("url is empty (for example ldaps://dc1.ror.local:636)")
	} else if u, err := url.Parse(d.URL); err != nil {
		add("url %q: %v", d.URL, err)
	} else {
		switch u.Scheme {
		case "ldaps":
			if d.StartTLS {
				add("start_tls is for ldap:// URLs; %s is already TLS", d.URL)
			}
			if d.InsecurePlainLDAP {
				add("insecure_plain_ldap contradicts the ldaps:// URL")
			}
		case "ldap":
			if !d.StartTLS && !d.InsecurePlainLDAP {
				add("url %s is plain LDAP: set start_tls: true, or insecure_plain_ldap: true for a lab (passwords cannot be set without TLS)", d.URL)
			}
			if d.StartTLS && d.InsecurePlainLDAP {
				add("start_tls and insecure_plain_ldap contradict each other")
			}
		default:
			add("url %q: the scheme must be ldaps or ldap", d.URL)
		}
		if u.Host == "" {
			add("url %q names no host", d.URL)
		}
	}
	if d.CAFile != "" {
		if b, err := os.ReadFile(d.CAFile); err != nil {
			add("ca_file: %v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			add("ca_file %s holds no PEM certificate", d.CAFile)
		}
	}
	if d.BindDN == "" {
		add("bind_dn is empty")
	}
	switch {
	case d.BindPasswordEnv == "" && d.BindPasswordFile == "":
		add("set bind_password_env or bind_password_file")
	case d.BindPasswordEnv != "" && d.BindPasswordFile != "":
		add("set only one of bind_password_env and bind_password_file")
	case d.BindPasswordEnv != "" && os.Getenv(d.BindPasswordEnv) == "":
		add("bind_password_env: the environment variable %s is empty or unset", d.BindPasswordEnv)
	case d.BindPasswordFile != "":
		if _, err := os.Stat(d.BindPasswordFile); err != nil {
			add("bind_password_file: %v", err)
		}
	}
	dnField := func(name, v string, required bool) {
		if v == "" {
			if required {
				add("%s is empty", name)
			}
			return
		}
		if _, err := ldap.ParseDN(strings.ReplaceAll(v, "{municipality}", "x")); err != nil {
			add("%s %q is not a DN: %v", name, v, err)
		}
	}
	dnField("base_dn", d.BaseDN, true)
	if d.UserOU == "" && len(d.UserOUs) == 0 {
		add("user_ou is empty (for example OU={municipality},OU=ROR,%s)", d.BaseDN)
	}
	dnField("user_ou", d.UserOU, false)
	for m, ou := range d.UserOUs {
		dnField(fmt.Sprintf("user_ous[%s]", m), ou, true)
	}
	dnField("leaver.ou", d.Leaver.OU, false)
	if d.UPNSuffix == "" || strings.ContainsAny(d.UPNSuffix, "@ ,") {
		add("upn_suffix %q must be a domain such as ror.local", d.UPNSuffix)
	}
	if _, err := ParsePattern(d.UsernamePattern); err != nil {
		add("username_pattern: %v", err)
	}
	if !attrNameRE.MatchString(d.CorrelateAttr) {
		add("correlate_attribute %q is not an attribute name", d.CorrelateAttr)
	}
	if d.Leaver.MarkAttribute != "" && !attrNameRE.MatchString(d.Leaver.MarkAttribute) {
		add("leaver.mark_attribute %q is not an attribute name", d.Leaver.MarkAttribute)
	}
	if d.PoolSize < 1 || d.PoolSize > 64 {
		add("pool_size %d must be 1..64", d.PoolSize)
	}
	if d.Timeout < 0 || d.DialTimeout < 0 {
		add("timeout and dial_timeout must be positive")
	}
	if d.PageSize < 1 || d.PageSize > 1000 {
		add("page_size %d must be 1..1000", d.PageSize)
	}
	if d.RangeSize < 2 {
		add("range_size %d must be at least 2", d.RangeSize)
	}
	if d.PasswordLength < 14 || d.PasswordLength > 128 {
		add("password_length %d must be 14..128", d.PasswordLength)
	}
	if len(errs) > 0 {
		return tilgang.Errorf(tilgang.Invalid, "ad config: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (c *Config) password() (string, error) {
	if c.BindPasswordEnv != "" {
		if v := os.Getenv(c.BindPasswordEnv); v != "" {
			return v, nil
		}
		return "", tilgang.Errorf(tilgang.Invalid, "ad: environment variable %s is empty", c.BindPasswordEnv)
	}
	b, err := os.ReadFile(c.BindPasswordFile)
	if err != nil {
		return "", tilgang.Wrap(tilgang.Invalid, err, "ad: bind_password_file")
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", tilgang.Errorf(tilgang.Invalid, "ad: bind_password_file %s is empty", c.BindPasswordFile)
	}
	return pw, nil
}

func (c *Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, tilgang.Wrap(tilgang.Invalid, err, "ad: ca_file")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, tilgang.Errorf(tilgang.Invalid, "ad: ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Open validates the config, reads the bind password and returns the
// instance. It does not connect: the first operation does, so a worker
// starts while a DC is down and its operations are retried.
func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	return Open(name, *c, logger)
}
