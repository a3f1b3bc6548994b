package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/bench"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// startDev runs `tilgang dev` with the example catalogue in a new
// directory, as a user would, and returns the directory and its NATS URL.
// It is stopped with Ctrl-C when the test ends.
func startDev(t *testing.T) (dir, natsURL string) {
	t.Helper()
	dir = t.TempDir()
	copyDir(t, "../../policies", filepath.Join(dir, "policies"))
	self, err := os.Executable()
	require.NoError(t, err)
	natsURL = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dev := exec.Command(self, "dev", "--nats-listen", strings.TrimPrefix(natsURL, "nats://"), "--http", httpAddr)
	dev.Dir, dev.Env = dir, append(os.Environ(), "TILGANG_TEST_AS_BINARY=1")
	devOut := &testenv.Buffer{}
	dev.Stdout, dev.Stderr = devOut, devOut
	require.NoError(t, dev.Start())
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- dev.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "tilgang dev stops cleanly on Ctrl-C:\n%s", devOut.String())
		case <-time.After(60 * time.Second):
			_ = dev.Process.Kill()
			t.Error("tilgang dev did not stop on Ctrl-C")
		}
	})
	require.Eventually(t, func() bool {
		r, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "dev ready:\n%s", devOut.String())
	return dir, natsURL
}

// A municipality on day one: `hr import` of 2,500 people through the
// command line against `tilgang dev` follows them all (in status.many calls
// that fit the API's request limit) and ends with the counts.
func TestImportAMunicipality(t *testing.T) {
	dir, natsURL := startDev(t)
	people, _ := bench.FirstDayPeople(2500)
	data, err := json.Marshal(people)
	require.NoError(t, err)
	file := filepath.Join(dir, "people.json")
	require.NoError(t, os.WriteFile(file, data, 0o644))

	self, err := os.Executable()
	require.NoError(t, err)
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			cmd := exec.Command(self, "hr", "import", file, "--output", output, "--wait", "5m")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TILGANG_TEST_AS_BINARY=1", "TILGANG_NATS="+natsURL,
				"TILGANG_KEY="+filepath.Join(dir, ".tilgang", "keys", "dev.nk"))
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			require.Contains(t, stderr.String(), "processed 2500/2500", "progress on stderr")
			if output == "text" {
				// The same people again: each record is newer (a later version), so accepted again.
				require.Equal(t, "accepted 2500, rejected 0, ignored 0\n", stdout.String())
				return
			}
			var sum struct {
				Records, Published, Accepted, Rejected, Ignored, Unknown int
			}
			require.NoError(t, json.Unmarshal([]byte(stdout.String()), &sum), stdout.String())
			require.Equal(t, 2500, sum.Records)
			require.Equal(t, 2500, sum.Published)
			require.Equal(t, 2500, sum.Accepted, stdout.String())
			require.Zero(t, sum.Rejected+sum.Ignored+sum.Unknown, stdout.String())
		})
	}
}
