package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/app"
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
