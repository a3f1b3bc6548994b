package ledgertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Access review campaigns: one open (or closing) campaign per system;
// items with their reviewers, found by reviewer across campaigns; decisions
// and the close's applied mark written back; recommendations recorded.

func reviews(t *testing.T, l ledger.Ledger) ledger.Reviews {
	if w, ok := l.(loading); ok {
		l = w.Ledger
	}
	rv, ok := l.(ledger.Reviews)
	require.True(t, ok, "the backend keeps access reviews")
	return rv
}

func campaign(id, system string) ledger.ReviewCampaign {
	return ledger.ReviewCampaign{ID: id, System: system, State: ledger.CampaignOpen, Reviewers: "manager", IfNoResponse: "remove",
		Justification: "required", StartedBy: "a1", StartedAt: t0, EndsAt: t0.Add(14 * 24 * time.Hour), Catalogue: "v1", Updated: t0}
}

func reviewTx(t *testing.T, l ledger.Ledger, fn func(rt ledger.ReviewTx, tx ledger.Tx) error) error {
	tx, err := l.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback()
	inner := tx
	if w, ok := tx.(*loadingTx); ok {
		inner = w.Tx
	}
	rt, ok := inner.(ledger.ReviewTx)
	require.True(t, ok, "the backend's Tx keeps access reviews")
	if err := fn(rt, tx); err != nil {
		return err
	}
	return tx.Commit()
}

var reviewTests = []test{
	{"OneOpenCampaignPerSystem", func(t *testing.T, l ledger.Ledger) {
		ctx := context.Background()
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error { return rt.InsertCampaign(campaign("c1", "s1")) }))
		err := reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error { return rt.InsertCampaign(campaign("c2", "s1")) })
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error { return rt.InsertCampaign(campaign("c3", "s2")) }))
		// Closing still counts as open; closed does not.
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
			c, err := rt.ActiveCampaign("s1")
			require.NoError(t, err)
			require.Equal(t, "c1", c.ID)
			c.State, c.ClosedBy, c.ClosedAt = ledger.CampaignClosing, "op", t0.Add(time.Hour)
			return rt.UpdateCampaign(*c)
		}))
		err = reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error { return rt.InsertCampaign(campaign("c2", "s1")) })
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
			c, err := rt.LockCampaign("c1")
			require.NoError(t, err)
			c.State = ledger.CampaignClosed
			return rt.UpdateCampaign(*c)
		}))
		c2 := campaign("c2", "s1")
		c2.StartedAt = t0.Add(2 * time.Hour)
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error { return rt.InsertCampaign(c2) }))

		got, err := reviews(t, l).Campaign(ctx, "c1")
		require.NoError(t, err)
		want := campaign("c1", "s1")
		want.State, want.ClosedBy, want.ClosedAt = ledger.CampaignClosed, "op", t0.Add(time.Hour)
		require.Equal(t, want, *got)
		none, err := reviews(t, l).Campaign(ctx, "nope")
		require.NoError(t, err)
		require.Nil(t, none)
		list, err := reviews(t, l).Campaigns(ctx, ledger.ReviewCampaignFilter{System: "s1"})
		require.NoError(t, err)
		require.Equal(t, []string{"c2", "c1"}, campaignIDs(list), "newest first")
		list, err = reviews(t, l).Campaigns(ctx, ledger.ReviewCampaignFilter{States: []string{ledger.CampaignOpen}})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"c2", "c3"}, campaignIDs(list))
	}},
	{"ItemsDecisionsAndClose", func(t *testing.T, l ledger.Ledger) {
		ctx := context.Background()
		var items []ledger.ReviewItem
		for i := range 300 {
			items = append(items, ledger.ReviewItem{CampaignID: "c1", GrantID: fmt.Sprintf("g%03d", i), Person: fmt.Sprintf("p%03d", i%150),
				Role: []string{"bruker", "admin"}[i%2], Birthright: i%10 == 0, Reviewers: []string{fmt.Sprintf("m%d", i%3), "a1"}})
		}
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
			if err := rt.InsertCampaign(campaign("c1", "s1")); err != nil {
				return err
			}
			return rt.InsertReviewItems(items)
		}))
		rv := reviews(t, l)
		all, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: "c1"})
		require.NoError(t, err)
		require.Len(t, all, 300)
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			require.Less(t, a.Person+"\x00"+a.Role+"\x00"+a.GrantID, b.Person+"\x00"+b.Role+"\x00"+b.GrantID, "person, role, grant order")
		}
		// Pages by key give the same items.
		var paged []ledger.ReviewItem
		f := ledger.ReviewItemFilter{CampaignID: "c1", Limit: 70}
		for {
			page, err := rv.ReviewItems(ctx, f)
			require.NoError(t, err)
			paged = append(paged, page...)
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.After = ledger.ReviewItemKey{Person: last.Person, Role: last.Role, GrantID: last.GrantID}
		}
		require.Equal(t, all, paged)
		m0, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{Reviewer: "m0"})
		require.NoError(t, err)
		require.Len(t, m0, 100)

		// A decision, an escalation, and the close's mark.
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
			it, err := rt.ReviewItem("c1", "g001")
			require.NoError(t, err)
			require.Equal(t, items[1], *it)
			it.Decision, it.DecidedBy, it.DecidedAt, it.Comment = tilgang.ReviewRemove, "m1", t0.Add(time.Minute), "sluttet"
			if err := rt.UpdateReviewItem(*it); err != nil {
				return err
			}
			it2, err := rt.ReviewItem("c1", "g002")
			require.NoError(t, err)
			it2.Reviewers = append(it2.Reviewers, "boss")
			return rt.UpdateReviewItem(*it2)
		}))
		open, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: "c1", Reviewer: "m1", Open: true, OpenCampaigns: true})
		require.NoError(t, err)
		require.Len(t, open, 99)
		boss, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{Reviewer: "boss"})
		require.NoError(t, err)
		require.Len(t, boss, 1)
		require.Equal(t, []string{"m2", "a1", "boss"}, boss[0].Reviewers)
		n, err := rv.ReviewCounts(ctx, "c1")
		require.NoError(t, err)
		require.Equal(t, ledger.ReviewCounts{Items: 300, Remove: 1, Open: 299}, n)

		require.NoError(t, rv.SetRecommendations(ctx, "c1", map[string]ledger.Recommendation{
			"g003": {Value: ledger.RecommendNegative, LastSignIn: t0.Add(-100 * 24 * time.Hour)}, "g004": {Value: ledger.RecommendPositive}}))
		c, err := rv.Campaign(ctx, "c1")
		require.NoError(t, err)
		require.True(t, c.Recommended)

		applied := 0
		for {
			var batch []ledger.ReviewItem
			require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
				var err error
				batch, err = rt.UnappliedItems("c1", 128)
				if err != nil {
					return err
				}
				outcomes := map[string]string{}
				for i, it := range batch {
					outcomes[it.GrantID] = []string{"kept", "revoked"}[i%2]
				}
				return rt.MarkApplied("c1", outcomes)
			}))
			applied += len(batch)
			if len(batch) < 128 {
				break
			}
		}
		require.Equal(t, 300, applied, "each item applied once")
		all, err = rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: "c1"})
		require.NoError(t, err)
		outcomes := map[string]int{}
		for _, it := range all {
			require.True(t, it.Applied)
			outcomes[it.Outcome]++
			switch it.GrantID {
			case "g001":
				require.Equal(t, tilgang.ReviewRemove, it.Decision)
				require.Equal(t, "sluttet", it.Comment)
				require.Equal(t, t0.Add(time.Minute), it.DecidedAt)
			case "g003":
				require.Equal(t, ledger.RecommendNegative, it.Recommendation)
				require.Equal(t, t0.Add(-100*24*time.Hour), it.LastSignIn)
			case "g004":
				require.Equal(t, ledger.RecommendPositive, it.Recommendation)
			}
		}
		require.Equal(t, 300, outcomes["kept"]+outcomes["revoked"])
		require.Greater(t, outcomes["revoked"], 100)
		// Open campaigns only: a closed one's items are not open work.
		require.NoError(t, reviewTx(t, l, func(rt ledger.ReviewTx, _ ledger.Tx) error {
			c, err := rt.CampaignTx("c1")
			require.NoError(t, err)
			c.State = ledger.CampaignClosed
			return rt.UpdateCampaign(*c)
		}))
		open, err = rv.ReviewItems(ctx, ledger.ReviewItemFilter{Reviewer: "m1", Open: true, OpenCampaigns: true})
		require.NoError(t, err)
		require.Empty(t, open)
	}},
}

func campaignIDs(cs []ledger.ReviewCampaign) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
