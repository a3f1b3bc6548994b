package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/crashtest"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// runWorkerChild is one `tilgang worker` replica in a child process.
func runWorkerChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "worker child:", err); return 1 }
	data := os.Getenv("TILGANG_CHILD_DATA")
	ps, err := principals.EnsureDev(data)
	if err != nil {
		return fail(err)
	}
	wk, err := principals.EnsureWorkerKey(data) // one key, shared by every replica
	if err != nil {
		return fail(err)
	}
	store, err := sqlledger.OpenPostgres(ctx, os.Getenv("TILGANG_CHILD_DSN"), 6)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	nc, err := noop.Open(noop.Config{Journal: filepath.Join(data, "noop.journal")})
	if err != nil {
		return fail(err)
	}
	conns := connectors.Set{"noop": nc, "manual": manual.Connector{}}
	if extra := os.Getenv("TILGANG_CHILD_EXTRA"); extra != "" {
		// Another instance only this replica has.
		ec, err := noop.Open(noop.Config{})
		if err != nil {
			return fail(err)
		}
		conns[extra] = ec
	}
	defer conns.Close()
	err = app.Worker(ctx, app.WorkerOptions{Name: os.Getenv("TILGANG_CHILD_NAME"), NATS: os.Getenv("TILGANG_CHILD_NATS"), Ledger: store,
		Principals: ps, Policies: os.Getenv("TILGANG_CHILD_POLICIES"), Connectors: conns,
		HTTP: os.Getenv("TILGANG_CHILD_HTTP"), Log: log, LeaseTTL: 2 * time.Second, Partitions: 4, ClaimLease: 6 * time.Second, CallTimeout: 2 * time.Second, WorkerKey: wk})
	if err != nil {
		return fail(err)
	}
	return 0
}

// replica is a worker child process.
type replica struct {
	name string
	p    *crashtest.Process
	done chan struct{}
	http string
	log  *testenv.Buffer // its log, when asked for
}

type cluster struct {
	t                            *testing.T
	data, policies, natsURL, dsn string
	mu                           sync.Mutex
	replicas                     []*replica
	starts                       int
}

func (c *cluster) start(slot int, env ...string) *replica {
	c.mu.Lock()
	c.starts++
	name := fmt.Sprintf("w%d-%d", slot, c.starts)
	c.mu.Unlock()
	r := &replica{name: name, http: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(c.t))}
	for _, e := range env {
		if e == "TILGANG_TEST_LOG=1" {
			r.log = &testenv.Buffer{}
		}
	}
	var stderr io.Writer
	if r.log != nil {
		stderr = r.log
	}
	r.p = crashtest.Start(c.t, "worker", append([]string{"TILGANG_CHILD_DATA=" + c.data, "TILGANG_CHILD_DSN=" + c.dsn,
		"TILGANG_CHILD_NATS=" + c.natsURL, "TILGANG_CHILD_POLICIES=" + c.policies, "TILGANG_CHILD_NAME=" + name, "TILGANG_CHILD_HTTP=" + r.http},
		env...), stderr)
	r.done = r.p.Exited
	return r
}

func (r *replica) kill() { r.p.Kill() }

func (r *replica) stop(t *testing.T) { r.p.Stop(t, 60*time.Second) }

func waitReady(t *testing.T, addr string) {
	require.Eventually(t, func() bool {
		r, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond)
}

// workload builds a deterministic mix for n people: joiners, grant
// requests with and without approval, approvals, movers, revokes, leavers.
func workload(t *testing.T, s *client.Sender, n, total int) []*nats.Msg {
	rng := rand.New(rand.NewPCG(7, 11))
	var msgs []*nats.Msg
	add := func(typ, person, actor string, data any) string {
		env, err := s.New(typ, person, actor, data)
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		msgs = append(msgs, m)
		return env.Key()
	}
	base := testenv.People()
	for _, p := range base {
		add(tilgang.TypeHRJoiner, p.ID, "hr", envelope.HR{Version: 1, Person: p})
	}
	person := func(i int) tilgang.Person {
		p := base[0]
		p.ID = fmt.Sprintf("1547-%d", 5000+i)
		p.Employments = []tilgang.Employment{base[0].Employments[0]}
		p.Employments[0].ID = p.ID + "-1"
		p.Employments[0].Manager = "1547-2"
		return p
	}
	version := map[int]int64{}
	left := map[int]bool{}
	var pendingLeder []struct {
		i     int
		id    string
		stage int
	}
	for i := 0; i < n; i++ {
		version[i] = 1
		add(tilgang.TypeHRJoiner, person(i).ID, "hr", envelope.HR{Version: 1, Person: person(i)})
	}
	for len(msgs) < total {
		i := rng.IntN(n)
		p := person(i)
		switch k := rng.IntN(100); {
		case k < 35:
			add(tilgang.TypeRequest, p.ID, "hr", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "trenger kasse"})
		case k < 50:
			id := add(tilgang.TypeRequest, p.ID, "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "leder", Reason: "leder"})
			pendingLeder = append(pendingLeder, struct {
				i     int
				id    string
				stage int
			}{i, id, 0})
		case k < 70 && len(pendingLeder) > 0:
			j := rng.IntN(len(pendingLeder))
			pl := &pendingLeder[j]
			approver := []string{"1547-3", "1547-20001"}[pl.stage]
			add(tilgang.TypeDecision, person(pl.i).ID, approver, envelope.Decision{RequestID: pl.id, Decision: "approve", Comment: "ok"})
			pl.stage++
			if pl.stage == 2 {
				pendingLeder = append(pendingLeder[:j], pendingLeder[j+1:]...)
			}
		case k < 82:
			add(tilgang.TypeRequest, p.ID, "hr", envelope.Request{Action: "revoke", System: "kasse", Role: "bruker", Reason: "slutter i rollen"})
		case k < 94:
			version[i]++
			p.FamilyName = fmt.Sprintf("Nyttnavn-%d", version[i])
			add(tilgang.TypeHRMover, p.ID, "hr", envelope.HR{Version: version[i], Person: p})
		default:
			if left[i] {
				continue
			}
			left[i] = true
			version[i]++
			p.Employments[0].End = tilgang.Date{Y: 2025, M: 6, D: 30}
			add(tilgang.TypeHRLeaver, p.ID, "hr", envelope.HR{Version: version[i], Person: p})
		}
	}
	return msgs
}

// outcome is a person's effective end state: the roles held and whether
// they have left.
type outcome map[string]string

func outcomes(t *testing.T, l ledger.Reader, people []string) outcome {
	ctx := context.Background()
	out := outcome{}
	for _, id := range people {
		gs, err := l.Grants(ctx, ledger.GrantFilter{Person: id})
		require.NoError(t, err)
		var held []string
		for _, g := range gs {
			if g.State == tilgang.StateActive {
				held = append(held, g.System+"/"+g.Role)
			}
		}
		sort.Strings(held)
		p, err := l.Person(ctx, id)
		require.NoError(t, err)
		out[id] = fmt.Sprintf("held=%v left=%v name=%s", held, p != nil && p.Left, p.Person.FamilyName)
	}
	return out
}

// reference applies the messages one by one in stream order, letting all
// work finish after each: what the replicas must end up agreeing with.
// unloaded is a transaction whose Load does nothing.
type unloaded struct{ ledger.Tx }

func (unloaded) Load(persons, keys []string) error { return nil }

func reference(t *testing.T, dir, policies string, ps *principals.Set, msgs []jetstream.Msg) (*sqlledger.Store, *noop.Connector) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(dir, "reference.db"))
	require.NoError(t, err)
	cat, err := policy.Load(policies, []string{"manual", "noop"})
	require.NoError(t, err)
	eng := engine.New(cat, ps, connectors.Set{"manual": manual.Connector{}}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	target, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	// The reference never loads: every read and write goes to the database
	// at once, so it is also the oracle for the replicas' batched reads and
	// kept writes (ledger.Tx.Load).
	begin := func() (ledger.Tx, error) {
		tx, err := store.Begin(ctx)
		return unloaded{tx}, err
	}
	for _, m := range msgs {
		meta, err := m.Metadata()
		require.NoError(t, err)
		tx, err := begin()
		require.NoError(t, err)
		_, err = eng.Apply(tx, engine.Decode(m.Subject(), m.Data(), meta.Sequence.Stream))
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		for {
			ops, err := store.Claim(ctx, "reference", time.Now(), time.Minute, 100)
			require.NoError(t, err)
			if len(ops) == 0 {
				break
			}
			for _, op := range ops {
				tx, err := begin()
				require.NoError(t, err)
				if op.Connector == ledger.Internal {
					require.NoError(t, eng.RunInternal(tx, op))
				} else {
					p, err := tx.Person(op.Person)
					require.NoError(t, err)
					a := connectors.Account{Person: p.Person, Ref: connectors.Ref{"id": op.Person}, Disabled: op.Disabled}
					switch op.Kind {
					case ledger.KindEnsureAccount:
						_, _, err = target.EnsureAccount(ctx, a)
					case ledger.KindGrant:
						err = target.Grant(ctx, a, op.Entitlement)
					case ledger.KindRevoke:
						err = target.Revoke(ctx, a, op.Entitlement)
					case ledger.KindDisable:
						err = target.Disable(ctx, a)
					case ledger.KindEnable:
						err = target.Enable(ctx, a)
					}
					require.NoError(t, err)
					require.NoError(t, eng.Done(tx, op, a.Ref))
				}
				require.NoError(t, tx.Commit())
			}
		}
	}
	return store, target
}

// TestReplicasSurviveKills runs three worker replicas on one NATS server
// and one PostgreSQL database through a mixed workload for 200 people while
// one replica is killed with SIGKILL every few seconds and restarted. Every
// person ends as processing their messages one by one in stream order
// would leave them, every effect happened once at the counting connector,
// and the audit chain verifies against its anchor.
func TestReplicasSurviveKills(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test: skipped with -short")
	}
	const people, total = 200, 2000
	dsn := pgtest.Schema(t)
	c, ps, sender := newCluster(t, dsn, "replica-test")
	msgs := workload(t, sender, people, total)

	reps := []*replica{c.start(1), c.start(2), c.start(3)}
	for _, r := range reps {
		waitReady(t, r.http)
	}
	nc, err := nats.Connect(c.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	// Publish while a killer takes a replica down every 1.5-3 s.
	stopKilling := make(chan struct{})
	killed := 0
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		rng := rand.New(rand.NewPCG(3, 5))
		for {
			select {
			case <-stopKilling:
				return
			case <-time.After(time.Duration(1500+rng.IntN(1500)) * time.Millisecond):
			}
			slot := rng.IntN(len(reps))
			reps[slot].kill()
			killed++
			reps[slot] = c.start(slot + 1)
		}
	}()
	for i, m := range msgs {
		_, err := js.PublishMsg(context.Background(), m)
		require.NoError(t, err, "publish %d", i)
		if i%20 == 0 {
			time.Sleep(150 * time.Millisecond) // a steady stream over ~15 s, so kills land mid-work
		}
	}
	time.Sleep(3 * time.Second)
	close(stopKilling)
	killer.Wait()
	t.Logf("killed %d replicas with SIGKILL", killed)

	store := settle(t, dsn, len(msgs), reps)
	ref, refTarget := compareWithReference(t, js, store, c.policies, ps, len(msgs), people)
	defer ref.Close()
	var ids []string
	for i := 0; i < people; i++ {
		ids = append(ids, fmt.Sprintf("1547-%d", 5000+i))
	}

	// Every journal line is a real change (no effect twice), and the target
	// ends where the reference's target ends.
	effects, err := noop.ReadJournal(filepath.Join(c.data, "noop.journal"))
	require.NoError(t, err)
	replay, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	for i, e := range effects {
		require.True(t, replay.Replay(e), "effect %d (%v) changed nothing: done twice", i, e)
	}
	for _, id := range ids {
		for _, ent := range []string{"KASSE-BRUKER", "KASSE-LEDER"} {
			require.Equal(t, refTarget.Member(id, ent), replay.Member(id, ent), "%s %s", id, ent)
		}
		// A grant cancelled before its provisioning started never made an
		// account, where the reference (which lets all work finish between
		// messages) made one and then only revoked the role: access is the
		// same. Where the replicas did make an account, it is enabled
		// exactly when the reference's is.
		we, _ := refTarget.Enabled(id)
		ge, gotAccount := replay.Enabled(id)
		if gotAccount && we != ge {
			for _, e := range effects {
				if e.Person == id {
					t.Logf("replicas effect: %v", e)
				}
			}
			for _, e := range refTarget.Effects() {
				if e.Person == id {
					t.Logf("reference effect: %v", e)
				}
			}
			for name, l := range map[string]ledger.Reader{"replicas": store, "reference": ref} {
				rows, _ := l.Audit(context.Background(), ledger.AuditFilter{Person: id})
				for _, r := range rows {
					t.Logf("%s: %s %s/%s %s %s->%s %s %v", name, r.Entry.Kind, r.Entry.System, r.Entry.Role, r.Entry.GrantID, r.Entry.From, r.Entry.To, r.Entry.Text, r.Entry.Details)
				}
			}
		}
		if gotAccount {
			require.Equal(t, we, ge, "%s enabled", id)
		}
	}

	anchor, err := publish.LastAnchor(context.Background(), js)
	require.NoError(t, err)
	rep, err := store.Verify(context.Background(), anchor)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	b, _ := json.Marshal(rep)
	t.Logf("verify: %s", b)
}

// stopped reports whether the process is stopped (SIGSTOP).
func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "T"
}

// TestStaleIntakeCannotCommit: the active intake stops (SIGSTOP) in the
// middle of a batch; a standby takes the lease over and applies the
// stream; when the stale one resumes (SIGCONT) it cannot commit its batch.
// Every message is applied once, and the chain verifies.
func TestStaleIntakeCannotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test: skipped with -short")
	}
	dsn := pgtest.Schema(t) + "&idle_in_transaction_session_timeout=3000"
	c, _, sender := newCluster(t, dsn, "stale-test")
	msgs := workload(t, sender, 40, 400)

	a := c.start(1, "TILGANG_PAUSEPOINT=intake.mid-batch:2", "TILGANG_TEST_LOG=1")
	waitReady(t, a.http)
	nc, err := nats.Connect(c.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	for i, m := range msgs {
		_, err := js.PublishMsg(context.Background(), m)
		require.NoError(t, err)
		if i%10 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	require.Eventually(t, func() bool { return stopped(a.p.Pid()) }, 30*time.Second, 20*time.Millisecond, "the active intake pauses mid-batch:\n%s", a.log.String())

	b := c.start(2)
	waitReady(t, b.http)
	store, err := sqlledger.OpenPostgres(context.Background(), dsn, 2)
	require.NoError(t, err)
	defer store.Close()
	require.Eventually(t, func() bool {
		st, err := store.Stats(context.Background())
		return err == nil && st.Messages == int64(len(msgs))
	}, 60*time.Second, 100*time.Millisecond, "the standby takes over and applies everything")

	// The standby's metrics say it is the active intake now and what it applied.
	metrics := func(r *replica) string {
		resp, err := http.Get("http://" + r.http + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	mb := metrics(b)
	require.Contains(t, mb, `tilgang_intake_lease_held{holder="`+b.name+`"} 1`)
	require.Regexp(t, `tilgang_messages_total\{outcome="accepted"\} [1-9]`, mb)
	require.Contains(t, mb, "tilgang_connector_seconds_bucket")

	require.NoError(t, a.p.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool {
		l := a.log.String()
		return strings.Contains(l, "lease") && (strings.Contains(l, "lost") || strings.Contains(l, "no longer held"))
	}, 30*time.Second, 100*time.Millisecond, "the stale intake finds its lease gone:\n%s", a.log.String())
	time.Sleep(time.Second)
	a.stop(t)
	b.stop(t)

	st, err := store.Stats(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, len(msgs), st.Messages, "every message once")
	anchor, err := publish.LastAnchor(context.Background(), js)
	require.NoError(t, err)
	rep, err := store.Verify(context.Background(), anchor)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}

// settle waits until every message is applied and every operation has
// finished, then stops the replicas; it returns the ledger to inspect.
func settle(t *testing.T, dsn string, messages int, reps []*replica) *sqlledger.Store {
	store, err := sqlledger.OpenPostgres(context.Background(), dsn, 2)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	require.Eventually(t, func() bool {
		st, err := store.Stats(context.Background())
		return err == nil && st.Messages == int64(messages) && st.OpsByState[ledger.OpQueued] == 0 && st.OpsByState[ledger.OpClaimed] == 0
	}, 120*time.Second, 200*time.Millisecond, "every message applied and every operation finished")
	for _, r := range reps {
		r.stop(t)
	}
	return store
}

// compareWithReference reads the stream in order, runs it through the
// reference, and requires every person to end alike in both.
func compareWithReference(t *testing.T, js jetstream.JetStream, store ledger.Reader, policies string, ps *principals.Set, messages, people int) (*sqlledger.Store, *noop.Connector) {
	cons, err := js.OrderedConsumer(context.Background(), streams.In, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var inOrder []jetstream.Msg
	for len(inOrder) < messages {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			inOrder = append(inOrder, m)
		}
	}
	ref, refTarget := reference(t, t.TempDir(), policies, ps, inOrder)
	var ids []string
	for i := 0; i < people; i++ {
		ids = append(ids, fmt.Sprintf("1547-%d", 5000+i))
	}
	got, want := outcomes(t, store, ids), outcomes(t, ref, ids)
	for _, id := range ids {
		if want[id] != got[id] {
			for name, l := range map[string]ledger.Reader{"replicas": store, "reference": ref} {
				rows, _ := l.Audit(context.Background(), ledger.AuditFilter{Person: id})
				for _, r := range rows {
					if r.Entry.Kind == "hr.record" {
						continue
					}
					t.Logf("%s: %s %s/%s %s %s->%s %s %v", name, r.Entry.Kind, r.Entry.System, r.Entry.Role, r.Entry.GrantID, r.Entry.From, r.Entry.To, r.Entry.Text, r.Entry.Details)
				}
			}
		}
		require.Equal(t, want[id], got[id], "person %s", id)
	}
	return ref, refTarget
}

// newCluster starts an embedded NATS server for a replica test and makes
// the dev keys; it returns the cluster (for replicas), the principals and
// a sender signing with the dev key.
func newCluster(t *testing.T, dsn, source string) (*cluster, *principals.Set, *client.Sender) {
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)
	ps, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	c := &cluster{t: t, data: dir, policies: testenv.WriteCatalogue(t, testenv.Catalogue), natsURL: ns.ClientURL(), dsn: dsn}
	return c, ps, &client.Sender{Key: key, Via: principals.DevID, Source: source}
}
