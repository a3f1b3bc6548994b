package httpconn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// Retry bounds the one retry layer of this hop.
type Retry struct {
	Max           *int          `yaml:"max"`
	WaitMin       time.Duration `yaml:"wait_min"`
	WaitMax       time.Duration `yaml:"wait_max"`
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// RateLimit bounds what the instance sends: real services throttle hard.
type RateLimit struct {
	PerSecond   float64 `yaml:"per_second"`  // 0: unlimited
	Burst       int     `yaml:"burst"`       // default: max(1, per_second)
	Concurrency int     `yaml:"concurrency"` // operations in flight; default 4
}

// Defaults fills what was left out: 3 retries between 200 ms and 5 s,
// Retry-After waited for up to 10 s.
func (r *Retry) Defaults() {
	if r.Max == nil {
		n := 3
		r.Max = &n
	}
	if r.WaitMin == 0 {
		r.WaitMin = 200 * time.Millisecond
	}
	if r.WaitMax == 0 {
		r.WaitMax = 5 * time.Second
	}
	if r.MaxRetryAfter == 0 {
		r.MaxRetryAfter = 10 * time.Second
	}
}

// Defaults fills what was left out: a burst of the rate, 4 operations in
// flight.
func (l *RateLimit) Defaults() {
	if l.Burst == 0 {
		l.Burst = max(1, int(l.PerSecond))
	}
	if l.Concurrency == 0 {
		l.Concurrency = 4
	}
}

// Problems lists what is wrong with the settings (after Defaults), each
// naming its field.
func (r Retry) Problems() []string {
	var out []string
	if *r.Max < 0 || *r.Max > 10 {
		out = append(out, "retry.max "+strconv.Itoa(*r.Max)+" must be 0..10 (longer faults are the outbox's to retry)")
	}
	if r.WaitMin < 0 || r.WaitMax < r.WaitMin {
		out = append(out, "retry.wait_min and retry.wait_max must be positive, wait_min <= wait_max")
	}
	if r.MaxRetryAfter < 0 || r.MaxRetryAfter > time.Minute {
		out = append(out, "retry.max_retry_after "+r.MaxRetryAfter.String()+" must be 0..1m (longer waits are the outbox's)")
	}
	return out
}

// Problems lists what is wrong with the settings (after Defaults).
func (l RateLimit) Problems() []string {
	var out []string
	if l.PerSecond < 0 || l.Burst < 1 || l.Concurrency < 1 || l.Concurrency > 256 {
		out = append(out, "rate_limit: per_second must be >= 0, burst >= 1, concurrency 1..256")
	}
	return out
}

// Client describes the HTTP client of a connector instance.
type Client struct {
	Connector  string // "rest", "scim": names errors and log lines
	CAFile     string // trusted roots besides the system's; "" for the system's only
	Timeout    time.Duration
	Retry      Retry
	RateLimit  RateLimit
	CheckRetry retryablehttp.CheckRetry
	Count      func(method string) // told each request's method, when set
	Log        *slog.Logger
}

// New builds the client: TLS 1.2 or later, no redirects followed (one could
// carry the Authorization header elsewhere), every attempt waiting for the
// rate limiter, one retry layer whose last answer is returned as it is to
// be classified by the connector.
func (c Client) New() (*retryablehttp.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, tilgang.Wrap(tilgang.Invalid, err, "%s: ca_file", c.Connector)
		}
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(b)
	}
	limit := rate.Inf
	if c.RateLimit.PerSecond > 0 {
		limit = rate.Limit(c.RateLimit.PerSecond)
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: c.RateLimit.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport:     Limited{Next: telemetry.Transport(tr), Limiter: rate.NewLimiter(limit, c.RateLimit.Burst), Count: c.Count},
			Timeout:       c.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin: c.Retry.WaitMin,
		RetryWaitMax: c.Retry.WaitMax,
		RetryMax:     *c.Retry.Max,
		CheckRetry:   c.CheckRetry,
		Backoff:      retryablehttp.DefaultBackoff, // honours Retry-After on 429/503 (capped by CheckRetry)
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil {
				return resp, nil // classified from the last answer
			}
			return nil, err
		},
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			if attempt > 0 {
				c.Log.Info(c.Connector+": retrying", "method", r.Method, "path", r.URL.EscapedPath(), "attempt", attempt+1)
			}
		},
	}, nil
}

// Auth says how requests authenticate; secrets come from env or a file.
type Auth struct {
	Type         string `yaml:"type"` // bearer, basic, or (where allowed) none
	TokenEnv     string `yaml:"token_env"`
	TokenFile    string `yaml:"token_file"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// Problems lists what is wrong with the settings, each naming its field:
// a secret neither or doubly given, an empty variable, a missing file.
// types are the auth types the connector takes.
func (a Auth) Problems(types ...string) []string {
	var out []string
	secret := func(what, env, file string) {
		switch {
		case env == "" && file == "":
			out = append(out, fmt.Sprintf("auth: set %s_env or %s_file", what, what))
		case env != "" && file != "":
			out = append(out, fmt.Sprintf("auth: set only one of %s_env and %s_file", what, what))
		case env != "" && os.Getenv(env) == "":
			out = append(out, fmt.Sprintf("auth.%s_env: the environment variable %s is empty or unset", what, env))
		case file != "":
			if _, err := os.Stat(file); err != nil {
				out = append(out, fmt.Sprintf("auth.%s_file: %v", what, err))
			}
		}
	}
	switch {
	case !slices.Contains(types, a.Type):
		out = append(out, fmt.Sprintf("auth.type %q must be %s", a.Type, oneOf(types)))
	case a.Type == "bearer":
		secret("token", a.TokenEnv, a.TokenFile)
	case a.Type == "basic":
		if a.Username == "" {
			out = append(out, "auth.username is empty")
		}
		secret("password", a.PasswordEnv, a.PasswordFile)
	}
	return out
}

// Header reads the secret and returns the Authorization header's value,
// "" for none. Errors name the variable or file, never the secret.
func (a Auth) Header(connector string) (string, error) {
	switch a.Type {
	case "bearer":
		tok, err := Secret(connector, "token", a.TokenEnv, a.TokenFile)
		return "Bearer " + tok, err
	case "basic":
		pw, err := Secret(connector, "password", a.PasswordEnv, a.PasswordFile)
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+pw)), err
	}
	return "", nil
}

// oneOf is "a, b or c".
func oneOf(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
