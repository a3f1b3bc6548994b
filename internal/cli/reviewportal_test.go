package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// newReviewPortalWorld is newReviewWorld with the portal served, its
// development sign-in on.
func newReviewPortalWorld(t *testing.T) (*reviewWorld, string) {
	w := newReviewWorldWith(t, func(s *testenv.WorkerSetup) {
		s.Portal = &portal.Options{}
		s.Change = func(dir string, o *app.WorkerOptions) {
			dev, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
			require.NoError(t, err)
			o.Portal.Dev = &portal.DevSignIn{Key: dev, Actor: principals.DevID}
		}
	})
	return w, "http://" + w.env.HTTP
}

// signIn signs person in to the portal at url through the development
// sign-in, by keyboard, in a browser context of their own.
func signIn(t *testing.T, b *browser.Browser, url, person string) *browser.Page {
	t.Helper()
	p := b.Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(url+"/signin"))
	p.TabTo("#person")
	p.SetValue("#person", person)
	p.TabTo(`form[action="/signin/dev"] button`)
	require.Equal(t, http.StatusOK, p.Activate(`form[action="/signin/dev"] button`, browser.Enter))
	require.Equal(t, url+"/", p.URL())
	checkPage(t, p)
	return p
}

// checkPage: nothing the Content-Security-Policy blocked or failed to
// load, and no WCAG 2.1 A/AA violation axe-core finds.
func checkPage(t *testing.T, p *browser.Page) {
	t.Helper()
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
}

// TestReviewCampaignPortalAndCLI is issue 17's acceptance in one campaign:
// 30 grants of arkiv on a csv target, reviewed by the people's managers
// under if_no_response: remove. The system's administrator starts it in
// the portal; m1 decides six of their staff in the portal (in Chromium,
// by keyboard, axe-core on every page) and the other eight with `tilgang
// review decide`; the managers' manager decides both managers' access
// through the command line; m2 says nothing. The portal shows m1 the
// decisions made on the command line, and m1 changes two decisions there
// ("Endre"), one of each channel's. At the close exactly the removed
// and the unanswered grants are gone from the target's file, each revoke
// with the deciding reviewer or review as actor, every decision audited
// with the channel it came by, and `audit verify` passes.
func TestReviewCampaignPortalAndCLI(t *testing.T) {
	w, url := newReviewPortalWorld(t)
	all := append(append([]string{w.m1, w.m2}, w.staff1...), w.staff2...)
	slices.Sort(all)
	require.Equal(t, all, w.holders(t), "every grant is at the target before the review")
	b := browser.Start(t)

	// The administrator starts the campaign in the portal.
	admin := signIn(t, b, url, "1547-20001")
	admin.TabTo("#nav-reviews")
	require.Equal(t, http.StatusOK, admin.Activate("#nav-reviews", browser.Enter))
	checkPage(t, admin)
	admin.TabTo("#start-arkiv")
	require.Equal(t, http.StatusOK, admin.Activate("#start-arkiv", browser.Enter))
	require.Regexp(t, `/reviews/rc-[0-9a-f]+\?started$`, admin.URL())
	campaign := strings.TrimSuffix(admin.URL()[strings.LastIndex(admin.URL(), "/")+1:], "?started")
	require.Contains(t, admin.VisibleText(), i18n.T("reviews.started"))
	checkPage(t, admin)

	// The command line sees the same campaign: 30 items, none decided.
	code, out, errOut := w.cli(t, "dev", "review", "show", campaign, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var show shownCampaign
	require.NoError(t, json.Unmarshal([]byte(out), &show))
	require.Equal(t, "open", show.State)
	require.Len(t, show.Items, 30)

	// m1 finds their fourteen items from their first page and decides six
	// in the portal: four kept, two removed, each with its comment.
	p := signIn(t, b, url, w.m1)
	home := "#home-review-" + campaign
	require.Contains(t, p.Text(home), "arkiv: 14 tilganger venter på deg")
	p.TabTo(home)
	require.Equal(t, http.StatusOK, p.Activate(home, browser.Enter))
	require.Equal(t, url+"/reviews/"+campaign, p.URL())
	checkPage(t, p)
	require.Equal(t, 14, p.Count(`button[id^="keep-"]`), "m1 has their fourteen staff to decide")
	require.Zero(t, p.Count(`button[id^="keep-`+w.grants[w.m1]+`"]`), "not their own access")
	require.Zero(t, p.Count(`button[id^="keep-`+w.grants[w.staff2[0]]+`"]`), "nor m2's staff")
	inPortal := map[string]string{w.staff1[0]: "keep", w.staff1[1]: "keep", w.staff1[2]: "keep", w.staff1[3]: "keep",
		w.staff1[10]: "remove", w.staff1[11]: "remove"}
	for _, person := range w.staff1 {
		d, ok := inPortal[person]
		if !ok {
			continue
		}
		g := w.grants[person]
		p.TabTo("#comment-" + g)
		p.Type("Gjennomgått i portalen: " + d)
		p.TabTo("#" + d + "-" + g)
		p.RequireVisibleFocus()
		require.Equal(t, http.StatusOK, p.Activate("#"+d+"-"+g, browser.Enter), person)
		require.Contains(t, p.VisibleText(), i18n.T("review.sent"))
		require.Equal(t, 1, p.Count("#decided-"+g), "%s is among the decided", person)
		checkPage(t, p)
	}
	require.Equal(t, 8, p.Count(`button[id^="keep-"]`), "eight left for the command line")

	// m1 decides the other eight through the command line.
	inCLI := map[string]string{}
	for i, person := range w.staff1 {
		if _, ok := inPortal[person]; ok {
			continue
		}
		d := "keep"
		if i >= 10 {
			d = "remove"
		}
		inCLI[person] = d
		code, _, errOut := w.cli(t, w.m1, "review", "decide", campaign, "--person", person, "--role", "bruker", d,
			"--comment", "gjennomgått på kommandolinjen: "+d, "--wait", "20s")
		require.Equal(t, 0, code, "%s %s: %s", person, d, errOut)
	}
	// Their manager keeps m1's access and removes m2's, on the command line.
	for person, d := range map[string]string{w.m1: "keep", w.m2: "remove"} {
		code, _, errOut := w.cli(t, "1547-3", "review", "decide", campaign, "--person", person, "--role", "bruker", d,
			"--comment", "leder: "+d, "--wait", "20s")
		require.Equal(t, 0, code, "%s %s: %s", person, d, errOut)
	}

	// m1's page now holds nothing to decide, and all fourteen decisions,
	// those of the command line included.
	require.Equal(t, http.StatusOK, p.Navigate(url+"/reviews/"+campaign))
	require.Contains(t, p.VisibleText(), i18n.T("review.todo.none"))
	require.Zero(t, p.Count(`button[id^="keep-"]`))
	for _, person := range w.staff1 {
		require.Equal(t, 1, p.Count("#decided-"+w.grants[person]), person)
	}
	require.Contains(t, p.Text(`section[aria-labelledby="decided-h"]`), "gjennomgått på kommandolinjen: remove")
	checkPage(t, p)

	// m1 changes two decisions in the portal before the close: one kept in
	// the portal is removed, one removed on the command line is kept. A
	// change needs its comment too.
	change := func(person, d, comment string) {
		t.Helper()
		g := w.grants[person]
		if _, open := p.Attr("#change-"+g, "open"); !open {
			p.TabTo("#change-open-" + g)
			p.Press(browser.Enter)
		}
		if comment != "" {
			p.TabTo("#change-comment-" + g)
			p.Type(comment)
		}
		p.TabTo("#change-" + d + "-" + g)
		p.RequireVisibleFocus()
		want := http.StatusOK
		if comment == "" {
			want = http.StatusBadRequest
		}
		require.Equal(t, want, p.Activate("#change-"+d+"-"+g, browser.Enter), person)
		checkPage(t, p)
	}
	change(w.staff1[3], "remove", "")
	require.Contains(t, p.Text(".ds-error-summary"), i18n.T("review.error.comment"))
	require.Equal(t, "true", attr(t, p, "#change-comment-"+w.grants[w.staff1[3]], "aria-invalid"))
	require.Equal(t, i18n.T("review.decision.keep"), p.Text("#decision-"+w.grants[w.staff1[3]]), "nothing changed")
	_, open := p.Attr("#change-"+w.grants[w.staff1[3]], "open")
	require.True(t, open, "the change with the error stays open")
	change(w.staff1[3], "remove", "Endret: trenger den ikke lenger")
	require.Contains(t, p.Text("#review-changed"), i18n.T("review.changed"))
	require.Equal(t, i18n.T("review.decision.remove"), p.Text("#decision-"+w.grants[w.staff1[3]]))
	change(w.staff1[13], "keep", "Endret: bruker den likevel")
	require.Equal(t, i18n.T("review.decision.keep"), p.Text("#decision-"+w.grants[w.staff1[13]]))
	inPortal[w.staff1[3]] = "remove"
	inCLI[w.staff1[13]] = "keep"

	// The operator closes it through the command line.
	code, out, errOut = w.cli(t, "dev", "review", "close", campaign, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var closed map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &closed))
	require.Equal(t, "closed", closed["state"])

	// Exactly the removed and the unanswered are revoked at the target.
	actorWant := map[string]string{}
	for person, d := range inPortal {
		if d == "remove" {
			actorWant[person] = w.m1
		}
	}
	for person, d := range inCLI {
		if d == "remove" {
			actorWant[person] = w.m1
		}
	}
	actorWant[w.m2] = "1547-3"
	for _, person := range w.staff2 {
		actorWant[person] = tilgang.ReviewActor
	}
	require.Len(t, actorWant, 4+1+14)
	require.EqualValues(t, len(actorWant), closed["revoked"])
	require.EqualValues(t, 30-len(actorWant), closed["kept"])
	for person := range actorWant {
		w.env.Wait(tilgang.EvGrantRevoked, person, testenv.ForGrant(w.grants[person]))
	}
	var kept []string
	for _, person := range all {
		if _, gone := actorWant[person]; !gone {
			kept = append(kept, person)
		}
	}
	require.Eventually(t, func() bool { return slices.Equal(kept, w.holders(t)) }, 30*time.Second, 100*time.Millisecond,
		"the target holds exactly the kept grants")
	require.Equal(t, kept, w.holders(t))

	// The audit: one revoke each, by the deciding reviewer or review; each
	// decision by its reviewer, signed by the portal or on the command line.
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	c := &api.Client{NC: w.env.NC, Key: kp, Actor: principals.DevID, Timeout: time.Minute}
	actors := map[string]string{}
	via := map[string][]string{}
	require.NoError(t, c.Audit(context.Background(), api.AuditArgs{System: "arkiv"}, func(rows []api.AuditRow) error {
		for _, r := range rows {
			switch {
			case r.Kind == "review.decided":
				want := w.m1
				if r.Person == w.m1 || r.Person == w.m2 {
					want = "1547-3"
				}
				require.Equal(t, want, r.Actor, r.Person)
				via[r.Person] = append(via[r.Person], r.Via)
			case r.Kind == "grant.state" && r.To == string(tilgang.StateRevoking):
				require.Empty(t, actors[r.Person], "one revoke each: %s", r.Person)
				actors[r.Person] = r.Actor
			}
		}
		return nil
	}))
	require.Equal(t, actorWant, actors)
	wantVia := map[string][]string{}
	for person := range inPortal {
		wantVia[person] = []string{principals.PortalID}
	}
	for person := range inCLI {
		wantVia[person] = []string{principals.DevID}
	}
	wantVia[w.m1], wantVia[w.m2] = []string{principals.DevID}, []string{principals.DevID}
	wantVia[w.staff1[3]] = []string{principals.PortalID, principals.PortalID} // decided, then changed
	wantVia[w.staff1[13]] = []string{principals.DevID, principals.PortalID}   // on the command line, changed in the portal
	require.Equal(t, wantVia, via)

	// The report in the portal names every item.
	require.Equal(t, http.StatusOK, admin.Navigate(url+"/reviews/"+campaign+"/report"))
	require.Contains(t, admin.VisibleText(), fmt.Sprintf("30 tilganger: %d beholdes, %d fjernes, 0 sett, 14 ikke avgjort.", 11, 5))
	checkPage(t, admin)

	code, out, errOut = w.cli(t, "dev", "audit", "verify")
	require.Equal(t, 0, code, "%s%s", out, errOut)
}

// attr is an attribute of the first element sel matches.
func attr(t *testing.T, p *browser.Page, sel, name string) string {
	t.Helper()
	v, ok := p.Attr(sel, name)
	require.True(t, ok, "%s has %s", sel, name)
	return v
}
