package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// tilgang dev serves the portal (with its development sign-in) only on a
// loopback --http; on every interface the health endpoints answer and the
// portal is not there.
func TestDevServesThePortalOnLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		signin       int
	}{
		{"loopback", "127.0.0.1:0", http.StatusOK},
		{"every interface", "0.0.0.0:0", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				done <- app.Dev(ctx, app.DevOptions{Data: t.TempDir(), Policies: testenv.WriteCatalogue(t, testenv.Catalogue),
					NATSListen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), HTTP: tc.listen,
					Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(_, h string) { ready <- h }})
			}()
			var addr string
			select {
			case addr = <-ready:
			case err := <-done:
				t.Fatalf("dev did not start: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("dev did not start in 30 s")
			}
			defer func() {
				cancel()
				require.NoError(t, <-done)
			}()
			_, port, err := net.SplitHostPort(addr)
			require.NoError(t, err)
			base := "http://127.0.0.1:" + port
			if tc.listen == "127.0.0.1:0" {
				base = "http://" + addr
			}
			res, err := http.Get(base + "/healthz")
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			res, err = http.Get(base + "/signin")
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, tc.signin, res.StatusCode)
		})
	}
}

// A worker whose config has a portal section serves it behind its public
// URL (any other Host is refused), and starts though the OpenID Connect
// provider is down.
func TestWorkerServesThePortal(t *testing.T) {
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)
	ps, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	wk, err := principals.EnsureWorkerKey(dir)
	require.NoError(t, err)
	pk, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.PortalSeedFile))
	require.NoError(t, err)
	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	nop, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Worker(ctx, app.WorkerOptions{Name: "portal-worker", NATS: ns.ClientURL(), Ledger: store, Principals: ps,
			Policies: testenv.WriteCatalogue(t, testenv.Catalogue), Connectors: connectors.Set{"noop": nop, "manual": manual.Connector{}},
			HTTP: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkerKey: wk,
			Portal: &portal.Options{Key: pk, ID: principals.PortalID, PublicURL: "https://tilgang.example.no",
				SessionKeys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
				OIDC:        &portal.OIDC{Issuer: "http://127.0.0.1:1", ClientID: "tilgang-portal", ClientSecret: "x", PersonClaim: "employeeid"}},
			Ready: func(h string) { ready <- h }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("worker did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not start in 30 s")
	}
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	get := func(host, path string) *http.Response {
		r, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		r.Host = host
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(r)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	require.Equal(t, http.StatusOK, get(addr, "/healthz").StatusCode)
	require.Equal(t, http.StatusBadRequest, get(addr, "/").StatusCode, "not the public URL's Host")
	res := get("tilgang.example.no", "/")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/signin", res.Header.Get("Location"))
	require.Equal(t, http.StatusServiceUnavailable, get("tilgang.example.no", "/signin").StatusCode, "the provider is down")
}
