package entra

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// errMap makes every Graph error an *odataerrors.ODataError.
var errMap = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// newAdapter builds the kiota adapter with the SDK's default middleware
// minus its RetryHandler: retries happen in one place only, call.
func newAdapter(cfg Config, auth *authProvider) (*khttp.NetHttpRequestAdapter, error) {
	var mws []khttp.Middleware
	for _, m := range msgraphgocore.GetDefaultMiddlewaresWithOptions(&msgraphgocore.GraphClientOptions{
		GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}) {
		if _, isRetry := m.(*khttp.RetryHandler); isRetry {
			continue
		}
		mws = append(mws, m)
	}
	hc := khttp.GetDefaultClient(mws...)
	hc.Timeout = cfg.Timeout
	hc.Transport = telemetry.Transport(hc.Transport)
	a, err := khttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, jsonser.NewJsonParseNodeFactory(), jsonser.NewJsonSerializationWriterFactory(), hc)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "entra: request adapter")
	}
	a.SetBaseUrl(cfg.GraphURL)
	return a, nil
}

// tokenSource runs the OAuth 2.0 client credentials grant against the
// authority and caches the token until shortly before it expires.
type tokenSource struct {
	url, clientID, secret, scope string
	cert                         *certificate // instead of secret
	hc                           *http.Client

	mu  sync.Mutex
	tok string
	exp time.Time
}

// forget drops the cached token (Graph answered 401: expired or revoked).
func (t *tokenSource) forget() {
	t.mu.Lock()
	t.tok = ""
	t.mu.Unlock()
}

func (t *tokenSource) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && time.Now().Before(t.exp) {
		return t.tok, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {t.clientID}, "scope": {t.scope}}
	if t.cert != nil {
		a, err := t.cert.assertion(t.clientID, t.url, time.Now())
		if err != nil {
			return "", err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	} else {
		form.Set("client_secret", t.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", tilgang.Wrap(tilgang.Invalid, err, "entra: token request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.hc.Do(req)
	if err != nil {
		return "", tilgang.Wrap(tilgang.Unavailable, err, "entra: token endpoint")
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", tilgang.Wrap(tilgang.Unavailable, err, "entra: token endpoint answered %s", resp.Status)
	}
	switch {
	case resp.StatusCode == 429 || resp.StatusCode >= 500:
		return "", tilgang.Errorf(tilgang.Unavailable, "entra: token endpoint answered %s", resp.Status)
	case resp.StatusCode != 200 || body.AccessToken == "":
		return "", tilgang.Errorf(tilgang.Denied, "entra: token endpoint refused the client credentials: %s %s", body.Error, body.Description)
	}
	t.tok = body.AccessToken
	t.exp = time.Now().Add(time.Duration(body.ExpiresIn)*time.Second - 2*time.Minute)
	return t.tok, nil
}

// authProvider puts the token on requests to the Graph host only (a
// nextLink naming another host gets none).
type authProvider struct {
	ts   *tokenSource
	host string
}

func (p *authProvider) AuthenticateRequest(ctx context.Context, ri *abs.RequestInformation, _ map[string]any) error {
	u, err := ri.GetUri()
	if err != nil {
		return err
	}
	if !strings.EqualFold(u.Host, p.host) {
		return nil
	}
	tok, err := p.ts.token(ctx)
	if err != nil {
		return err
	}
	// A retried request is authenticated again: replace, never append.
	ri.Headers.Remove("Authorization")
	ri.Headers.Add("Authorization", "Bearer "+tok)
	return nil
}

// request builds a request to path (below the Graph URL, already escaped).
func (c *Connector) request(method abs.HttpMethod, path string, q url.Values) *abs.RequestInformation {
	ri := abs.NewRequestInformation()
	ri.Method = method
	u, _ := url.Parse(c.cfg.GraphURL + path)
	if q != nil {
		u.RawQuery = q.Encode()
	}
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	return ri
}

func jsonBody(ri *abs.RequestInformation, v any) *abs.RequestInformation {
	b, _ := json.Marshal(v)
	ri.SetStreamContentAndContentType(b, "application/json")
	return ri
}

// call runs one Graph request under the concurrency bound, retrying
// throttling (429 with its Retry-After), 503/5xx and network failures a
// bounded number of times with exponential backoff and jitter. A wait
// longer than max_retry_wait, or one that would outlast the caller's
// deadline, is not slept here: the error goes back at once, a 429 as
// Throttled with its RetryAfter, so the outbox waits what Graph asked
// instead of backing off blindly against a throttled tenant. This is the
// only retry layer (the SDK's RetryHandler is removed in newAdapter).
func (c *Connector) call(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if err := c.acquire(ctx); err != nil {
			return err
		}
		err := fn(ctx)
		<-c.sem
		if err == nil {
			return nil
		}
		if g, ok := asGraph(err); ok && g.status == 401 && attempt == 0 {
			c.tokens.forget() // one fresh token, then 401 is Denied
			continue
		}
		ce := classify(err, "")
		kind := tilgang.KindOf(ce)
		if (kind != tilgang.Throttled && kind != tilgang.Unavailable) || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		wait := tilgang.RetryAfterOf(ce)
		if wait == 0 {
			wait = backoff(attempt)
		}
		if wait > c.cfg.MaxRetryWait || outlasts(ctx, wait) {
			return err
		}
		c.log.Debug("entra: retrying", "kind", string(kind), "wait", wait, "attempt", attempt+1)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// callFresh is call, also retrying a 404 for replication_wait: an object
// created moments ago can read as missing (eventual consistency).
func (c *Connector) callFresh(ctx context.Context, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(c.cfg.ReplicationWait)
	for attempt := 0; ; attempt++ {
		err := c.call(ctx, fn)
		if g, ok := asGraph(err); !ok || g.status != 404 || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, min(backoff(attempt), time.Until(deadline)+time.Millisecond)); err != nil {
			return err
		}
	}
}

func (c *Connector) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is 200 ms doubling to 5 s, with up to 50% jitter.
func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 5)
	d = min(d, 5*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// outlasts reports whether waiting d would pass ctx's deadline: sleeping
// then only turns Graph's Retry-After into a bare deadline error.
func outlasts(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// odataString quotes s for a $filter literal.
func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
