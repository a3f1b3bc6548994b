package portal_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

// arkivPolicy is a system reviewed by each person's manager, where an
// unanswered item is removed and every decision needs a comment; archivists
// have innsyn by birthright.
const arkivPolicy = `system: arkiv
name: Arkiv
owner: Fellestjenester
administrators: [1547-20001]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [ARKIV-BRUKER]}
    requestable_by: [manager]
    approval: []
  - id: innsyn
    entitlements: {noop: [ARKIV-INNSYN]}
    requestable_by: [manager]
    approval: []
birthright:
  - when: 'person.position == "arkivar"'
    roles: [innsyn]
review: {reviewers: manager, duration: 14d, if_no_response: remove, justification: required}
`

// signIns is the noop target with the last sign-ins an AD or Entra would
// report: the recommendations of a campaign come from them.
type signIns struct {
	*noop.Connector
	last map[string]time.Time
}

func (c signIns) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	return c.Connector.EachAccount(ctx, func(a connectors.TargetAccount) error {
		if t, ok := c.last[a.Person]; ok {
			a.LastSignIn = &t
		}
		return fn(a)
	})
}

// The people of the review: Liv (1547-501) manages six of arkiv's users,
// Per (1547-502) two, and both report to 1547-3; Olav (1547-9001) is an
// operator. Marte (1547-606) is an archivist: innsyn by birthright.
const (
	liv      = "1547-501"
	per      = "1547-502"
	operator = "1547-9001"
	marte    = "1547-606"
)

var (
	livStaff = []string{"1547-601", "1547-602", "1547-603", "1547-604", "1547-605", marte}
	perStaff = []string{"1547-621", "1547-622"}
)

type reviewWorld struct {
	*testenv.Env
	url    string
	target *noop.Connector
	grants map[string]string // person -> grant id of arkiv/bruker
	innsyn string            // Marte's birthright grant
}

func startReviewWorld(t *testing.T) *reviewWorld { return startReviewWorldWith(t, portal.Options{}) }

// startReviewWorldWith is startReviewWorld with the portal's options o.
func startReviewWorldWith(t *testing.T, o portal.Options) *reviewWorld {
	t.Helper()
	journal, err := noop.Open(noop.Config{Journal: filepath.Join(t.TempDir(), "noop.journal")})
	require.NoError(t, err)
	now := time.Now()
	target := signIns{Connector: journal, last: map[string]time.Time{
		"1547-601": now.Add(-3 * 24 * time.Hour), "1547-602": now.Add(-10 * 24 * time.Hour), "1547-603": now.Add(-40 * 24 * time.Hour),
		"1547-604": now.Add(-200 * 24 * time.Hour), // 1547-605: the target has no sign-in
		marte:      now.Add(-120 * 24 * time.Hour), liv: now.Add(-24 * time.Hour),
	}}
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	op := principals.Principal{ID: operator, Kind: principals.KindPerson, Name: "Olav Drift", Key: pub, Capabilities: []string{tilgang.CapOperator}}
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{
		Connectors: connectors.Set{"noop": target},
		Catalogue:  map[string]string{"arkiv.yaml": arkivPolicy},
		Principals: []principals.Principal{op},
		Portal:     &o,
		Change: func(dir string, o *app.WorkerOptions) {
			dev, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
			require.NoError(t, err)
			o.Portal.Dev = &portal.DevSignIn{Key: dev, Actor: principals.DevID}
			o.ReviewEvery = 200 * time.Millisecond
		},
	})
	w := &reviewWorld{Env: e, url: "http://" + e.HTTP, target: journal, grants: map[string]string{}}

	names := map[string][2]string{liv: {"Liv", "Leder"}, per: {"Per", "Leder"}, operator: {"Olav", "Drift"},
		"1547-601": {"Anne", "Aas"}, "1547-602": {"Bjørn", "Berg"}, "1547-603": {"Cecilie", "Dahl"},
		"1547-604": {"Dag", "Eide"}, "1547-605": {"Eva", "Fjeld"}, marte: {"Marte", "Gran"},
		"1547-621": {"Geir", "Hauge"}, "1547-622": {"Hilde", "Ås"}}
	base := testenv.People()
	person := func(id, manager, position string) tilgang.Person {
		p := base[0]
		p.ID, p.GivenName, p.FamilyName = id, names[id][0], names[id][1]
		p.Employments = []tilgang.Employment{p.Employments[0]}
		p.Employments[0].ID, p.Employments[0].Manager, p.Employments[0].Position = id+"-1", manager, position
		return p
	}
	people := append([]tilgang.Person{}, base...)
	people = append(people, person(liv, "1547-3", "leder"), person(per, "1547-3", "leder"), person(operator, "1547-3", "driftsoperatør"))
	for _, s := range livStaff {
		pos := "saksbehandler"
		if s == marte {
			pos = "arkivar"
		}
		people = append(people, person(s, liv, pos))
	}
	for _, s := range perStaff {
		people = append(people, person(s, per, "saksbehandler"))
	}
	e.Joiner(people...)
	w.innsyn = e.Wait(tilgang.EvGrantActive, marte, nil).Data["grant_id"].(string)

	ask := func(p, by, reason string) {
		id := e.Send(tilgang.TypeRequest, p, by, envelope.Request{Action: "grant", System: "arkiv", Role: "bruker", Reason: reason})
		w.grants[p] = e.Wait(tilgang.EvRequestAccepted, p, testenv.ForRequest(id)).Data["grant_id"].(string)
	}
	ask(liv, "1547-3", "Leder for arkivtjenesten")
	for _, s := range livStaff {
		ask(s, liv, "Saksbehandling i arkivet")
	}
	for _, s := range perStaff {
		ask(s, per, "=HYPERLINK(\"http://x\")") // a formula, for the CSV
	}
	for p, g := range w.grants {
		e.Wait(tilgang.EvGrantActive, p, testenv.ForGrant(g))
	}
	return w
}

// as is an API client for actor, signed by the dev principal.
func (w *reviewWorld) as(actor string) *api.Client {
	via := principals.DevID
	if actor == principals.DevID {
		via = ""
	}
	return &api.Client{NC: w.NC, Key: w.Sender.Key, Actor: actor, Via: via, Timeout: 10 * time.Second}
}

// members are who hold ent at the target, sorted.
func (w *reviewWorld) members(t *testing.T, ent string) []string {
	t.Helper()
	var out []string
	require.NoError(t, w.target.EachMember(context.Background(), ent, func(m connectors.Member) error {
		out = append(out, m.Key)
		return nil
	}))
	slices.Sort(out)
	return out
}

// signIn signs person in through the development sign-in, in a browser
// context of their own.
func (w *reviewWorld) signIn(t *testing.T, b *browser.Browser, person string) *browser.Page {
	t.Helper()
	p := b.Page(t)
	require.Equal(t, http.StatusOK, p.Navigate(w.url+"/signin"))
	p.TabTo("#person")
	p.SetValue("#person", person)
	p.TabTo(`form[action="/signin/dev"] button`)
	require.Equal(t, http.StatusOK, p.Activate(`form[action="/signin/dev"] button`, browser.Enter))
	require.Equal(t, w.url+"/", p.URL())
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

// An access review through the portal in a real Chromium, by keyboard
// (Tab, Shift+Tab, Enter), axe-core passing on every review page in
// every state: the system's administrator starts a campaign of arkiv;
// Liv, a reviewing manager, finds her items from her first page, keeps
// the three with a positive recommendation in one go, removes two, keeps
// one the target knows nothing about and acknowledges a birthright; Per
// says nothing. She cannot decide Per's staff, nor her own access, and
// the page says why. The administrator may not close it before its end;
// the operator does, and exactly Liv's two removals and the three
// unanswered grants (Per's two, and Liv's own, which her manager left) are
// revoked at the target, with Liv or review as actor in the audit, and the
// chain verifies. The report and its CSV name every item.
func TestReviewInChromium(t *testing.T) {
	w := startReviewWorld(t)
	b := browser.Start(t)

	// 1. The administrator starts the campaign from /reviews.
	admin := w.signIn(t, b, "1547-20001")
	admin.TabTo("#nav-reviews")
	require.Equal(t, http.StatusOK, admin.Activate("#nav-reviews", browser.Enter))
	require.Equal(t, w.url+"/reviews", admin.URL())
	checkPage(t, admin)
	admin.TabTo("#start-arkiv")
	require.Equal(t, http.StatusOK, admin.Activate("#start-arkiv", browser.Enter))
	require.Regexp(t, `/reviews/rc-[0-9a-f]+\?started$`, admin.URL())
	campaign := strings.TrimSuffix(admin.URL()[strings.LastIndex(admin.URL(), "/")+1:], "?started")
	require.Contains(t, admin.VisibleText(), i18n.T("reviews.started"))
	require.Contains(t, admin.VisibleText(), i18n.T("review.todo.nothing"), "the administrator reviews nothing here")
	checkPage(t, admin)
	// A second start of the same system is refused, in words.
	require.Equal(t, http.StatusOK, admin.Navigate(w.url+"/reviews"))
	require.Zero(t, admin.Count("#start-arkiv"), "no start button while one is open")
	checkPage(t, admin)
	// The system's page shows the open campaign and links to it.
	require.Equal(t, http.StatusOK, admin.Navigate(w.url+"/systems/arkiv"))
	require.Contains(t, admin.Text(`section[aria-labelledby="review-h"]`), "En gjennomgang er åpen")
	require.Equal(t, "/reviews/"+campaign, attr(t, admin, "#system-review", "href"))
	checkPage(t, admin)

	// The recommendations come from the target's sign-ins.
	require.Eventually(t, func() bool {
		var show api.ReviewShow
		return w.as(principals.DevID).Call(context.Background(), api.MethodReviewShow, api.ReviewShowArgs{CampaignID: campaign}, &show) == nil &&
			show.Recommended
	}, 20*time.Second, 50*time.Millisecond, "the recommendations")

	// 2. Liv finds her items on her first page.
	p := w.signIn(t, b, liv)
	home := `#home-review-` + campaign
	require.Contains(t, p.Text(home), "arkiv: 7 tilganger venter på deg")
	p.TabTo(home)
	require.Equal(t, http.StatusOK, p.Activate(home, browser.Enter))
	require.Equal(t, w.url+"/reviews/"+campaign, p.URL())
	checkPage(t, p)
	text := p.VisibleText()
	require.Contains(t, text, "Gjennomgang av arkiv")
	require.Contains(t, text, i18n.T("review.policy.remove"))
	require.Contains(t, text, i18n.T("review.justification"))
	require.Equal(t, 6, p.Count(`button[id^="keep-"]`), "six items to keep or remove")
	require.Equal(t, 1, p.Count(`button[id^="ack-"]`), "one birthright to acknowledge")
	require.Zero(t, p.Count(`button[id^="remove-`+w.innsyn+`"]`), "a birthright is not removed")
	// Why each was granted, and the recommendation.
	item := p.Text(`section[aria-labelledby="h-` + w.grants["1547-604"] + `"]`)
	require.Contains(t, item, "Dag Eide (1547-604) – rollen bruker")
	require.Contains(t, item, "Saksbehandling i arkivet")
	require.Contains(t, item, "bestilt av "+liv)
	require.Contains(t, item, "for over 90 dager siden")
	require.Contains(t, p.Text("#rec-"+w.grants["1547-601"]), "tilgangen er i bruk")
	require.Contains(t, p.Text("#rec-"+w.grants["1547-605"]), i18n.T("review.rec.unknown"))
	require.Contains(t, p.Text(`section[aria-labelledby="h-`+w.grants[marte]+`"]`), "Har i systemet")
	require.Contains(t, p.Text(`section[aria-labelledby="h-`+w.grants[marte]+`"]`), "bruker, innsyn")
	require.Contains(t, p.Text("#bulk"), "Behold de 3 tilgangene")
	p.WindowScreenshot("11-reviewer-review")

	// The bulk keep needs its comment too (justification: required).
	p.TabTo("#bulk-keep")
	p.RequireVisibleFocus()
	require.Equal(t, http.StatusBadRequest, p.Activate("#bulk-keep", browser.Enter))
	require.Contains(t, p.VisibleText(), i18n.T("review.error.comment"))
	checkPage(t, p)
	p.TabTo("#bulk-comment")
	p.Type("Bruker arkivet jevnlig")
	p.TabTo("#bulk-keep")
	require.Equal(t, http.StatusOK, p.Activate("#bulk-keep", browser.Enter))
	require.Contains(t, p.VisibleText(), "3 tilganger er beholdt.")
	require.Zero(t, p.Count("#bulk"), "nothing positive is left to keep in bulk")
	checkPage(t, p)

	// One at a time: a removal without a comment is refused in the form.
	decide := func(person, grant, button, comment string) {
		t.Helper()
		if comment != "" {
			p.TabTo("#comment-" + grant)
			p.Type(comment)
		}
		sel := "#" + button + "-" + grant
		p.TabTo(sel)
		p.RequireVisibleFocus()
		want := http.StatusOK
		if comment == "" {
			want = http.StatusBadRequest
		}
		require.Equal(t, want, p.Activate(sel, browser.Enter), person)
		checkPage(t, p)
	}
	decide("1547-604", w.grants["1547-604"], "remove", "")
	require.Contains(t, p.Text(".ds-error-summary"), i18n.T("review.error.comment"))
	require.Equal(t, "true", attr(t, p, "#comment-"+w.grants["1547-604"], "aria-invalid"))
	p.WindowScreenshot("review-error")
	decide("1547-604", w.grants["1547-604"], "remove", "Har ikke logget inn siden våren")
	require.Contains(t, p.VisibleText(), i18n.T("review.sent"))
	decide(marte, w.grants[marte], "remove", "Trenger bare innsyn")
	decide("1547-605", w.grants["1547-605"], "keep", "Ny i jobben, bruker arkivet")
	decide(marte, w.innsyn, "ack", "Arkivarer har innsyn")
	require.Contains(t, p.VisibleText(), i18n.T("review.todo.none"))
	decided := p.Text(`section[aria-labelledby="decided-h"]`)
	for _, s := range []string{"Beholdes", "Fjernes", "Sett", "Trenger bare innsyn"} {
		require.Contains(t, decided, s)
	}
	checkPage(t, p)

	// 3. What is not Liv's to decide is refused, in words.
	require.Equal(t, http.StatusForbidden, forge(t, p, "/reviews/"+campaign+"/decide",
		map[string]string{"grant": w.grants["1547-621"], "decision": "remove", "comment": "ikke min"}))
	require.Contains(t, p.VisibleText(), i18n.T("error.403.notreviewer"))
	checkPage(t, p)
	require.Equal(t, http.StatusForbidden, forge(t, p, "/reviews/"+campaign+"/decide",
		map[string]string{"grant": w.grants[liv], "decision": "keep", "comment": "min egen"}))
	require.Contains(t, p.VisibleText(), i18n.T("error.403.reviewown"))
	checkPage(t, p)
	p.WindowScreenshot("review-refused")
	// The report is not hers either.
	require.Equal(t, http.StatusForbidden, p.Navigate(w.url+"/reviews/"+campaign+"/report"))
	require.Contains(t, p.VisibleText(), i18n.T("error.403.notreportreader"))
	checkPage(t, p)

	// 4. The administrator may not close it before its end.
	require.Equal(t, http.StatusOK, admin.Navigate(w.url+"/reviews"))
	require.Zero(t, admin.Count("#close-"+campaign), "no close button before the end")
	require.Equal(t, http.StatusForbidden, forge(t, admin, "/reviews/"+campaign+"/close", map[string]string{"from": "reviews"}))
	require.Contains(t, admin.VisibleText(), i18n.T("reviews.error.close"))
	checkPage(t, admin)

	// The operator closes it.
	op := w.signIn(t, b, operator)
	op.TabTo("#nav-reviews")
	require.Equal(t, http.StatusOK, op.Activate("#nav-reviews", browser.Enter))
	checkPage(t, op)
	op.TabTo("#close-" + campaign)
	require.Equal(t, http.StatusOK, op.Activate("#close-"+campaign, browser.Enter))
	require.Equal(t, w.url+"/reviews/"+campaign+"/report?closed", op.URL())
	require.Contains(t, op.VisibleText(), i18n.T("reviews.closed"))
	checkPage(t, op)

	// Exactly the removals and the unanswered are revoked at the target.
	removed := []string{"1547-604", marte}
	silent := []string{liv, "1547-621", "1547-622"}
	for _, s := range append(append([]string{}, removed...), silent...) {
		w.Wait(tilgang.EvGrantRevoked, s, testenv.ForGrant(w.grants[s]))
	}
	kept := []string{"1547-601", "1547-602", "1547-603", "1547-605"}
	require.Eventually(t, func() bool { return slices.Equal(kept, w.members(t, "ARKIV-BRUKER")) }, 20*time.Second, 50*time.Millisecond,
		"the target holds exactly the kept: %v", w.members(t, "ARKIV-BRUKER"))
	require.Equal(t, []string{marte}, w.members(t, "ARKIV-INNSYN"), "the birthright stays")
	actors := map[string]string{}
	decisions := 0
	require.NoError(t, w.as(principals.DevID).Audit(context.Background(), api.AuditArgs{System: "arkiv"}, func(rows []api.AuditRow) error {
		for _, r := range rows {
			if r.Kind == "review.decided" {
				// Signed by the portal for Liv, as approvals are.
				require.Equal(t, liv, r.Actor)
				require.Equal(t, principals.PortalID, r.Via)
				decisions++
			}
			if r.Kind == "grant.state" && r.To == string(tilgang.StateRevoking) {
				require.Empty(t, actors[r.Person], "one revoke each: %s", r.Person)
				actors[r.Person] = r.Actor
			}
		}
		return nil
	}))
	want := map[string]string{}
	for _, s := range removed {
		want[s] = liv
	}
	for _, s := range silent {
		want[s] = tilgang.ReviewActor
	}
	require.Equal(t, want, actors)
	require.Equal(t, 7, decisions, "three kept in bulk, four one at a time")

	// 5. The report, printable, and as CSV.
	require.Equal(t, http.StatusOK, admin.Navigate(w.url+"/reviews"))
	require.Contains(t, admin.VisibleText(), "Avsluttet")
	checkPage(t, admin)
	admin.TabTo("#report-link-" + campaign)
	require.Equal(t, http.StatusOK, admin.Activate("#report-link-"+campaign, browser.Enter))
	report := admin.Text("#report-items")
	for _, s := range []string{"Dag Eide (1547-604)", "Fjernet", "Beholdt", "Ikke avgjort", "Har ikke logget inn siden våren"} {
		require.Contains(t, report, s)
	}
	require.Contains(t, admin.VisibleText(), "10 tilganger: 4 beholdes, 2 fjernes, 1 sett, 3 ikke avgjort.")
	checkPage(t, admin)
	admin.WindowScreenshot("12-systemansvarlig-review-report")
	admin.TabTo("#report-csv")
	file := admin.Download(func() { admin.Press(browser.Enter) })
	require.Equal(t, "tilgang-gjennomgang-"+campaign+".csv", file.Name)
	rows, err := csv.NewReader(bytes.NewReader(file.Data)).ReadAll()
	require.NoError(t, err, "%s", file.Data)
	require.Equal(t, portal.ReviewCSVHeader, rows[0])
	require.Len(t, rows, 11, "one row an item")
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, r := range rows[1:] {
		if slices.Contains(perStaff, r[col["person"]]) {
			require.Equal(t, `'=HYPERLINK("http://x")`, r[col["request_reason"]], "a formula is quoted")
			require.Equal(t, "revoked", r[col["outcome"]])
			require.Empty(t, r[col["decision"]])
		}
		if r[col["grant_id"]] == w.innsyn {
			require.Equal(t, "acknowledged", r[col["decision"]])
			require.Equal(t, "true", r[col["birthright"]])
		}
	}

	var v api.VerifyReport
	require.NoError(t, w.as(principals.DevID).Call(context.Background(), api.MethodAuditVerify, nil, &v))
	require.True(t, v.OK, fmt.Sprintf("%+v", v))
}

// attr is an attribute of the first element sel matches.
func attr(t *testing.T, p *browser.Page, sel, name string) string {
	t.Helper()
	v, ok := p.Attr(sel, name)
	require.True(t, ok, "%s has %s", sel, name)
	return v
}
