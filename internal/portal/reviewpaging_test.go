package portal_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// review.show in pages, and the reviewer's page in pages of three, in
// Chromium by keyboard with axe-core on every page: the pages together are
// the whole campaign, bad paging arguments are refused naming the field,
// Liv's seven items are three, three and one a page with «Neste side» and
// «Første side», the bulk keep and the open count speak for every page,
// and a decision on the second page returns to it.
func TestReviewPagingInChromium(t *testing.T) {
	w := startReviewWorldWith(t, portal.Options{ReviewPage: 3})
	ctx := context.Background()
	var started struct {
		CampaignID string `json:"campaign_id"`
	}
	require.NoError(t, w.as("1547-20001").Call(ctx, api.MethodReviewStart, api.ReviewStartArgs{System: "arkiv"}, &started))
	campaign := started.CampaignID
	require.Eventually(t, func() bool {
		var show api.ReviewShow
		return w.as(principals.DevID).Call(ctx, api.MethodReviewShow, api.ReviewShowArgs{CampaignID: campaign}, &show) == nil &&
			show.Recommended
	}, 20*time.Second, 50*time.Millisecond, "the recommendations")

	// The API: every item in one answer, and the same in pages of three.
	dev := w.as(principals.DevID)
	var whole api.ReviewShow
	require.NoError(t, dev.Call(ctx, api.MethodReviewShow, api.ReviewShowArgs{CampaignID: campaign}, &whole))
	require.Len(t, whole.Items, 10)
	require.Empty(t, whole.Next)
	var first api.ReviewShow
	require.NoError(t, dev.Call(ctx, api.MethodReviewShow, api.ReviewShowArgs{CampaignID: campaign, Limit: 3}, &first))
	require.Len(t, first.Items, 3)
	require.Equal(t, first.Items[2].GrantID, first.Next)
	paged, err := dev.ReviewShowAll(ctx, api.ReviewShowArgs{CampaignID: campaign, Limit: 3})
	require.NoError(t, err)
	ids := func(items []api.ReviewItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.GrantID)
		}
		return out
	}
	require.Equal(t, ids(whole.Items), ids(paged.Items), "the pages are the whole campaign, in order")
	for _, tc := range []struct {
		name string
		args api.ReviewShowArgs
		want string
	}{
		{"limit too big", api.ReviewShowArgs{CampaignID: campaign, Limit: api.MaxReviewPage + 1}, "limit 1001 is outside 1..1000"},
		{"negative limit", api.ReviewShowArgs{CampaignID: campaign, Limit: -1}, "limit -1"},
		{"after without limit", api.ReviewShowArgs{CampaignID: campaign, After: w.grants[liv]}, "after needs a limit"},
		{"after no grant id", api.ReviewShowArgs{CampaignID: campaign, Limit: 3, After: "<b>"}, "is not a grant id"},
		{"after not an item", api.ReviewShowArgs{CampaignID: campaign, Limit: 3, After: "g-0000000000000000"}, "is not an item of review campaign"},
	} {
		var show api.ReviewShow
		err := dev.Call(ctx, api.MethodReviewShow, tc.args, &show)
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	// Liv's own: the open count and the bulk keep's, whatever the page;
	// past her last item an empty page, not a refusal.
	var last api.ReviewShow
	require.NoError(t, w.as(liv).Call(ctx, api.MethodReviewShow,
		api.ReviewShowArgs{CampaignID: campaign, Mine: true, Limit: 3, After: w.innsyn}, &last))
	require.Empty(t, last.Items)
	require.Equal(t, 7, last.MineOpen)
	require.Equal(t, 3, last.BulkKeep)
	// Someone who reviews nothing in it is refused on any page.
	for _, after := range []string{"", w.grants[liv]} {
		var show api.ReviewShow
		err := w.as("1547-601").Call(ctx, api.MethodReviewShow, api.ReviewShowArgs{CampaignID: campaign, Limit: 3, After: after}, &show)
		require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "after %q: %v", after, err)
	}

	// The portal: page one of three.
	b := browser.Start(t)
	p := w.signIn(t, b, liv)
	require.Equal(t, http.StatusOK, p.Navigate(w.url+"/reviews/"+campaign))
	require.Contains(t, p.Text("#review-open-count"), "7 tilganger venter på din avgjørelse")
	require.Equal(t, 3, p.Count(`button[id^="keep-"]`))
	require.Contains(t, p.Text("#bulk"), "Behold de 3 tilgangene")
	require.Zero(t, p.Count("#review-first"))
	checkPage(t, p)
	p.TabTo("#review-next")
	require.Equal(t, http.StatusOK, p.Activate("#review-next", browser.Enter))
	page2 := p.URL()
	require.Contains(t, page2, "after=")
	require.Equal(t, 3, p.Count(`button[id^="keep-"]`))
	for _, s := range []string{"1547-604", "1547-605", marte} {
		require.Equal(t, 1, p.Count("#keep-"+w.grants[s]), s)
	}
	require.Equal(t, 1, p.Count("#review-first"))
	checkPage(t, p)

	// A decision on page two returns to page two.
	g := w.grants["1547-604"]
	p.TabTo("#comment-" + g)
	p.Type("Har ikke logget inn siden våren")
	p.TabTo("#remove-" + g)
	require.Equal(t, http.StatusOK, p.Activate("#remove-"+g, browser.Enter))
	require.True(t, strings.HasPrefix(p.URL(), strings.TrimSuffix(page2, "#todo-h")), "%s is page two (%s)", p.URL(), page2)
	require.Contains(t, p.VisibleText(), i18n.T("review.sent"))
	require.Equal(t, 1, p.Count("#decided-"+g))
	require.Equal(t, 2, p.Count(`button[id^="keep-"]`))
	require.Contains(t, p.Text("#review-open-count"), "6 tilganger venter")
	checkPage(t, p)

	// Page three: the birthright, and no next page.
	p.TabTo("#review-next")
	require.Equal(t, http.StatusOK, p.Activate("#review-next", browser.Enter))
	require.Equal(t, 1, p.Count("#ack-"+w.innsyn))
	require.Zero(t, p.Count(`button[id^="keep-"]`))
	require.Zero(t, p.Count("#review-next"))
	checkPage(t, p)
	p.TabTo("#review-first")
	require.Equal(t, http.StatusOK, p.Activate("#review-first", browser.Enter))
	require.Equal(t, 3, p.Count(`button[id^="keep-"]`))
	require.Zero(t, p.Count("#review-first"))
	checkPage(t, p)
}
