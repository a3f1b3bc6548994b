package review_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	csvconn "github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/review"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// signIns is a csv instance whose accounts carry the last sign-ins given.
type signIns struct {
	*csvconn.Connector
	last map[string]time.Time
}

func (s signIns) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	return s.Connector.EachAccount(ctx, func(a connectors.TargetAccount) error {
		if t, ok := s.last[a.Person]; ok {
			a.LastSignIn = &t
		}
		return fn(a)
	})
}

const arkiv = `system: arkiv
name: Arkiv
owner: Fellestjenester
administrators: [1547-20001, 1547-20002]
connectors: [csv]
roles:
  - id: bruker
    entitlements: { csv: ["Arkiv-Bruker"] }
    requestable_by: [manager]
    approval: []
review: {reviewers: systemansvarlig, duration: 14d, if_no_response: remove}
`

type world struct {
	env    *testenv.Env
	runner *review.Runner
	store  *sqlledger.Store
	grants map[string]string
	people []string
}

// newWorld runs a worker with arkiv on a csv instance and 8 grants, and a
// Runner of its own on the same ledger file (as a second replica is).
func newWorld(t *testing.T, policyFile string) *world {
	now := time.Now()
	conn, err := csvconn.Open("csv", csvconn.Config{Dir: t.TempDir()}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	conns := connectors.Set{"csv": signIns{conn, map[string]time.Time{
		"1547-701": now.Add(-24 * time.Hour), "1547-702": now.Add(-200 * 24 * time.Hour)}}}
	files := map[string]string{"arkiv.yaml": policyFile}
	e := testenv.StartWorker(t, conns, files)
	w := &world{env: e, grants: map[string]string{}}
	base := testenv.People()
	var people []tilgang.Person
	reqs := map[string]string{}
	for i := 1; i <= 8; i++ {
		p := base[0]
		p.ID = fmt.Sprintf("1547-%d", 700+i)
		p.Employments = []tilgang.Employment{p.Employments[0]}
		p.Employments[0].ID, p.Employments[0].Manager = p.ID+"-1", "1547-2"
		people = append(people, p)
		w.people = append(w.people, p.ID)
	}
	e.Joiner(append(base, people...)...)
	for _, p := range w.people {
		reqs[e.Send(tilgang.TypeRequest, p, "1547-2", envelope.Request{Action: "grant", System: "arkiv", Role: "bruker", Reason: "arkiv"})] = p
	}
	for rid, p := range reqs {
		w.grants[p] = e.Wait(tilgang.EvRequestAccepted, p, testenv.ForRequest(rid)).Data["grant_id"].(string)
		e.Wait(tilgang.EvGrantActive, p, testenv.ForGrant(w.grants[p]))
	}
	ctx := context.Background()
	w.store, err = sqlledger.OpenSQLite(ctx, filepath.Join(e.Data, "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { w.store.Close() })
	cat, err := policy.Load(testenv.WriteCatalogue(t, files), []string{"csv"})
	require.NoError(t, err)
	ps, err := principals.EnsureDev(e.Data)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.runner = &review.Runner{Ledger: w.store, Engine: engine.New(cat, ps, conns, time.Now, log), Connectors: conns, Log: log}
	return w
}

func (w *world) decide(t *testing.T, person, actor, decision string, bulk bool) (string, testenv.Event) {
	c, err := w.store.Campaigns(context.Background(), ledger.ReviewCampaignFilter{System: "arkiv", Limit: 1})
	require.NoError(t, err)
	rid := w.env.Send(tilgang.TypeReviewDecided, person, actor, envelope.ReviewDecision{CampaignID: c[0].ID, GrantID: w.grants[person],
		Decision: decision, Bulk: bulk})
	match := testenv.ForRequest(rid)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		for _, ev := range w.env.Events() {
			if (ev.Kind == tilgang.EvRequestAccepted || ev.Kind == tilgang.EvRequestRejected) && match(ev) {
				return ev.Kind, ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the decision on %s by %s was not recorded in 20 s", person, actor)
	return "", testenv.Event{}
}

// TestRecommendationAndBulkKeep: the target's sign-ins make each item's
// recommendation, and a bulk keep is taken only where it is positive.
func TestRecommendationAndBulkKeep(t *testing.T) {
	w := newWorld(t, arkiv)
	ctx := context.Background()
	st, err := w.runner.Start(ctx, "arkiv", "1547-20001")
	require.NoError(t, err)
	require.Equal(t, 8, st.Items)
	require.NoError(t, w.runner.Recommend(ctx, st.CampaignID))
	items, err := w.store.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: st.CampaignID})
	require.NoError(t, err)
	rec := map[string]string{}
	for _, it := range items {
		rec[it.Person] = it.Recommendation
		require.Equal(t, []string{"1547-20001", "1547-20002"}, it.Reviewers)
	}
	require.Equal(t, ledger.RecommendPositive, rec["1547-701"])
	require.Equal(t, ledger.RecommendNegative, rec["1547-702"])
	require.Equal(t, ledger.RecommendUnknown, rec["1547-703"])
	c, err := w.store.Campaign(ctx, st.CampaignID)
	require.NoError(t, err)
	require.True(t, c.Recommended)

	kind, _ := w.decide(t, "1547-701", "1547-20001", "keep", true)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	for _, p := range []string{"1547-702", "1547-703"} {
		kind, ev := w.decide(t, p, "1547-20001", "keep", true)
		require.Equal(t, tilgang.EvRequestRejected, kind, p)
		require.Contains(t, ev.Data["reason"], "a bulk keep is only for items")
	}
	// Decided on its own, the negative one may be kept.
	kind, _ = w.decide(t, "1547-702", "1547-20002", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
}

// TestCloseResumesWithoutRevokingTwice: a close cut short after its first
// batch (as a crash after that commit leaves it) stays closing; the next
// close finishes it, and every grant it revokes is revoked once.
func TestCloseResumesWithoutRevokingTwice(t *testing.T) {
	w := newWorld(t, arkiv)
	ctx := context.Background()
	st, err := w.runner.Start(ctx, "arkiv", "1547-20001")
	require.NoError(t, err)
	kind, _ := w.decide(t, w.people[0], "1547-20001", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	kind, _ = w.decide(t, w.people[1], "1547-20002", "remove", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)

	crash := errors.New("crash after the batch")
	w.runner.Batch = 3
	review.SetAfterBatch(w.runner, func(n int) error { return crash })
	_, err = w.runner.Close(ctx, st.CampaignID, principals.DevID)
	require.ErrorIs(t, err, crash)
	c, err := w.store.Campaign(ctx, st.CampaignID)
	require.NoError(t, err)
	require.Equal(t, ledger.CampaignClosing, c.State)
	applied := 0
	items, err := w.store.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: st.CampaignID})
	require.NoError(t, err)
	for _, it := range items {
		if it.Applied {
			applied++
		}
	}
	require.Equal(t, 3, applied, "the first batch was committed")
	// Decisions are over once closing began.
	kind, _ = w.decide(t, w.people[2], "1547-20001", "keep", false)
	require.Equal(t, tilgang.EvRequestRejected, kind)

	review.SetAfterBatch(w.runner, nil)
	out, err := w.runner.Close(ctx, st.CampaignID, principals.DevID)
	require.NoError(t, err)
	require.Equal(t, ledger.CampaignClosed, out.State)
	_, err = w.runner.Close(ctx, st.CampaignID, principals.DevID)
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(err))

	gone := slices.Clone(w.people[1:])
	for _, p := range gone {
		w.env.Wait(tilgang.EvGrantRevoked, p, testenv.ForGrant(w.grants[p]))
	}
	for _, p := range w.people {
		ops, err := w.store.Operations(ctx, w.grants[p])
		require.NoError(t, err)
		revokes := 0
		for _, op := range ops {
			if op.Kind == ledger.KindRevoke {
				revokes++
			}
		}
		want := 1
		if p == w.people[0] {
			want = 0
		}
		require.Equal(t, want, revokes, p)
		g, err := w.store.Grant(ctx, w.grants[p])
		require.NoError(t, err)
		if want == 1 {
			require.Equal(t, tilgang.StateRevoked, g.State, p)
		} else {
			require.Equal(t, tilgang.StateActive, g.State, p)
		}
	}
}

// TestMineRemindedAndEscalated: review.mine lists what a reviewer must
// decide, with why each grant was given; the reminder tells the reviewer,
// and the escalation of a manager's items lets the manager's manager
// decide them.
func TestMineRemindedAndEscalated(t *testing.T) {
	w := newWorld(t, strings.Replace(arkiv, "reviewers: systemansvarlig", "reviewers: manager", 1))
	w.runner.Engine.Reminders = engine.Reminders{RemindAfter: 1, EscalateAfter: 2}
	ctx := context.Background()
	st, err := w.runner.Start(ctx, "arkiv", "1547-20001")
	require.NoError(t, err)
	w.env.Wait(tilgang.EvReviewStarted, "1547-2", func(ev testenv.Event) bool { return ev.Data["campaign_id"] == st.CampaignID })

	key, err := principals.LoadSeed(filepath.Join(w.env.Data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	mine := func(who string) []api.ReviewItem {
		c := &api.Client{NC: w.env.NC, Key: key, Actor: who, Via: principals.DevID, Timeout: 10 * time.Second}
		var out []api.ReviewItem
		require.NoError(t, c.Call(ctx, api.MethodReviewMine, nil, &out))
		return out
	}
	items := mine("1547-2")
	require.Len(t, items, 8)
	for _, it := range items {
		require.True(t, it.MayDecide)
		require.Equal(t, st.CampaignID, it.CampaignID)
		require.Equal(t, "arkiv", it.System)
		require.Equal(t, "Åse Øvergård-Bø", it.Name)
		require.Equal(t, "arkiv", it.Granted.Reason)
		require.Equal(t, "1547-2", it.Granted.Requester)
		require.Equal(t, w.grants[it.Person], it.GrantID)
		require.Nil(t, it.Decision)
	}
	require.Empty(t, mine("1547-3"))
	// Someone who neither reviews nor administers sees no campaign.
	outsider := &api.Client{NC: w.env.NC, Key: key, Actor: "1547-701", Via: principals.DevID, Timeout: 10 * time.Second}
	err = outsider.Call(ctx, api.MethodReviewShow, api.ReviewShowArgs{CampaignID: st.CampaignID}, nil)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)
	var listed []api.ReviewCampaign
	require.NoError(t, outsider.Call(ctx, api.MethodReviewList, nil, &listed))
	require.Empty(t, listed)
	err = outsider.Call(ctx, api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: st.CampaignID}, nil)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)

	// The reminder and the escalation, as the executor runs them when due.
	tx, err := w.store.Begin(ctx)
	require.NoError(t, err)
	ops, err := tx.PersonOperations("1547-2", ledger.OpQueued)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	var kinds []string
	for _, op := range ops {
		if op.Connector != ledger.Internal {
			continue
		}
		kinds = append(kinds, op.Kind)
		tx, err := w.store.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, w.runner.Engine.RunInternal(tx, op))
		require.NoError(t, tx.Commit())
	}
	require.ElementsMatch(t, []string{engine.KindReviewRemind, engine.KindReviewEscalate}, kinds)
	rem := w.env.Wait(tilgang.EvReviewReminded, "1547-2", nil)
	require.EqualValues(t, 8, rem.Data["items"])
	esc := w.env.Wait(tilgang.EvReviewEscalated, "1547-2", nil)
	require.Equal(t, []any{"1547-3"}, esc.Data["to"])
	require.Len(t, mine("1547-3"), 8, "the manager's manager may now decide them")
	kind, _ := w.decide(t, w.people[0], "1547-3", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	require.Len(t, mine("1547-2"), 7)
}

// TestScheduleStartsAndClosesAtTheEnd: Tick starts a campaign of a system
// whose review: every asks for one (at once when it never had one), and
// closes it by itself once its duration has passed, revoking the
// unanswered items with actor review.
func TestScheduleStartsAndClosesAtTheEnd(t *testing.T) {
	w := newWorld(t, strings.Replace(arkiv, "review: {", "review: {every: 6mo, ", 1))
	ctx := context.Background()
	require.NoError(t, w.runner.Tick(ctx))
	cs, err := w.store.Campaigns(ctx, ledger.ReviewCampaignFilter{System: "arkiv"})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	c := cs[0]
	require.Equal(t, engine.Worker, c.StartedBy)
	require.True(t, c.Recommended, "the tick recorded the recommendations")
	// Another tick before the end changes nothing.
	require.NoError(t, w.runner.Tick(ctx))
	cs, err = w.store.Campaigns(ctx, ledger.ReviewCampaignFilter{System: "arkiv"})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, ledger.CampaignOpen, cs[0].State)
	kind, _ := w.decide(t, w.people[0], "1547-20001", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)

	// Fifteen days on: the campaign has ended and is closed by the tick.
	w.runner.Engine.Now = func() time.Time { return time.Now().Add(15 * 24 * time.Hour) }
	require.NoError(t, w.runner.Tick(ctx))
	got, err := w.store.Campaign(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.CampaignClosed, got.State)
	require.Equal(t, engine.Worker, got.ClosedBy)
	// (Their revokes are due at the engine's clock, fifteen days on: the
	// worker's executor does not run them in this test.)
	for _, p := range w.people {
		g, err := w.store.Grant(ctx, w.grants[p])
		require.NoError(t, err)
		want := tilgang.StateRevoking
		if p == w.people[0] {
			want = tilgang.StateActive
		}
		require.Equal(t, want, g.State, p)
	}
	// The next campaign is due six months after this one began.
	cs, err = w.store.Campaigns(ctx, ledger.ReviewCampaignFilter{System: "arkiv"})
	require.NoError(t, err)
	require.Len(t, cs, 1)
}
