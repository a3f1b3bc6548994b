package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/crashtest"

	_ "modernc.org/sqlite"
)

// TestMain lets the crash and replica tests run `tilgang dev` and workers
// as child processes (crashtest): the test binary runs again as the child,
// so it can be killed with SIGKILL like a real worker.
func TestMain(m *testing.M) {
	crashtest.Main(m, map[string]func() int{"dev": runDevChild, "worker": runWorkerChild})
}

// runDevChild is `tilgang dev` as the environment configures it.
func runDevChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	err := app.Dev(ctx, app.DevOptions{Data: os.Getenv("TILGANG_CHILD_DATA"), Policies: os.Getenv("TILGANG_CHILD_POLICIES"),
		NATSListen: os.Getenv("TILGANG_CHILD_NATS"), HTTP: os.Getenv("TILGANG_CHILD_HTTP"), Log: log,
		SMTP: os.Getenv("TILGANG_CHILD_SMTP")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is a `tilgang dev` process, started again after each kill.
type child struct {
	t                  *testing.T
	data, policies     string
	natsAddr, httpAddr string
	smtp               string // the SMTP server dev mails to, "" for none
	p                  *crashtest.Process
	exited             chan struct{}
}

func (c *child) start(crashpoint string) {
	c.t.Helper()
	c.p = crashtest.Start(c.t, "dev", []string{"TILGANG_CHILD_DATA=" + c.data, "TILGANG_CHILD_POLICIES=" + c.policies,
		"TILGANG_CHILD_NATS=" + c.natsAddr, "TILGANG_CHILD_HTTP=" + c.httpAddr, "TILGANG_CRASHPOINT=" + crashpoint, "TILGANG_CHILD_SMTP=" + c.smtp}, nil)
	c.exited = c.p.Exited
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return // crashed before it was ready: the caller restarts it
		default:
		}
		if r, err := http.Get("http://" + c.httpAddr + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("child did not become ready in 30 s")
}

func (c *child) kill() { c.p.Kill() }

func (c *child) stop() {
	require.Equal(c.t, 0, c.p.Stop(c.t, 60*time.Second), "clean stop")
}

// TestCrashRecovery kills the worker with SIGKILL mid-batch, after a
// commit before the ack, mid-operation and at random moments while 500
// people are imported and 500 no-approval requests are processed; after
// restarts every request is in the ledger once, every grant is active,
// the connector saw each effect exactly once, and the chain verifies.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	const n = 500
	c := &child{t: t, data: t.TempDir(), policies: testenv.WriteCatalogue(t, testenv.Catalogue),
		natsAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), httpAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	c.start("")
	key, err := principals.LoadSeed(filepath.Join(c.data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	sender := &client.Sender{Key: key, Via: principals.DevID, Source: "crash-test"}

	// Build every message first, so a retried publish sends the same bytes.
	var msgs []*nats.Msg
	base := testenv.People()[0]
	for i := 0; i < n; i++ {
		p := base
		p.ID = fmt.Sprintf("1547-%d", 1000+i)
		p.Employments = []tilgang.Employment{base.Employments[0]}
		p.Employments[0].Manager = "1547-2"
		env, err := sender.New(tilgang.TypeHRJoiner, p.ID, principals.HRID, envelope.HR{Version: 1, Person: p})
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	for i := 0; i < n; i++ {
		env, err := sender.New(tilgang.TypeRequest, fmt.Sprintf("1547-%d", 1000+i), "hr", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny ansatt"})
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	c.stop()

	// The crash schedule: named points (the n-th pass kills the process)
	// and random external SIGKILLs ("").
	schedule := []string{"intake.mid-batch:2", "intake.after-commit:2", "", "executor.mid-operation:30", "intake.after-commit:5",
		"executor.mid-operation:150", "", "intake.mid-batch:3", "executor.mid-operation:400", ""}
	published := publishThroughKills(t, c.natsAddr, msgs, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, point := range schedule {
		c.start(point)
		wait := 6 * time.Second
		if point == "" {
			wait = time.Duration(300+rng.IntN(1200)) * time.Millisecond
		}
		select {
		case <-c.exited:
			t.Logf("crashed at %q", point)
		case <-time.After(wait):
			t.Logf("killed from outside (point %q)", point)
			c.kill()
		}
	}
	c.start("")
	<-published
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.data, "ledger.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	if !assertEventually(func() bool {
		var active int
		_ = db.QueryRow(`SELECT COUNT(*) FROM grants WHERE state = 'active'`).Scan(&active)
		return active == n
	}, 90*time.Second) {
		for _, q := range []string{`SELECT 'messages', COUNT(*) FROM messages`, `SELECT 'persons', COUNT(*) FROM persons`,
			`SELECT 'grants ' || state, COUNT(*) FROM grants GROUP BY state`, `SELECT 'ops ' || state || ' ' || kind, COUNT(*) FROM operations GROUP BY state, kind`,
			`SELECT 'requests ' || outcome || ' ' || why, COUNT(*) FROM requests GROUP BY outcome, why`} {
			rows, err := db.Query(q)
			require.NoError(t, err)
			for rows.Next() {
				var k string
				var v int
				rows.Scan(&k, &v)
				t.Logf("%s: %d", k, v)
			}
			rows.Close()
		}
		t.Fatal("not every grant became active")
	}
	c.stop()

	var requests, grants, people, rejected int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM requests WHERE action = 'grant'`).Scan(&requests))
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM grants`).Scan(&grants))
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM persons`).Scan(&people))
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM requests WHERE outcome <> 'accepted'`).Scan(&rejected))
	require.Equal(t, n, requests, "every request once")
	require.Equal(t, n, grants, "one grant per request")
	require.Equal(t, n, people)
	require.Zero(t, rejected, "nothing rejected")

	effects, err := noop.ReadJournal(filepath.Join(c.data, "noop.journal"))
	require.NoError(t, err)
	seen := map[noop.Effect]int{}
	for _, e := range effects {
		seen[e]++
	}
	require.Len(t, effects, 2*n, "an account and a membership per person, no more")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("1547-%d", 1000+i)
		require.Equal(t, 1, seen[noop.Effect{Op: "create", Person: id, Entitlement: "enabled"}], id)
		require.Equal(t, 1, seen[noop.Effect{Op: "grant", Person: id, Entitlement: "KASSE-BRUKER"}], id)
	}

	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(c.data, "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	rep, err := store.Verify(context.Background(), nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, n, rep.Grants)
}

func assertEventually(f func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return f()
}

// publishThroughKills publishes msgs in order from a goroutine of its own,
// each until the server takes it (the server goes down with the worker
// that embeds it and comes back), calling after(i) once message i is in
// (nil: none). The channel closes when all are.
func publishThroughKills(t *testing.T, natsAddr string, msgs []*nats.Msg, after func(i int)) <-chan struct{} {
	published := make(chan struct{})
	go func() {
		defer close(published)
		nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		for i, m := range msgs {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := js.PublishMsg(ctx, m)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if after != nil {
				after(i)
			}
		}
	}()
	return published
}
