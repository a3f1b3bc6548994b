package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestDevTelemetry: `tilgang dev --otlp-endpoint URL` exports the intake
// spans of the messages it takes in to the collector at URL, under the
// service name given; the last spans go out when dev stops.
func TestDevTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole embedded worker")
	}
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)

	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	data := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	natsListen := l.Addr().String()
	require.NoError(t, l.Close())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var devOut, devErr testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", data, "--policies", filepath.Join(root, "policies"), "--nats-listen", natsListen,
			"--http", "127.0.0.1:0", "--otlp-endpoint", collector.URL, "--otlp-service-name", "tilgang-dev-test"},
			options{Stdout: &devOut, Stderr: &devErr, Getenv: func(string) string { return "" }, Now: time.Now})
	}()
	require.Eventually(t, func() bool { return strings.Contains(devOut.String(), "export ") }, 60*time.Second, 20*time.Millisecond,
		"dev prints its export line: %s", devErr.String())
	require.Contains(t, devErr.String(), "telemetry: exporting traces")
	var natsURL, key string
	for _, f := range strings.Fields(devOut.String()[strings.Index(devOut.String(), "export "):]) {
		if v, ok := strings.CutPrefix(f, envNATS+"="); ok {
			natsURL = v
		}
		if v, ok := strings.CutPrefix(f, envKey+"="); ok {
			key = v
		}
	}
	w := &world{url: natsURL, devKey: key, now: time.Now()}
	code, out, errOut := w.run(t, nil, "hr", "import", filepath.Join(root, "deploy", "examples", "people.json"), "--wait", "30s")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, devErr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("tilgang dev did not stop")
	}
	mu.Lock()
	all := bytes.Join(bodies, nil)
	mu.Unlock()
	require.NotEmpty(t, all, "dev exported spans")
	require.Contains(t, string(all), "intake no.tilgang.hr.", "the intake spans of the HR messages")
	require.Contains(t, string(all), "tilgang-dev-test", "under the service name given")
}
