package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// DevSessionKeyFile is the portal's session key under <data>/keys in dev.
const DevSessionKeyFile = "portal-session.key"

// devPortal is the portal of `tilgang dev`: signed by keys/portal.nk,
// sessions sealed with keys/portal-session.key, and the development
// sign-in listing people as the dev principal, or, given oidc, OpenID
// Connect sign-in instead. It is served only on a loopback --http
// (DESIGN.md): elsewhere it is left out, with a warning.
func devPortal(data string, nc *nats.Conn, js jetstream.JetStream, oidc *portal.OIDC, tracer trace.Tracer, log *slog.Logger) (func(context.Context, string) (http.Handler, error), error) {
	kd := filepath.Join(data, "keys")
	key, err := principals.LoadSeed(filepath.Join(kd, principals.PortalSeedFile))
	if err != nil {
		return nil, fmt.Errorf("dev: portal key: %w", err)
	}
	devKey, err := principals.LoadSeed(filepath.Join(kd, principals.DevSeedFile))
	if err != nil {
		return nil, fmt.Errorf("dev: dev key: %w", err)
	}
	sk, err := portal.EnsureSessionKey(filepath.Join(kd, DevSessionKeyFile))
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	return func(ctx context.Context, addr string) (http.Handler, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !portal.IsLoopbackHost(host) {
			log.Warn("dev: the portal is served only on a loopback --http; not serving it", "http", addr)
			return http.NotFoundHandler(), nil
		}
		o := portal.Options{NC: nc, JS: js, Key: key, ID: principals.PortalID, PublicURL: "http://" + addr,
			SessionKeys: [][]byte{sk}, Dev: &portal.DevSignIn{Key: devKey, Actor: principals.DevID}, Log: log, Tracer: tracer}
		signin := "development sign-in"
		if oidc != nil {
			o.Dev, o.OIDC, signin = nil, oidc, "OpenID Connect sign-in at "+oidc.Issuer
		}
		p, err := portal.New(ctx, o)
		if err != nil {
			return nil, err
		}
		log.Info("portal ("+signin+")", "url", "http://"+addr+"/")
		return p.Handler(), nil
	}, nil
}
