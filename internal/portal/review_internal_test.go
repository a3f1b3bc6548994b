package portal

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
)

// The reviewer's page: undecided items theirs to decide in forms (at most
// MaxReviewItems), birthrights apart, the others with why, decided ones in
// a table; the bulk keep counts every positive item, shown or not, and
// never a birthright, a negative or unknown one, or one decided.
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
	add(MaxReviewItems+10, api.ReviewItem{Role: "bruker", MayDecide: true, Recommendation: "positive"})
	add(5, api.ReviewItem{Role: "leder", MayDecide: true, Recommendation: "negative"})
	add(2, api.ReviewItem{Role: "innsyn", MayDecide: true, Recommendation: "positive", Birthright: true})
	add(3, api.ReviewItem{Role: "bruker", MayDecide: true, Recommendation: "positive", Decision: &keep})
	add(4, api.ReviewItem{Role: "bruker", Recommendation: "positive", WhyNot: "1547-1 may not review their own access"})
	m := (&Portal{}).reviewModelOf(&who{}, api.ReviewShow{ReviewCampaign: api.ReviewCampaign{Justification: "required"}, Items: items})
	require.True(t, m.Required)
	require.Len(t, m.Open, MaxReviewItems)
	require.Equal(t, 17, m.More, "ten positive, five negative and two birthrights past the cap")
	require.Equal(t, MaxReviewItems+10, m.Positive)
	require.Len(t, m.Decided, 3)
	require.Len(t, m.Blocked, 4)
	require.Empty(t, m.Birthright, "past the cap too")
	require.Contains(t, m.Open[0].Others, "leder", "what else the person has")
	require.NotContains(t, m.Open[0].Others, "bruker")

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
