// Package httpconn holds what the HTTP-based connectors (scim, rest) share:
// their HTTP client with its auth, retry and rate-limit settings, the error kind
// of an HTTP status, reading a secret from the environment or a file,
// reading Retry-After, and a transport that waits for a rate limiter before
// every attempt.
package httpconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ror-ikt/tilgang"
)

// Secret reads a secret from the environment variable env when it is set,
// else from file (its first line). Errors name the variable or the file,
// never the value; connector prefixes them ("scim", "rest").
func Secret(connector, what, env, file string) (string, error) {
	if env != "" {
		if v := os.Getenv(env); v != "" {
			return v, nil
		}
		return "", tilgang.Errorf(tilgang.Invalid, "%s: environment variable %s is empty", connector, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", tilgang.Wrap(tilgang.Invalid, err, "%s: auth %s_file", connector, what)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", tilgang.Errorf(tilgang.Invalid, "%s: auth %s_file %s is empty", connector, what, file)
	}
	return s, nil
}

// RetryAfter reads a Retry-After header: seconds, or an HTTP date.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// Limited waits for Limiter before every attempt (retries included) and
// tells Count, when set, each request's method.
type Limited struct {
	Next    http.RoundTripper
	Limiter *rate.Limiter
	Count   func(method string)
}

func (t Limited) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.Limiter.Wait(r.Context()); err != nil {
		return nil, err
	}
	if t.Count != nil {
		t.Count(r.Method)
	}
	return t.Next.RoundTrip(r)
}

// TransportError classifies a request that failed without an answer:
// cancelled or timed out, and connection refused, reset or DNS failures,
// are Unavailable (the system may come back); an untrusted server
// certificate is Denied (the ca_file is wrong); an error already
// classified keeps its kind. msg says what was being done.
func TransportError(err error, msg string) error {
	var te *tilgang.Error
	switch {
	case errors.As(err, &te):
		return tilgang.Wrap(te.Kind, err, "%s", msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
	}
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return tilgang.Wrap(tilgang.Denied, err, "%s: the server's certificate is not trusted (ca_file)", msg)
	}
	return tilgang.Wrap(tilgang.Unavailable, err, "%s", msg)
}

// StatusKind classifies an answer that is not a success: 429, and 503 with
// Retry-After, are Throttled (with the wait it asks for); other 5xx and 408
// Unavailable; 401 and 403 Denied; 404 and 410 NotFound; 409 and 412
// Conflict; everything else (400, 422, an unexpected 2xx or 3xx such as a
// redirect to a login page) Invalid: the request is wrong and stays wrong.
func StatusKind(status int, h http.Header) (tilgang.Kind, time.Duration) {
	ra, hasRA := RetryAfter(h, time.Now())
	switch {
	case status == http.StatusTooManyRequests:
		return tilgang.Throttled, ra
	case status == http.StatusServiceUnavailable && hasRA:
		return tilgang.Throttled, ra
	case status >= 500, status == http.StatusRequestTimeout:
		return tilgang.Unavailable, 0
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return tilgang.Denied, 0
	case status == http.StatusNotFound, status == http.StatusGone:
		return tilgang.NotFound, 0
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return tilgang.Conflict, 0
	}
	return tilgang.Invalid, 0
}
