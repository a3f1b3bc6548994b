package ad

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/telemetry"
)

// pool is a small set of bound connections. Its size bounds the operations
// in flight against the DC (Samba and AD serialise writes; more connections
// do not make them faster). A connection that failed on the network is
// dropped and the next operation dials a new one.
type pool struct {
	cfg    Config
	u      *url.URL
	tls    *tls.Config
	bindPW string
	sem    chan struct{}
	idle   chan *ldap.Conn
	done   chan struct{}
	waits  atomic.Int64 // requests that found every connection taken
}

func newPool(cfg Config, u *url.URL, tc *tls.Config, pw string) *pool {
	return &pool{cfg: cfg, u: u, tls: tc, bindPW: pw,
		sem: make(chan struct{}, cfg.PoolSize), idle: make(chan *ldap.Conn, cfg.PoolSize), done: make(chan struct{})}
}

// size is how many connections the pool holds at most.
func (p *pool) size() int { return cap(p.sem) }

func (p *pool) encrypted() bool { return p.u.Scheme == "ldaps" || p.cfg.StartTLS }

// do runs fn on a bound connection, honouring ctx: when ctx ends the
// connection is closed, which aborts the request in flight. A pooled
// connection that turns out dead (the DC restarted, an idle timeout) is
// replaced and fn runs once more; every fn here is idempotent.
func (p *pool) do(ctx context.Context, fn func(*ldap.Conn) error) (err error) {
	ctx, span := telemetry.Start(ctx, "LDAP", trace.SpanKindClient, attribute.String("server.address", p.u.Hostname()))
	defer func() { telemetry.End(span, err) }()
	select {
	case p.sem <- struct{}{}:
	default:
		p.waits.Add(1)
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "ad: waiting for a connection")
		case <-p.done:
			return tilgang.Errorf(tilgang.Unavailable, "ad: connector closed")
		}
	}
	defer func() { <-p.sem }()
	for attempt := 0; ; attempt++ {
		conn, reused, err := p.get(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = fn(conn)
		if !stop() {
			conn.Close()
			return tilgang.Wrap(tilgang.Unavailable, ctx.Err(), "ad: operation cancelled")
		}
		if isNetwork(err) || conn.IsClosing() {
			conn.Close()
			if reused && attempt == 0 {
				continue
			}
			return err
		}
		p.put(conn)
		return err
	}
}

func (p *pool) get(ctx context.Context) (*ldap.Conn, bool, error) {
	for {
		select {
		case c := <-p.idle:
			if c.IsClosing() {
				continue
			}
			return c, true, nil
		default:
			c, err := p.dial(ctx)
			return c, false, err
		}
	}
}

func (p *pool) put(c *ldap.Conn) {
	select {
	case <-p.done:
		c.Close()
		return
	default:
	}
	select {
	case p.idle <- c:
	default:
		c.Close()
	}
}

func (p *pool) dial(ctx context.Context) (*ldap.Conn, error) {
	host := p.u.Host
	if p.u.Port() == "" {
		port := "389"
		if p.u.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(p.u.Hostname(), port)
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Unavailable, err, "ad: connect to %s", host)
	}
	var conn *ldap.Conn
	if p.u.Scheme == "ldaps" {
		tc := tls.Client(raw, p.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			// A certificate the CA does not vouch for is a configuration
			// problem, not an outage, but a DC mid-restart looks the same for
			// a moment: retry, bounded by the executor.
			return nil, tilgang.Wrap(tilgang.Unavailable, err, "ad: TLS handshake with %s", host)
		}
		conn = ldap.NewConn(tc, true)
	} else {
		conn = ldap.NewConn(raw, false)
	}
	conn.Start()
	conn.SetTimeout(p.cfg.Timeout)
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	defer stop()
	if p.cfg.StartTLS {
		if err := conn.StartTLS(p.tls); err != nil {
			conn.Close()
			return nil, classify(err, "ad: StartTLS with %s", host)
		}
	}
	if err := conn.Bind(p.cfg.BindDN, p.bindPW); err != nil {
		conn.Close()
		if dctx.Err() != nil && ctx.Err() == nil {
			// The AfterFunc above closed the connection: go-ldap then
			// says only "response channel closed".
			return nil, tilgang.Wrap(tilgang.Unavailable, err, "ad: bind to %s as %s: no answer within dial_timeout (%s)",
				host, p.cfg.BindDN, p.cfg.DialTimeout)
		}
		return nil, classify(err, "ad: bind to %s as %s", host, p.cfg.BindDN)
	}
	return conn, nil
}

func (p *pool) close() {
	select {
	case <-p.done:
		return
	default:
		close(p.done)
	}
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}
