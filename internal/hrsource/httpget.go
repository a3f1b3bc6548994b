package hrsource

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// maxBody bounds one answer (a whole FINT collection can be large).
const maxBody = 512 << 20

// get fetches base+path with the authorization header and returns the
// body; anything but 200 is an error naming the path and the status.
func get(ctx context.Context, kind string, client *http.Client, base, path, auth, accept string) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "%s: request %s", kind, path)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, httpconn.TransportError(err, fmt.Sprintf("%s: GET %s", kind, path))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		k, after := httpconn.StatusKind(resp.StatusCode, resp.Header)
		return nil, &tilgang.Error{Kind: k, RetryAfter: after,
			Message: fmt.Sprintf("%s: GET %s: HTTP %d", kind, path, resp.StatusCode)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Unavailable, err, "%s: GET %s: read the answer", kind, path)
	}
	if len(b) > maxBody {
		return nil, tilgang.Errorf(tilgang.Invalid, "%s: GET %s: answer larger than %d bytes", kind, path, maxBody)
	}
	return b, nil
}

// baseURLProblems checks a service's base URL.
func baseURLProblems(s string, required bool) []string {
	if s == "" {
		if required {
			return []string{"base_url is empty"}
		}
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return []string{fmt.Sprintf("base_url %s: %v", quote(s), err)}
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return []string{fmt.Sprintf("base_url %s must be an https:// URL", quote(s))}
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return []string{fmt.Sprintf("base_url %s: plain http is allowed only to a loopback address; use https", quote(s))}
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return []string{fmt.Sprintf("base_url %s must hold no credentials, query or fragment", quote(s))}
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func (in Input) base(cfg string) (string, error) {
	b := cfg
	if in.BaseURL != "" {
		b = in.BaseURL
	}
	if p := baseURLProblems(b, true); len(p) > 0 {
		return "", tilgang.Errorf(tilgang.Invalid, "%s", strings.Join(p, "; "))
	}
	return b, nil
}
