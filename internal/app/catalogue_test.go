package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// TestReloadReachesEveryReplica runs two worker replicas and reloads the
// catalogue through the API again and again, adding and removing a
// system: whichever replica answers, both then hold the new version (the
// answer says so, and which one holds the intake lease), and the next
// request is decided with it, whichever replica holds the intake.
func TestReloadReachesEveryReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test: skipped with -short")
	}
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	c, _, sender := newCluster(t, dsn, "catalogue-test")
	nc, err := nats.Connect(c.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	a, b := c.start(1), c.start(2)
	waitReady(t, a.http)
	waitReady(t, b.http)
	send := func(typ, person, actor string, data any) string {
		env, err := sender.New(typ, person, actor, data)
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		_, err = js.PublishMsg(ctx, m)
		require.NoError(t, err)
		return env.Key()
	}
	for _, p := range testenv.People() {
		send(tilgang.TypeHRJoiner, p.ID, "hr", envelope.HR{Version: 1, Person: p})
	}
	store, err := sqlledger.OpenPostgres(ctx, dsn, 2)
	require.NoError(t, err)
	defer store.Close()
	outcome := func(id string) *ledger.Request {
		var r *ledger.Request
		require.Eventually(t, func() bool {
			r, err = store.Request(ctx, id)
			return err == nil && r != nil
		}, 30*time.Second, 50*time.Millisecond, "request %s decided", id)
		return r
	}

	cl := &api.Client{NC: nc, Key: sender.Key, Actor: principals.DevID, Timeout: 20 * time.Second}
	helse := filepath.Join(c.policies, "helse.yaml")
	var versions []string
	for i := range 6 {
		with := i%2 == 0
		if with {
			require.NoError(t, os.WriteFile(helse, []byte(helseSystem["helse.yaml"]), 0o644))
		} else {
			require.NoError(t, os.Remove(helse))
		}
		rr := reload(t, cl)
		versions = append(versions, rr.Version)
		require.Len(t, rr.Replicas, 2, "both replicas answer: %+v", rr.Replicas)
		intakes := 0
		for _, r := range rr.Replicas {
			require.Equal(t, rr.Version, r.Version, "replica %s holds the new catalogue", r.Replica)
			require.Empty(t, r.Error, r.Replica)
			if r.Intake {
				intakes++
			}
		}
		require.Equal(t, 1, intakes, "one replica holds the intake: %+v", rr.Replicas)

		// Decided with the new catalogue, by whichever replica holds the intake.
		req := outcome(send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule")))
		if with {
			require.Equal(t, "denied", req.Outcome, "round %d: %s", i, req.Why)
			require.Contains(t, req.Why, "eligible")
		} else {
			require.Equal(t, "rejected", req.Outcome, "round %d: %s", i, req.Why)
			require.Contains(t, req.Why, `unknown system "helse"`)
		}
	}
	require.NotEqual(t, versions[0], versions[1])
	require.Equal(t, versions[0], versions[2])

	// The ledger keeps the catalogue in force, and the audit says who made it so.
	cur, err := store.Catalogue(ctx)
	require.NoError(t, err)
	require.Equal(t, versions[len(versions)-1], cur.Version)
	require.NotContains(t, cur.Files, "helse.yaml")
	rows, err := store.Audit(ctx, ledger.AuditFilter{})
	require.NoError(t, err)
	reloads := 0
	for _, r := range rows {
		if r.Entry.Kind == "policy.reload" && r.Entry.Actor == principals.DevID {
			reloads++
		}
	}
	require.Equal(t, len(versions), reloads)
}

func reload(t *testing.T, c *api.Client) api.ReloadResult {
	var rr api.ReloadResult
	// The API may take a moment to subscribe after start.
	require.Eventually(t, func() bool {
		return c.Call(context.Background(), api.MethodPolicyReload, struct{}{}, &rr) == nil
	}, 20*time.Second, 100*time.Millisecond)
	return rr
}

// TestReplicaStartsWithOtherFiles: a replica that starts with other policy
// files makes them the catalogue in force, and the running replicas follow
// without a reload. When they cannot load it (it names a connector
// instance only the new replica has), they say so, the intake hands its
// batch back undecided and gives the lease up, and the replica that can
// load it decides.
func TestReplicaStartsWithOtherFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test: skipped with -short")
	}
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	c, _, sender := newCluster(t, dsn, "catalogue-start-test")
	nc, err := nats.Connect(c.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	store, err := sqlledger.OpenPostgres(ctx, dsn, 2)
	require.NoError(t, err)
	defer store.Close()
	send := func(typ, person, actor string, data any) string {
		env, err := sender.New(typ, person, actor, data)
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		_, err = js.PublishMsg(ctx, m)
		require.NoError(t, err)
		return env.Key()
	}
	decided := func(id string) *ledger.Request {
		var r *ledger.Request
		require.Eventually(t, func() bool {
			r, err = store.Request(ctx, id)
			return err == nil && r != nil
		}, 60*time.Second, 50*time.Millisecond, "request %s decided", id)
		return r
	}

	a, b := c.start(1), c.start(2)
	waitReady(t, a.http)
	waitReady(t, b.http)
	for _, p := range testenv.People() {
		send(tilgang.TypeHRJoiner, p.ID, "hr", envelope.HR{Version: 1, Person: p})
	}
	first, err := store.CatalogueVersion(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, first, "the first replica stored its files at start")
	r := decided(send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule")))
	require.Equal(t, "rejected", r.Outcome, r.Why)

	// A third replica with helse: everyone follows.
	withHelse := testenv.WriteCatalogue(t, testenv.Catalogue)
	require.NoError(t, os.WriteFile(filepath.Join(withHelse, "helse.yaml"), []byte(helseSystem["helse.yaml"]), 0o644))
	w3 := c.start(3, "TILGANG_CHILD_POLICIES="+withHelse)
	waitReady(t, w3.http)
	second, err := store.CatalogueVersion(ctx)
	require.NoError(t, err)
	require.NotEqual(t, first, second)
	r = decided(send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule")))
	require.Equal(t, "denied", r.Outcome, r.Why)

	// A fourth whose helse uses a connector instance only it has: the
	// others cannot load that catalogue, and only the fourth may decide.
	w3.stop(t)
	onlyMine := testenv.WriteCatalogue(t, testenv.Catalogue)
	mine := strings.ReplaceAll(helseSystem["helse.yaml"], "noop", "mine")
	require.NoError(t, os.WriteFile(filepath.Join(onlyMine, "helse.yaml"), []byte(mine), 0o644))
	w4 := c.start(4, "TILGANG_CHILD_POLICIES="+onlyMine, "TILGANG_CHILD_EXTRA=mine")
	waitReady(t, w4.http)
	third, err := store.CatalogueVersion(ctx)
	require.NoError(t, err)
	require.NotEqual(t, second, third)
	r = decided(send(tilgang.TypeRequest, "1547-1", "1547-2", grant("helse", "skule")))
	require.Equal(t, "denied", r.Outcome, r.Why)
	require.Equal(t, third, grantCatalogue(t, store, r), "decided with the catalogue in force")

	// Asked, each replica says what it holds and why it cannot follow.
	var held []api.ReplicaCatalogue
	require.Eventually(t, func() bool {
		// A replica that just gave the lease up may still say it holds it
		// until it stands by.
		held = askSync(t, nc, 3)
		return !held[0].Intake && !held[1].Intake
	}, 10*time.Second, 200*time.Millisecond, "only the fourth holds the intake")
	require.Equal(t, []string{a.name, b.name, w4.name}, []string{held[0].Replica, held[1].Replica, held[2].Replica})
	for _, h := range held[:2] {
		require.Equal(t, second, h.Version, "%+v", h)
		require.Contains(t, h.Error, `"mine" is not a configured connector instance`)
	}
	require.Equal(t, api.ReplicaCatalogue{Replica: w4.name, Version: third, Intake: true}, held[2])

	// Without the fourth, a reload of files the others can load moves them on.
	w4.stop(t)
	require.NoError(t, os.WriteFile(filepath.Join(c.policies, "helse.yaml"), []byte(helseSystem["helse.yaml"]), 0o644))
	cl := &api.Client{NC: nc, Key: sender.Key, Actor: principals.DevID, Timeout: 20 * time.Second}
	rr := reload(t, cl)
	require.Equal(t, second, rr.Version)
	require.Len(t, rr.Replicas, 2, "%+v", rr.Replicas)
	for _, rep := range rr.Replicas {
		require.Equal(t, api.ReplicaCatalogue{Replica: rep.Replica, Version: second, Intake: rep.Intake}, rep)
	}
	r = decided(send(tilgang.TypeRequest, "1547-3", "1547-2", grant("helse", "skule")))
	require.Equal(t, second, grantCatalogue(t, store, r), "decided with the catalogue in force")
}

// askSync asks the replicas on app.SyncSubject what they hold and waits
// for n answers, in replica order.
func askSync(t *testing.T, nc *nats.Conn, n int) []api.ReplicaCatalogue {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, nc.PublishRequest(app.SyncSubject, inbox, nil))
	var out []api.ReplicaCatalogue
	for len(out) < n {
		m, err := sub.NextMsg(10 * time.Second)
		require.NoError(t, err, "answers so far: %+v", out)
		var r api.ReplicaCatalogue
		require.NoError(t, json.Unmarshal(m.Data, &r))
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b api.ReplicaCatalogue) int { return strings.Compare(a.Replica, b.Replica) })
	return out
}

// grantCatalogue is the catalogue version the audit chain records for the
// request's decision.
func grantCatalogue(t *testing.T, store ledger.Reader, r *ledger.Request) string {
	rows, err := store.Audit(context.Background(), ledger.AuditFilter{Person: r.Person})
	require.NoError(t, err)
	for _, row := range rows {
		if row.Entry.RequestID == r.ID && row.Entry.Catalogue != "" {
			return row.Entry.Catalogue
		}
	}
	t.Fatalf("no audit row of request %s names a catalogue", r.ID)
	return ""
}
