package review_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/review"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestCloseCallAnswersClosing: a review.close call that outlasts its wait
// answers closing; a second call while it is closing goes on where the
// first stopped; the schedule finishes it; a call after that is refused
// as closed already. Every unanswered grant is revoked exactly once and
// the chain verifies.
func TestCloseCallAnswersClosing(t *testing.T) {
	w := newWorld(t, arkiv)
	ctx := context.Background()
	st, err := w.runner.Start(ctx, "arkiv", "1547-20001")
	require.NoError(t, err)

	// An API server of its own on its own NATS, over the world's ledger
	// and runner, whose calls wait 1 s and whose close pauses 1.5 s after
	// each batch of 1 item: a call applies one batch and answers.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ps, err := principals.EnsureDev(w.env.Data)
	require.NoError(t, err)
	w.runner.Batch = 1
	review.SetAfterBatch(w.runner, func(int) error { time.Sleep(1500 * time.Millisecond); return nil })
	srv := &api.Server{Ledger: w.store, Catalogue: w.runner.Engine.Catalogue, Principals: func() *principals.Set { return ps },
		Reviews: w.runner, CloseWait: time.Second}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	serving := make(chan struct{})
	srv.Serving = serving
	go func() { done <- srv.Serve(sctx, nc) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	<-serving
	key, err := principals.LoadSeed(filepath.Join(w.env.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	c := &api.Client{NC: nc, Key: key, Actor: principals.DevID, Timeout: 10 * time.Second}

	applied := func() int {
		items, err := w.store.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: st.CampaignID})
		require.NoError(t, err)
		n := 0
		for _, it := range items {
			if it.Applied {
				n++
			}
		}
		return n
	}
	var first review.Closed
	require.NoError(t, c.Call(ctx, api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: st.CampaignID}, &first))
	require.Equal(t, ledger.CampaignClosing, first.State)
	require.Equal(t, first.Revoked, applied(), "the call answers what it applied")
	require.Greater(t, first.Revoked, 0)
	require.Less(t, first.Revoked, 8)

	var second review.Closed
	require.NoError(t, c.Call(ctx, api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: st.CampaignID}, &second))
	require.Equal(t, ledger.CampaignClosing, second.State)
	require.Greater(t, second.Revoked, 0, "the second call goes on where the first stopped")
	require.Equal(t, first.Revoked+second.Revoked, applied())
	camp, err := w.store.Campaign(ctx, st.CampaignID)
	require.NoError(t, err)
	require.Equal(t, ledger.CampaignClosing, camp.State)
	require.Equal(t, principals.DevID, camp.ClosedBy)

	// The worker's schedule finishes it.
	review.SetAfterBatch(w.runner, nil)
	require.NoError(t, w.runner.Tick(ctx))
	camp, err = w.store.Campaign(ctx, st.CampaignID)
	require.NoError(t, err)
	require.Equal(t, ledger.CampaignClosed, camp.State)
	require.Equal(t, 8, applied())

	err = c.Call(ctx, api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: st.CampaignID}, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "closed already")

	for _, p := range w.people {
		w.env.Wait(tilgang.EvGrantRevoked, p, testenv.ForGrant(w.grants[p]))
		ops, err := w.store.Operations(ctx, w.grants[p])
		require.NoError(t, err)
		revokes := 0
		for _, op := range ops {
			if op.Kind == ledger.KindRevoke {
				revokes++
			}
		}
		require.Equal(t, 1, revokes, p)
	}
	rep, err := w.store.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}
