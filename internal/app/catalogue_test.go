package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
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
