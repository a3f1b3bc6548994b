package portal

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
)

// ContentSecurityPolicy is sent with every answer: nothing but the
// portal's own styles and images (and data: images, which Designsystemet's
// CSS draws its icons with), no script at all (and so none inline), forms
// only to itself, never in a frame.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// chain is the middleware every request passes, outermost first:
//
//  1. security headers (CSP, no framing, nosniff, referrer policy), on
//     every answer, error pages included;
//  2. the Host must be the public URL's: a portal reached under another
//     name answers 400 (no cookie is read or set for it);
//  3. net/http's CrossOriginProtection refuses state-changing requests
//     (POST and the like) from another origin, by Sec-Fetch-Site or
//     Origin, with the 403 page;
//  4. the session: read from its sealed cookie, checked for age and
//     idleness, and the person checked through the API (known, not left);
//     handlers behind signedIn get it from the context.
//
// A request body (a form) is read up to MaxBody bytes.
func (p *Portal) chain(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.errorPage(w, r, http.StatusForbidden, "error.403.origin")
	}))
	h := p.loadSession(next)
	h = cop.Handler(h)
	h = p.checkHost(h)
	return p.traced(securityHeaders(limitBody(h)))
}

// traced makes a server span of each request when the portal has a
// tracer: the messages a form sends carry it as their traceparent. A
// traceparent the browser sends is not followed.
func (p *Portal) traced(next http.Handler) http.Handler {
	if p.o.Tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := p.o.Tracer.Start(r.Context(), "portal "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithNewRoot(), trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// routed names the request's span by its route once the mux has chosen
// it ("portal POST /requests"), never by the path, which may hold a
// person's id.
func routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() && r.Pattern != "" {
			span.SetName("portal " + r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
	})
}

// MaxBody bounds a request body: the portal's forms are small.
const MaxBody = 64 << 10

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (p *Portal) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Host, p.public.Host) {
			p.errorPage(w, r, http.StatusBadRequest, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

// personKey holds the *who of the person signed in.
const personKey ctxKey = 0

// who is the person signed in, as the API describes them.
type who struct {
	api.PersonInfo
	ReadsAll    bool     // auditor or operator: the audit page is linked
	Administers []string // the systems whose pages are linked
	Reviewable  []string // the systems with review: they may start a campaign of
	session     *Session
}

// problem is why a session did not sign anyone in, for the page shown to
// a request that needs someone.
type problem string

const (
	noProblem problem = ""
	noPerson  problem = "noperson"
	hasLeft   problem = "left"
	signedOut problem = "signedout" // the session is on the sign-out list
	// OpenID Connect: the token has no person claim, the claim's e-mail
	// address is not verified, or it names more than one person.
	noClaim    problem = "noclaim"
	unverified problem = "unverified"
	ambiguous  problem = "ambiguous"
)

type problemKey struct{}

// loadSession reads the session cookie. A cookie that does not open, is
// too old or idle is removed; a live one is checked through the API and,
// when its last-seen time has grown stale, sealed again.
func (p *Portal) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(p.cookieName())
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		var s Session
		now := p.o.Now()
		if !p.seal.open(p.cookieName(), c.Value, &s) || !s.Live(now) {
			p.clearSession(w)
			next.ServeHTTP(w, r)
			return
		}
		info, prob, err := p.lookup(r.Context(), s.Person, s.ID)
		if err != nil {
			p.apiError(w, r, err)
			return
		}
		if prob == signedOut {
			// As if there were no cookie: sign in again.
			p.clearSession(w)
			next.ServeHTTP(w, r)
			return
		}
		if prob != noProblem {
			p.clearSession(w)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), problemKey{}, prob)))
			return
		}
		if now.Unix()-s.Seen >= int64(touchEvery/time.Second) {
			s.Seen = now.Unix()
			if err := p.setSession(w, &s); err != nil {
				p.fail(w, r, err)
				return
			}
		}
		ctx := context.WithValue(r.Context(), personKey, &who{PersonInfo: info.Person, ReadsAll: info.ReadsAll,
			Administers: info.Administers, Reviewable: info.Reviewable, session: &s})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// lookup asks the API, as the person, for their record and whether this
// session was signed out (one call, on every request): a person without a
// record, or who has left, signs nobody in, nor does a session signed out
// (on any replica).
func (p *Portal) lookup(ctx context.Context, person, session string) (api.SessionInfo, problem, error) {
	var info api.SessionInfo
	err := p.client(person).Call(ctx, api.MethodSession, api.SessionArgs{Session: session}, &info)
	switch {
	case tilgang.KindOf(err) == tilgang.NotFound:
		return info, noPerson, nil
	case err != nil:
		return info, noProblem, err
	case info.SignedOut:
		return info, signedOut, nil
	case info.Person.Left:
		return info, hasLeft, nil
	}
	return info, noProblem, nil
}

// signedIn runs h for a person signed in; others are sent to sign in (GET)
// or shown the signed-out page (anything else), and a person without a
// record or who has left is told so.
func (p *Portal) signedIn(h func(http.ResponseWriter, *http.Request, *who)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if prob, _ := r.Context().Value(problemKey{}).(problem); prob != noProblem {
			p.problemPage(w, r, prob)
			return
		}
		u, _ := r.Context().Value(personKey).(*who)
		if u == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			p.errorPage(w, r, http.StatusForbidden, "error.403.signedout")
			return
		}
		h(w, r, u)
	}
}

// current is the person signed in, nil when none.
func current(r *http.Request) *who {
	u, _ := r.Context().Value(personKey).(*who)
	return u
}

// cookieName: __Host- binds the cookie to this host, Secure and path /
// (browsers enforce it); on loopback http it cannot be Secure.
func (p *Portal) cookieName() string {
	if p.secure {
		return "__Host-tilgang"
	}
	return "tilgang"
}

func (p *Portal) setSession(w http.ResponseWriter, s *Session) error {
	v, err := p.seal.seal(p.cookieName(), s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(), Value: v, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(MaxAge / time.Second)})
	return nil
}

func (p *Portal) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// fromLoopback says whether the request came from the loopback interface.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
