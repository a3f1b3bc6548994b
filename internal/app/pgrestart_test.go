package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// privatePostgres starts a PostgreSQL server of the test's own (initdb in
// a temporary directory, as the postgres user, on a free port), so the
// test may restart it without disturbing anyone else's.
func privatePostgres(t *testing.T) (dsn string, restart func(down time.Duration)) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	pgUser, err := user.Lookup("postgres")
	if len(bins) == 0 || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries are not installed (Debian: postgresql)")
		}
		t.Skip("PostgreSQL server binaries are not installed: apt-get install postgresql")
	}
	bin := filepath.Dir(bins[0])
	dir, err := os.MkdirTemp("/var/tmp", "tilgang-pg-")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	require.NoError(t, os.Chown(dir, uid, gid))
	run := func(args ...string) {
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "root", "--no-sync")
	port := testenv.FreePort(t)
	start := func() {
		run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o",
			fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "start")
	}
	stop := func(mode string) { run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", mode, "-w", "stop") }
	start()
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	return fmt.Sprintf("postgres://root@127.0.0.1:%d/postgres?sslmode=disable", port), func(down time.Duration) {
		stop("fast")
		time.Sleep(down)
		start()
	}
}

// TestPostgresRestartMidRun restarts the PostgreSQL server (down for 3 s)
// while two replicas work through a stream: they wait, recover, and lose
// nothing.
func TestPostgresRestartMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test: skipped with -short")
	}
	dsn, restart := privatePostgres(t)
	c, ps, sender := newCluster(t, dsn, "pg-restart-test")
	const people = 60
	msgs := workload(t, sender, people, 600)

	reps := []*replica{c.start(1), c.start(2)}
	for _, r := range reps {
		waitReady(t, r.http)
	}
	nc, err := nats.Connect(c.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	restarted := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		restart(3 * time.Second)
		close(restarted)
	}()
	for i, m := range msgs {
		_, err := js.PublishMsg(context.Background(), m)
		require.NoError(t, err)
		if i%10 == 0 {
			time.Sleep(60 * time.Millisecond)
		}
	}
	<-restarted

	store := settle(t, dsn, len(msgs), reps)
	ref, _ := compareWithReference(t, js, store, c.policies, ps, len(msgs), people)
	defer ref.Close()
	anchor, err := publish.LastAnchor(context.Background(), js)
	require.NoError(t, err)
	rep, err := store.Verify(context.Background(), anchor)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}
