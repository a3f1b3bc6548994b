package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// unsafeKey marks a request in its context as one the server may have
// applied even though no answer came (a POST, a PATCH add): the retry layer
// retries it only when the server certainly did not act on it (429, 503, a
// refused connection); otherwise the operation reads the target to see.
type unsafeKey struct{}

func (c *Connector) newHTTP(d Config) (err error) {
	c.client, err = httpconn.Client{Connector: "scim", CAFile: d.CAFile, Timeout: d.Timeout, Retry: d.Retry, RateLimit: d.RateLimit,
		CheckRetry: c.checkRetry, Count: c.requests.add, Log: c.logger}.New()
	return err
}

// checkRetry: the default policy (connection errors, 429, 5xx but 501),
// except that a Retry-After beyond the cap goes back to the outbox, and an
// unsafe request is retried only when it certainly was not applied.
func (c *Connector) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if ra, ok := httpconn.RetryAfter(resp.Header, time.Now()); ok && ra > c.cfg.Retry.MaxRetryAfter {
			return false, nil
		}
		return true, nil
	}
	if unsafe, _ := ctx.Value(unsafeKey{}).(bool); unsafe {
		var oe *net.OpError
		if err != nil && errors.As(err, &oe) && oe.Op == "dial" {
			return true, nil // never reached the server
		}
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// scimError is the SCIM error schema (RFC 7644 3.12); status is a string
// in the RFC, a number at some services.
type scimError struct {
	Status   json.RawMessage `json:"status"`
	ScimType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request through the retry layer; a 2xx answer is returned,
// anything else is classified.
func (c *Connector) do(ctx context.Context, method, path string, query url.Values, body any, unsafe bool, what string) (*answer, error) {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "scim: %s", what)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var raw any
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, tilgang.Wrap(tilgang.Internal, err, "scim: %s", what)
		}
		raw = b
	}
	if unsafe {
		ctx = context.WithValue(ctx, unsafeKey{}, true)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u, raw)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "scim: %s", what)
	}
	req.Header.Set("Accept", "application/scim+json, application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	req.Header.Set("Authorization", c.auth)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, classify(nil, err, "scim: %s: %s %s", what, method, req.URL.EscapedPath())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, classify(nil, err, "scim: %s: %s %s: reading the answer", what, method, req.URL.EscapedPath())
	}
	a := &answer{status: resp.StatusCode, header: resp.Header, body: b}
	if a.status >= 200 && a.status < 300 {
		return a, nil
	}
	return a, classify(a, nil, "scim: %s: %s %s", what, method, req.URL.EscapedPath())
}

// Error is a classified SCIM error answer; it unwraps to *tilgang.Error.
type Error struct {
	Err      *tilgang.Error
	Status   int
	ScimType string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// classify is the one place that turns SCIM answers and transport errors
// into the project's error kinds, keeping the server's scimType and detail.
func classify(a *answer, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if a == nil {
		return httpconn.TransportError(err, msg)
	}
	var se scimError
	_ = json.Unmarshal(a.body, &se)
	e := &tilgang.Error{Message: fmt.Sprintf("%s: %d", msg, a.status)}
	if se.ScimType != "" {
		e.Message += " " + se.ScimType
	}
	switch {
	case se.Detail != "":
		e.Message += ": " + truncate(se.Detail, 500)
	case len(bytes.TrimSpace(a.body)) > 0 && se.Status == nil:
		e.Message += ": " + truncate(strings.ToValidUTF8(string(bytes.TrimSpace(a.body)), "?"), 200)
	}
	e.Kind, e.RetryAfter = httpconn.StatusKind(a.status, a.header)
	return &Error{Err: e, Status: a.status, ScimType: se.ScimType}
}

func scimTypeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ScimType
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
