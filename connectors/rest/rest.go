// Package rest is the connector for fagsystemer with an HTTP API of their
// own: each connector method is a request template in the config (method,
// path, headers, JSON body over the person and the entitlement), with the
// statuses that mean success and how the system says "already done". It has
// exactly one retry layer, go-retryablehttp, for short faults (a dropped
// connection, a 5xx, a 429/503 whose Retry-After is within a cap); anything
// longer is returned as Throttled or Unavailable for the outbox to
// reschedule. Answers are classified into the project's error kinds in one
// place, classify.
package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

var _ connectors.Connector = (*Connector)(nil)

// compiled is a validated config with its templates parsed.
type compiled struct {
	cfg  Config
	base *url.URL
	ops  map[string]*op
}

// Connector is a rest instance.
type Connector struct {
	name   string
	c      *compiled
	logger *slog.Logger
	client *retryablehttp.Client
	auth   string // the Authorization header value; never logged
	sem    chan struct{}
}

// Open validates cfg, reads its credentials and builds the HTTP client.
func Open(name string, cfg Config, logger *slog.Logger) (*Connector, error) {
	comp, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	d := comp.cfg
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{name: name, c: comp, logger: logger.With("connector", name), sem: make(chan struct{}, d.RateLimit.Concurrency)}
	if c.auth, err = d.Auth.Header("rest"); err != nil {
		return nil, err
	}
	if c.client, err = (httpconn.Client{Connector: "rest", CAFile: d.CAFile, Timeout: d.Timeout, Retry: d.Retry, RateLimit: d.RateLimit,
		CheckRetry: c.checkRetry, Log: c.logger}).New(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkRetry is the retry policy of the one retry layer: the default
// (connection errors, 429, 5xx but 501), except that a Retry-After beyond
// the cap is not waited for here but returned to the outbox.
func (c *Connector) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if ra, ok := httpconn.RetryAfter(resp.Header, time.Now()); ok && ra > c.c.cfg.Retry.MaxRetryAfter {
			return false, nil
		}
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// answer is a response read whole (bounded).
type answer struct {
	status int
	header http.Header
	body   []byte
	json   any // decoded body, nil when not JSON
}

// call renders the operation's request, sends it through the retry layer
// and reads the answer: success, already done, or a classified error.
func (c *Connector) call(ctx context.Context, opName string, d Data, what string) (*answer, error) {
	o := c.c.ops[opName]
	d.Instance = c.name
	r, err := o.render(d)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "rest: %s: request template", what)
	}
	return c.send(ctx, o, r, strings.TrimRight(c.c.base.String(), "/")+r.path, what)
}

// send sends a rendered request to u through the retry layer and reads the
// answer: success, already done, or a classified error.
func (c *Connector) send(ctx context.Context, o *op, r *rendered, u, what string) (*answer, error) {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "rest: %s", what)
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "rest: %s: request", what)
	}
	for k, v := range c.c.cfg.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, classify(nil, err, "rest: %s: %s %s", what, r.method, req.URL.EscapedPath())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.limit(o)))
	if err != nil {
		return nil, classify(nil, err, "rest: %s: %s %s: reading the answer", what, r.method, req.URL.EscapedPath())
	}
	a := &answer{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &a.json)
	}
	switch {
	case slices.Contains(o.req.Success, a.status):
		return a, nil
	case o.alreadyDone(a):
		c.logger.Debug("rest: already done", "op", o.name, "status", a.status)
		return a, nil
	}
	return nil, classify(a, nil, "rest: %s: %s %s", what, r.method, req.URL.EscapedPath())
}

// limit bounds an answer read whole: 1 MiB for an operation, 64 MiB for a
// page of a listing. A longer answer is cut, is then not JSON, and fails.
func (c *Connector) limit(o *op) int64 {
	if o.list != nil {
		return 64 << 20
	}
	return 1 << 20
}

func (o *op) alreadyDone(a *answer) bool {
	ad := o.req.AlreadyDone
	if len(ad.Status) == 0 && ad.Field == "" {
		return false
	}
	if len(ad.Status) > 0 && !slices.Contains(ad.Status, a.status) {
		return false
	}
	if ad.Field != "" {
		v, ok := field(a.json, ad.Field)
		if !ok || (ad.Equals != "" && v != ad.Equals) {
			return false
		}
	}
	return true
}

// classify is the one place that turns HTTP outcomes into the project's
// error kinds, keeping the server's message. a is the answer (nil when the
// request failed without one).
func classify(a *answer, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if a == nil {
		return httpconn.TransportError(err, msg)
	}
	detail := serverMessage(a)
	e := &tilgang.Error{Message: fmt.Sprintf("%s: %d %s", msg, a.status, http.StatusText(a.status))}
	if detail != "" {
		e.Message += ": " + detail
	}
	e.Kind, e.RetryAfter = httpconn.StatusKind(a.status, a.header)
	return e
}

// serverMessage is the reason the server gave, from the usual JSON error
// fields, else the start of the body as text.
func serverMessage(a *answer) string {
	for _, f := range []string{"detail", "message", "error.message", "error_description", "error", "title", "errors.0.message", "errors.0"} {
		if v, ok := field(a.json, f); ok && v != "" && !strings.HasPrefix(v, "{") {
			return truncate(v, 500)
		}
	}
	if a.json != nil {
		return truncate(string(a.body), 500)
	}
	return truncate(strings.TrimSpace(strings.ToValidUTF8(string(a.body), "?")), 200)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func dataOf(a connectors.Account) Data {
	m, _ := a.Person.Main()
	ref := connectors.Ref{"id": a.Person.ID}
	for k, v := range a.Ref {
		ref[k] = v
	}
	return Data{Person: a.Person, Main: m, Ref: ref, Enabled: !a.Disabled}
}

func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	ref := connectors.Ref{"id": p.ID}
	for k, v := range prior {
		ref[k] = v
	}
	return ref, nil
}

// EnsureAccount sends ensure_account; the Ref is the prior one with the
// answer's ref fields added (an "already done" answer may lack them).
func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	d := dataOf(a)
	ans, err := c.call(ctx, "ensure_account", d, "ensure account "+a.Person.ID)
	if err != nil {
		return nil, nil, err
	}
	ref := d.Ref
	missing := false
	for k, f := range c.c.ops["ensure_account"].req.Ref {
		if v, ok := field(ans.json, f); ok {
			ref[k] = v
		} else if _, had := ref[k]; !had {
			missing = true
		}
	}
	if !missing {
		return ref, nil, nil
	}
	lookup, ok := c.c.ops["lookup"]
	if !ok {
		return nil, nil, tilgang.Errorf(tilgang.Invalid, "rest: ensure account %s: the answer (%d) holds no ref fields %v; configure operations.lookup to read them",
			a.Person.ID, ans.status, c.c.ops["ensure_account"].req.Ref)
	}
	found, err := c.call(ctx, "lookup", d, "look up account "+a.Person.ID)
	if err != nil {
		return nil, nil, err
	}
	for k, f := range lookup.req.Ref {
		v, ok := field(found.json, f)
		if !ok {
			return nil, nil, tilgang.Errorf(tilgang.NotFound, "rest: look up account %s: the answer holds no %s for ref %s", a.Person.ID, f, k)
		}
		ref[k] = v
	}
	return ref, nil, nil
}

func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	_, err := c.call(ctx, "disable", dataOf(a), "disable "+a.Person.ID)
	return err
}

func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	_, err := c.call(ctx, "enable", dataOf(a), "enable "+a.Person.ID)
	return err
}

func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	d := dataOf(a)
	d.Entitlement = ent
	_, err := c.call(ctx, "grant", d, fmt.Sprintf("grant %s to %s", ent, a.Person.ID))
	return err
}

func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	d := dataOf(a)
	d.Entitlement = ent
	_, err := c.call(ctx, "revoke", d, fmt.Sprintf("revoke %s from %s", ent, a.Person.ID))
	return err
}

func (c *Connector) Close() error {
	c.client.HTTPClient.CloseIdleConnections()
	return nil
}
