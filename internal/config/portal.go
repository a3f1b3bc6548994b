package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/ror-ikt/tilgang/internal/sessionkey"
)

// Portal is the `portal:` section: the web application managers,
// systemansvarlige, HR and auditors use (DESIGN.md "The portal"). Without
// it the worker serves no portal.
//
//	portal:
//	  public_url: https://tilgang.ror.kommune.no   # the only Host accepted; base of redirects and mail links
//	  session_keys: [/etc/tilgang/secrets/session-2026.key, /etc/tilgang/secrets/session-2025.key]
//	  key: /etc/tilgang/keys/portal.nk   # the seed of service principal portal (on_behalf)
//	  oidc:
//	    issuer: https://login.microsoftonline.com/TENANT/v2.0
//	    client_id: 00000000-0000-0000-0000-000000000000
//	    client_secret_env: TILGANG_OIDC_SECRET
//	    person_claim: employee_id   # matches a person's id; "email" matches their e-mail (only when email_verified)
//
// session_keys names files, each holding one key: 32 random bytes, base64
// (`head -c32 /dev/urandom | base64`). The first seals new sessions; all
// open them, so a new key is put first and the old one kept until its
// sessions have ended (8 hours).
type Portal struct {
	PublicURL   string     `yaml:"public_url"`
	SessionKeys []string   `yaml:"session_keys" secret:"false"`
	Key         string     `yaml:"key" secret:"false"`
	OIDC        PortalOIDC `yaml:"oidc"`
}

// PortalOIDC is how the portal signs people in: OpenID Connect,
// authorization code with PKCE.
type PortalOIDC struct {
	Issuer          string `yaml:"issuer"`
	ClientID        string `yaml:"client_id"`
	ClientSecretEnv string `yaml:"client_secret_env"`
	PersonClaim     string `yaml:"person_claim"`
}

// SessionKeyLen is the length of a session key: AES-256.
const SessionKeyLen = sessionkey.Len

// ReadSessionKey reads a session key file (sessionkey.Read).
func ReadSessionKey(path string) ([]byte, error) { return sessionkey.Read(path) }

// ClientSecret is the OIDC client secret from its environment variable.
func (c *Config) ClientSecret() string {
	if c.Portal == nil || c.Portal.OIDC.ClientSecretEnv == "" {
		return ""
	}
	return c.getenv(c.Portal.OIDC.ClientSecretEnv)
}

// validatePortal adds the portal section's problems.
func (c *Config) validatePortal(add func(string, string, ...any)) {
	p := c.Portal
	if p == nil {
		return
	}
	if p.PublicURL == "" {
		add("portal.public_url", "missing: the address people reach the portal at, e.g. https://tilgang.example.kommune.no")
	} else if msg := checkPublicURL(p.PublicURL, "public_url"); msg != "" {
		add("portal.public_url", "%s", msg)
	}
	if len(p.SessionKeys) == 0 {
		add("portal.session_keys", "missing: at least one file holding a session key (`head -c32 /dev/urandom | base64 > FILE; chmod 600 FILE`)")
	}
	for i, f := range p.SessionKeys {
		path := fmt.Sprintf("portal.session_keys[%d]", i)
		if f == "" {
			add(path, "empty: name a file holding a session key")
			continue
		}
		if c.checkFile(add, path, f, true) {
			if _, err := ReadSessionKey(f); err != nil {
				add(path, "%s", err)
			}
		}
	}
	if p.Key == "" {
		add("portal.key", "missing: the seed file of the service principal portal, which signs for the person signed in (its public key in the principals file with capability on_behalf)")
	} else {
		c.checkFile(add, "portal.key", p.Key, true)
	}
	o := p.OIDC
	if o.Issuer == "" {
		add("portal.oidc.issuer", "missing: the OpenID Connect issuer people sign in with (Entra ID: https://login.microsoftonline.com/TENANT/v2.0)")
	} else if msg := checkPublicURL(o.Issuer, "issuer"); msg != "" {
		add("portal.oidc.issuer", "%s", msg)
	}
	if o.ClientID == "" {
		add("portal.oidc.client_id", "missing: the portal's client id at the issuer")
	}
	switch {
	case o.ClientSecretEnv == "":
		add("portal.oidc.client_secret_env", "missing: the environment variable holding the client secret")
	case !envName.MatchString(o.ClientSecretEnv):
		add("portal.oidc.client_secret_env", "%q is not an environment variable name", o.ClientSecretEnv)
	case c.getenv(o.ClientSecretEnv) == "":
		add("portal.oidc.client_secret_env", "the environment variable %s is not set or empty", o.ClientSecretEnv)
	}
	if o.PersonClaim == "" {
		add("portal.oidc.person_claim", "missing: the ID token claim that holds a person's id (e.g. employee_id), or email")
	} else if strings.ContainsAny(o.PersonClaim, " \t\n") {
		add("portal.oidc.person_claim", "%q is not a claim name", o.PersonClaim)
	}
}

// checkPublicURL: an absolute https URL without query, fragment or user
// (http only on a loopback host, for tests).
func checkPublicURL(s, what string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL (https://host)", redactString(s))
	}
	if u.User != nil {
		return fmt.Sprintf("%q holds a user name or password: leave them out", redactString(s))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q has a query or fragment: the %s is scheme, host and path only", s, what)
	}
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Sprintf("%q is http: use https (http only on a loopback address)", s)
		}
	default:
		return fmt.Sprintf("%q must be https://", s)
	}
	return ""
}
