package main

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/testenv"
)

// imageUID is the user deploy/Containerfile runs as, and the Kubernetes
// manifests' runAsUser.
const imageUID = 10001

// containerEngine reads the env file deploy/container-testenv.sh writes
// (TILGANG_CONTAINER_ENV_FILE, default /var/tmp/tilgang-docker/env): the
// engine and its DOCKER_HOST. Without it the test fails under CI=true and
// skips otherwise.
func containerEngine(t *testing.T) (engine string, env []string) {
	file := os.Getenv("TILGANG_CONTAINER_ENV_FILE")
	if file == "" {
		file = "/var/tmp/tilgang-docker/env"
	}
	data, err := os.ReadFile(file)
	if err != nil {
		msg := fmt.Sprintf("no container engine (%v): start one with `bash deploy/container-testenv.sh start`", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	engine = "docker"
	env = os.Environ()
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if k == "TILGANG_CONTAINER_ENGINE" {
			engine = v
		}
		env = append(env, line)
	}
	return engine, env
}

// TestContainerImage builds the image from deploy/Containerfile with
// deploy/build-image.sh, checks what is in it (a static binary and the CA
// certificates, user 10001, no shell), starts it as the Kubernetes
// manifests do (read-only root, every capability dropped, the config
// mounted read-only) against a NATS server on 127.0.0.1 and a SQLite
// ledger in a volume, and waits for /readyz.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image; not with -short")
	}
	engine, env := containerEngine(t)
	tag := fmt.Sprintf("tilgang-test:%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(engine, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s:\n%s", engine, strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}

	ctxDir := t.TempDir()
	cmd := exec.Command("bash", "../../deploy/build-image.sh", "--context", ctxDir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := elf.Open(filepath.Join(ctxDir, "tilgang"))
	require.NoError(t, err)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary is static: it names no dynamic loader")
		require.NotEqual(t, elf.PT_DYNAMIC, p.Type, "the binary is static: no dynamic section")
	}
	f.Close()

	cmd = exec.Command("bash", "../../deploy/build-image.sh", tag)
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { exec.Command(engine, "rmi", "-f", tag).Run() })
	require.Equal(t, fmt.Sprintf("%d:%d", imageUID, imageUID), run("image", "inspect", "-f", "{{.Config.User}}", tag))

	// The image's file system: the binary and the CA bundle, nothing else.
	id := run("create", tag)
	exp := exec.Command(engine, "export", id)
	exp.Env = env
	pipe, err := exp.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, exp.Start())
	files := tarFiles(t, pipe)
	require.NoError(t, exp.Wait())
	run("rm", id)
	require.Contains(t, files, "usr/local/bin/tilgang")
	require.Contains(t, files, "etc/ssl/certs/ca-certificates.crt")
	for _, name := range files {
		require.NotContains(t, []string{"bin/sh", "bin/bash", "bin/busybox"}, name)
		ok := name == "usr/local/bin/tilgang" || name == "etc/ssl/certs/ca-certificates.crt" ||
			// what the engine itself puts into every container
			name == ".dockerenv" || strings.HasPrefix(name, "etc/") && (name == "etc/hostname" || name == "etc/hosts" || name == "etc/resolv.conf" || name == "etc/mtab") ||
			strings.HasPrefix(name, "dev/") || strings.HasPrefix(name, "proc/") || strings.HasPrefix(name, "sys/")
		require.True(t, ok, "unexpected file in the image: %s", name)
	}

	// A worker: config, principals and catalogue mounted read-only, the
	// SQLite ledger in a volume owned by the image's user.
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)
	etc := filepath.Join(dir, "etc")
	state := filepath.Join(dir, "state")
	require.NoError(t, os.MkdirAll(filepath.Join(etc, "policies"), 0o755))
	require.NoError(t, os.MkdirAll(state, 0o700))
	for name, body := range testenv.Catalogue {
		require.NoError(t, os.WriteFile(filepath.Join(etc, "policies", name), []byte(body), 0o644))
	}
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(etc, "worker.nk"), append(seed, '\n'), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(etc, "principals.yaml"),
		[]byte("principals:\n  - {id: worker, kind: service, key: "+pub+"}\n"), 0o644))
	port := testenv.FreePort(t)
	require.NoError(t, os.WriteFile(filepath.Join(etc, "worker.yaml"), []byte(fmt.Sprintf(`name: image-test
nats: {url: %s, stream_replicas: 1}
ledger: {driver: sqlite, dsn: /var/lib/tilgang/ledger.db}
principals: /etc/tilgang/principals.yaml
worker_key: /etc/tilgang/worker.nk
policies: /etc/tilgang/policies
http: 127.0.0.1:%d
log: {format: json, level: info}
connectors: {manual: {type: manual}, noop: {type: noop, journal: /var/lib/tilgang/noop.journal}}
`, ns.ClientURL(), port)), 0o644))
	for _, p := range []string{etc, state, filepath.Join(etc, "policies"), filepath.Join(etc, "worker.nk")} {
		require.NoError(t, os.Chown(p, imageUID, imageUID))
	}
	name := fmt.Sprintf("tilgang-test-%d", os.Getpid())
	run("run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges",
		"-v", etc+":/etc/tilgang:ro", "-v", state+":/var/lib/tilgang", tag)
	t.Cleanup(func() {
		if t.Failed() {
			logs := exec.Command(engine, "logs", name)
			logs.Env = env
			out, _ := logs.CombinedOutput()
			t.Logf("the container's log:\n%s", out)
		}
		rm := exec.Command(engine, "rm", "-f", name)
		rm.Env = env
		rm.Run()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if r, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				require.Equal(t, "ready\n", string(b))
				last = ""
				break
			}
			last = fmt.Sprintf("%d %s", r.StatusCode, b)
		} else {
			last = err.Error()
		}
		if st := run("inspect", "-f", "{{.State.Running}}", name); st != "true" {
			t.Fatalf("the container stopped: %s", last)
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.Empty(t, last, "/readyz did not answer ready within 60 s")
	top := strings.Fields(run("top", name, "-o", "pid,uid")) // PID UID pid uid
	require.Len(t, top, 4, "one process in the container")
	require.Equal(t, fmt.Sprintf("%d", imageUID), top[3], "the worker runs as the image's user")
	fi, err := os.Stat(filepath.Join(state, "ledger.db"))
	require.NoError(t, err, "the ledger is in the volume")
	require.True(t, fi.Mode().IsRegular())

	// It stops on SIGTERM within the manifests' grace period.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	stop := exec.CommandContext(ctx, engine, "stop", "-t", "40", name)
	stop.Env = env
	out, err = stop.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "0", run("inspect", "-f", "{{.State.ExitCode}}", name), "a clean stop")
}

// tarFiles lists the regular files and links of a tar stream.
func tarFiles(t *testing.T, r io.Reader) []string {
	t.Helper()
	cmd := exec.Command("tar", "-t")
	cmd.Stdin = r
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var names []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n := strings.TrimPrefix(sc.Text(), "./"); n != "" && !strings.HasSuffix(n, "/") {
			names = append(names, n)
		}
	}
	require.NoError(t, cmd.Wait())
	return names
}
