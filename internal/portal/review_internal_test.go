package portal

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
)

// The reviewer's page: one page of their items, undecided ones theirs to
// decide in forms, birthrights apart, the others with why, decided ones in
// a table; the bulk keep's count and the open count are the API's, over
// every page; the page links the next page and, past the first, the first.
func TestReviewModel(t *testing.T) {
	t.Parallel()
	keep := "keep"
	var items []api.ReviewItem
	add := func(n int, it api.ReviewItem) {
		for i := 0; i < n; i++ {
			it.GrantID = fmt.Sprintf("g-%d", len(items))
			it.Person = fmt.Sprintf("p-%d", len(items)%7)
			items = append(items, it)
		}
	}
	add(10, api.ReviewItem{Role: "bruker", MayDecide: true, Recommendation: "positive"})
	add(5, api.ReviewItem{Role: "leder", MayDecide: true, Recommendation: "negative"})
	add(2, api.ReviewItem{Role: "innsyn", MayDecide: true, Recommendation: "positive", Birthright: true})
	add(3, api.ReviewItem{Role: "bruker", MayDecide: true, Recommendation: "positive", Decision: &keep})
	add(4, api.ReviewItem{Role: "bruker", Recommendation: "positive", WhyNot: "1547-1 may not review their own access"})
	show := api.ReviewShow{ReviewCampaign: api.ReviewCampaign{CampaignID: "rc-1", Justification: "required"}, Items: items,
		Next: "g-23", MineOpen: 250, BulkKeep: 212}
	m := (&Portal{}).reviewModelOf(&who{}, show, "")
	require.True(t, m.Required)
	require.Len(t, m.Open, 15)
	require.Len(t, m.Birthright, 2)
	require.Equal(t, 212, m.Positive, "the API's count, over every page")
	require.Equal(t, 250, m.MineOpen)
	require.Len(t, m.Decided, 3)
	require.Len(t, m.Blocked, 4)
	require.Contains(t, m.Open[0].Others, "leder", "what else the person has")
	require.NotContains(t, m.Open[0].Others, "bruker")
	require.Equal(t, "/reviews/rc-1?after=g-23#todo-h", m.Next)
	require.Empty(t, m.First, "the first page links no first page")

	show.Next = ""
	m = (&Portal{}).reviewModelOf(&who{}, show, "g-3")
	require.Empty(t, m.Next, "the last page")
	require.Equal(t, "/reviews/rc-1#todo-h", m.First)
	require.Equal(t, "g-3", m.After)
	require.Equal(t, "/reviews/rc-1?after=g-3&sent#todo-h", reviewPage("rc-1", "g-3", "sent", "todo-h"))
	require.Equal(t, "/reviews/rc-1?kept=2", reviewPage("rc-1", "", "kept=2", ""))
	require.Equal(t, "", reviewAfter("<b>"), "no grant id: the first page")

	end := time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)
	early := end.Add(-time.Hour)
	groups := mineByCampaign([]api.ReviewItem{
		{CampaignID: "rc-1", System: "gerica", EndsAt: &end},
		{CampaignID: "rc-2", System: "arkiv", EndsAt: &early},
		{CampaignID: "rc-1", System: "gerica", EndsAt: &end},
	})
	require.Equal(t, []reviewGroup{{CampaignID: "rc-2", System: "arkiv", EndsAt: early, Items: 1},
		{CampaignID: "rc-1", System: "gerica", EndsAt: end, Items: 2}}, groups)
}
