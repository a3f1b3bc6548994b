// Package portal is the web application managers, systemansvarlige, HR
// and auditors use (DESIGN.md "The portal"): server-rendered html/template
// pages in Norwegian bokmål, styled with the vendored Designsystemet CSS,
// working without JavaScript.
//
// Trust. The portal is the service principal portal (capability
// on_behalf). Every read is a signed tilgang.api call with actor = the
// person signed in and via = portal, and every message it sends is a
// CloudEvent signed by the portal's key with the same actor and via, so it
// can see and do exactly what that person could with the CLI. It keeps no
// state: a session is a sealed cookie (session.go), so any replica serves
// any user.
//
// Layout: portal.go (options and routes), middleware.go (the chain every
// request passes: security headers, Host, cross-origin protection,
// session), session.go (sealed cookies), signin.go (development sign-in
// and sign-out), oidc.go (OpenID Connect sign-in), pages.go (one handler
// and view model a page, and the forms that send messages), render.go
// (templates and error pages), i18n (every text), templates/ and static/
// (embedded).
//
// Routes: GET /signin, POST /signin/dev, GET /signin/oidc, GET
// /signin/callback, POST /signout, GET /signedout, GET / (what waits for
// me, my access), GET /requests/new (the plan, and a form for each role
// that may be asked for), POST /requests (a grant request), GET
// /requests/{request_id}, GET /people/{person} (a
// person's grants and history), GET /approvals, POST
// /approvals/{request_id} (decision), POST /training (training
// confirmed), POST /tasks/{operation_id} (manual task done or failed),
// GET /audit and /audit.csv (auditors and operators: the audit filtered,
// a page at a time or as CSV, and the last verify), GET /systems/{system}
// and /systems/{system}/holders.csv (its administrators: holders by role,
// training to confirm, manual tasks, the open review), /reviews... (access
// reviews, review.go), GET /static/....
//
// Decisions where DESIGN.md is silent:
//   - The development sign-in lists the people whose HR record the ledger
//     holds through the API method people, called as the dev principal
//     (operator and auditor): the portal principal itself may list nobody.
//   - Every request asks the API (method session, as the person, one call)
//     whether the person still has a record, has not left, and whether the
//     session's id is on the ledger's sign-out list: a sealed cookie dies
//     with the leave and with POST /signout, on every replica.
//   - Before sending a decision the portal checks the person's inbox, so a
//     person who may not decide gets a clear page at once; the worker
//     still judges the message, and a rejection it records is shown too.
package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultID is the portal's principal id.
const DefaultID = "portal"

// Options configure a Portal.
type Options struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// Tracer, when set (telemetry configured), makes a span of each
	// request, so a form's message carries the portal's trace; nil: none.
	Tracer trace.Tracer
	// Key is the portal principal's seed; it signs every call and message.
	Key nkeys.KeyPair
	ID  string // the portal's principal id, default DefaultID
	// PublicURL is where people reach the portal (scheme, host, port): the
	// only Host accepted and the base of redirects. Cookies are Secure
	// unless it is http on a loopback address.
	PublicURL string
	// SessionKeys seal sessions: the first seals, all open.
	SessionKeys [][]byte
	// Dev, when set, offers the development sign-in (DESIGN.md): only with
	// a loopback http PublicURL and only to loopback clients.
	Dev *DevSignIn
	// OIDC, when set, signs people in with OpenID Connect.
	OIDC *OIDC
	// Source is the CloudEvents source of messages, default "tilgang-portal".
	Source string
	// Wait is how long a form waits for the worker to record what it sent,
	// so that a rejection is shown at once (default 5 s).
	Wait time.Duration
	// ReviewPage is how many of a reviewer's items one page of
	// /reviews/{campaign} shows (default MaxReviewItems).
	ReviewPage int
	// Now is the clock sessions are timed by (default time.Now). Signed
	// calls and messages carry the wall clock, which the worker checks.
	Now func() time.Time
	Log *slog.Logger
}

// DevSignIn is the development sign-in of `tilgang dev`: Key and Actor
// list the people (the dev principal, which holds operator and auditor).
type DevSignIn struct {
	Key   nkeys.KeyPair
	Actor string
}

// Portal serves the pages.
type Portal struct {
	o        Options
	public   *url.URL
	secure   bool // cookies Secure
	loopback bool // the public URL is http on a loopback address
	seal     *sealer
	sender   *client.Sender
	oidc     *oidcFlow
	pages    *pages
	static   http.Handler
}

// New checks the options and builds the portal.
func New(ctx context.Context, o Options) (*Portal, error) {
	if o.NC == nil || o.JS == nil {
		return nil, errors.New("portal: no NATS connection")
	}
	if o.Key == nil {
		return nil, errors.New("portal: no key: the portal principal's seed signs every call and message")
	}
	if o.ID == "" {
		o.ID = DefaultID
	}
	if o.Source == "" {
		o.Source = "tilgang-portal"
	}
	if o.Wait <= 0 {
		o.Wait = 5 * time.Second
	}
	if o.ReviewPage <= 0 || o.ReviewPage > api.MaxReviewPage {
		o.ReviewPage = MaxReviewItems
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("portal: public URL %q must be http(s)://host[:port]", o.PublicURL)
	}
	p := &Portal{o: o, public: u, loopback: u.Scheme == "http" && IsLoopbackHost(u.Hostname())}
	p.secure = !p.loopback
	if u.Scheme == "http" && !p.loopback {
		return nil, fmt.Errorf("portal: public URL %q is http on a host that is not loopback: use https", o.PublicURL)
	}
	if o.Dev != nil && !p.loopback {
		return nil, fmt.Errorf("portal: the development sign-in is only offered on a loopback http address, not %s", o.PublicURL)
	}
	if p.seal, err = newSealer(o.SessionKeys); err != nil {
		return nil, err
	}
	p.sender = &client.Sender{Key: o.Key, Source: o.Source, Via: o.ID}
	if o.OIDC != nil {
		if p.oidc, err = newOIDCFlow(*o.OIDC, p.public); err != nil {
			return nil, err
		}
	}
	if p.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	p.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return p, nil
}

// Handler is the portal: its routes behind the middleware chain.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", p.staticHandler())
	mux.HandleFunc("GET /signin", p.signinPage)
	mux.HandleFunc("POST /signin/dev", p.devSignin)
	mux.HandleFunc("GET /signin/oidc", p.oidcStart)
	mux.HandleFunc("GET /signin/callback", p.oidcCallback)
	mux.HandleFunc("POST /signout", p.signout)
	mux.HandleFunc("GET /signedout", p.signedOut)
	mux.HandleFunc("GET /{$}", p.signedIn(p.home))
	mux.HandleFunc("GET /requests/new", p.signedIn(p.newRequest))
	mux.HandleFunc("POST /requests", p.signedIn(p.createRequest))
	mux.HandleFunc("GET /requests/{request_id}", p.signedIn(p.request))
	mux.HandleFunc("GET /approvals", p.signedIn(p.approvals))
	mux.HandleFunc("GET /people/{person}", p.signedIn(p.person))
	mux.HandleFunc("POST /approvals/{request_id}", p.signedIn(p.decide))
	mux.HandleFunc("POST /training", p.signedIn(p.confirmTraining))
	mux.HandleFunc("POST /tasks/{operation_id}", p.signedIn(p.completeTask))
	mux.HandleFunc("GET /audit", p.signedIn(p.audit))
	mux.HandleFunc("GET /audit.csv", p.signedIn(p.auditCSV))
	mux.HandleFunc("GET /systems/{system}", p.signedIn(p.system))
	mux.HandleFunc("GET /systems/{system}/holders.csv", p.signedIn(p.systemCSV))
	p.registerRoutes(mux)
	mux.HandleFunc("GET /reviews", p.signedIn(p.reviews))
	mux.HandleFunc("POST /reviews", p.signedIn(p.startReview))
	mux.HandleFunc("GET /reviews/{campaign}", p.signedIn(p.review))
	mux.HandleFunc("POST /reviews/{campaign}/decide", p.signedIn(p.decideReview))
	mux.HandleFunc("POST /reviews/{campaign}/keep", p.signedIn(p.keepRecommended))
	mux.HandleFunc("POST /reviews/{campaign}/close", p.signedIn(p.closeReview))
	mux.HandleFunc("GET /reviews/{campaign}/report", p.signedIn(p.reviewReportPage))
	mux.HandleFunc("GET /reviews/{campaign}/report.csv", p.signedIn(p.reviewReportCSV))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.errorPage(w, r, http.StatusNotFound, "")
	})
	return p.chain(routed(mux))
}

func (p *Portal) staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		p.static.ServeHTTP(w, r)
	})
}

// client is an API client acting for person through the portal.
func (p *Portal) client(person string) *api.Client {
	return &api.Client{NC: p.o.NC, Key: p.o.Key, Actor: person, Via: p.o.ID, Timeout: 10 * time.Second}
}

// IsLoopbackHost says whether host (no port) names only the loopback
// interface.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// url is an absolute URL of path on the public address.
func (p *Portal) url(path string) string {
	u := *p.public
	u.Path = path
	return u.String()
}
