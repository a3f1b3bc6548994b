package portal

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/csvsafe"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// Access reviews (DESIGN.md "Access reviews and the access register"):
//
//	GET  /reviews                        the asker's open items by campaign; the campaigns of
//	                                     their systems (all for operators and auditors), with
//	                                     start and close
//	POST /reviews                        start a campaign (form: system)
//	GET  /reviews/{campaign}             one page of the asker's items (query: after, the
//	                                     grant the page follows): those to decide, with why each
//	                                     was granted and the target's recommendation; birthright
//	                                     items to acknowledge; what they decided, to change
//	POST /reviews/{campaign}/decide      one decision, or a change of one (form: grant,
//	                                     decision, comment, after: the page to return to)
//	POST /reviews/{campaign}/keep        keep every item of theirs with a positive
//	                                     recommendation, on every page (form: comment, after)
//	POST /reviews/{campaign}/close       close it
//	GET  /reviews/{campaign}/report      every item, printable (administrators of the system,
//	GET  /reviews/{campaign}/report.csv  operators and auditors)
//
// Reads are review.* calls as the person; decisions are review.decided
// messages signed by the portal for the person, as approvals are. Before
// sending, the portal checks that the item is among those the API says the
// person may decide, so a person who may not gets a page saying why at
// once; the worker judges the message again.

// MaxReviewItems is how many of the asker's items one page of
// /reviews/{campaign} shows by default (Options.ReviewPage); «Neste side»
// leads to the next.
const MaxReviewItems = 200

// MaxClosedReviews is how many closed campaigns /reviews lists, newest
// first.
const MaxClosedReviews = 20

// reviewCampaignID reads the campaign path value; "" when it is no id.
func reviewCampaignID(r *http.Request) string {
	id := r.PathValue("campaign")
	if !tilgang.ValidToken(id) {
		return ""
	}
	return id
}

type reviewsModel struct {
	Mine      []reviewGroup
	Campaigns []api.ReviewCampaign
	// Startable are the systems with a review: block that the asker may
	// start a campaign of (their own as an administrator, every one as an
	// operator) and that have no open campaign: a start button each.
	Startable []string
	ReadsAll  bool
	Started   bool
	Closed    bool
}

// reviewGroup is the asker's undecided items of one campaign.
type reviewGroup struct {
	CampaignID string
	System     string
	EndsAt     time.Time
	Items      int
}

// mineByCampaign groups review.mine's items by campaign, soonest end first.
func mineByCampaign(items []api.ReviewItem) []reviewGroup {
	var out []reviewGroup
	for _, it := range items {
		i := slices.IndexFunc(out, func(g reviewGroup) bool { return g.CampaignID == it.CampaignID })
		if i < 0 {
			g := reviewGroup{CampaignID: it.CampaignID, System: it.System}
			if it.EndsAt != nil {
				g.EndsAt = *it.EndsAt
			}
			out = append(out, g)
			i = len(out) - 1
		}
		out[i].Items++
	}
	slices.SortStableFunc(out, func(a, b reviewGroup) int { return a.EndsAt.Compare(b.EndsAt) })
	return out
}

// myReviews is the asker's undecided items grouped by campaign.
func (p *Portal) myReviews(ctx context.Context, person string) ([]reviewGroup, error) {
	var items []api.ReviewItem
	if err := p.client(person).Call(ctx, api.MethodReviewMine, nil, &items); err != nil {
		return nil, err
	}
	return mineByCampaign(items), nil
}

// reviews is GET /reviews.
func (p *Portal) reviews(w http.ResponseWriter, r *http.Request, u *who) {
	m := reviewsModel{ReadsAll: u.ReadsAll, Started: r.URL.Query().Has("started"), Closed: r.URL.Query().Has("closed")}
	var err error
	if m.Mine, err = p.myReviews(r.Context(), u.ID); err != nil {
		p.apiError(w, r, err)
		return
	}
	if len(u.Administers) > 0 || u.ReadsAll {
		if err := p.client(u.ID).Call(r.Context(), api.MethodReviewList, api.ReviewListArgs{}, &m.Campaigns); err != nil && tilgang.KindOf(err) != tilgang.Denied {
			p.apiError(w, r, err)
			return
		}
		// Every open one, and the latest closed ones (the list is newest
		// first); older reports stay at their addresses.
		closed := 0
		m.Campaigns = slices.DeleteFunc(m.Campaigns, func(c api.ReviewCampaign) bool {
			if c.State != "closed" {
				return false
			}
			closed++
			return closed > MaxClosedReviews
		})
		for _, s := range u.Reviewable {
			if !slices.ContainsFunc(m.Campaigns, func(c api.ReviewCampaign) bool { return c.System == s && c.State != "closed" }) {
				m.Startable = append(m.Startable, s)
			}
		}
	}
	p.render(w, r, http.StatusOK, "reviews", i18n.T("reviews.title"), m)
}

// startReview is POST /reviews: start a campaign of the form's system.
func (p *Portal) startReview(w http.ResponseWriter, r *http.Request, u *who) {
	system := strings.TrimSpace(r.PostFormValue("system"))
	if !tilgang.ValidToken(system) {
		p.errorPage(w, r, http.StatusBadRequest, "reviews.error.system")
		return
	}
	var started struct {
		CampaignID string `json:"campaign_id"`
	}
	err := p.client(u.ID).Call(r.Context(), api.MethodReviewStart, api.ReviewStartArgs{System: system}, &started)
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "reviews.error.start", system)
		return
	case tilgang.Conflict:
		p.errorPage(w, r, http.StatusConflict, "reviews.error.open", system)
		return
	case tilgang.Invalid, tilgang.NotFound:
		p.errorPage(w, r, http.StatusBadRequest, "reviews.error.nopolicy", system)
		return
	default:
		p.apiError(w, r, err)
		return
	}
	if !tilgang.ValidToken(started.CampaignID) {
		http.Redirect(w, r, "/reviews?started", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/reviews/"+started.CampaignID+"?started", http.StatusSeeOther)
}

// closeReview is POST /reviews/{campaign}/close.
func (p *Portal) closeReview(w http.ResponseWriter, r *http.Request, u *who) {
	id := reviewCampaignID(r)
	if id == "" {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	var closed struct{}
	err := p.client(u.ID).Call(r.Context(), api.MethodReviewClose, api.ReviewCloseArgs{CampaignID: id}, &closed)
	switch tilgang.KindOf(err) {
	case "":
	case tilgang.Denied:
		// Closed already is refused too: say so when it is.
		var show api.ReviewShow
		if p.client(u.ID).Call(r.Context(), api.MethodReviewShow, api.ReviewShowArgs{CampaignID: id, Mine: true, Limit: 1}, &show) == nil && show.State == "closed" {
			p.errorPage(w, r, http.StatusConflict, "reviews.error.closed")
			return
		}
		p.errorPage(w, r, http.StatusForbidden, "reviews.error.close")
		return
	case tilgang.Conflict:
		p.errorPage(w, r, http.StatusConflict, "reviews.error.closed")
		return
	default:
		p.reviewAPIError(w, r, err)
		return
	}
	http.Redirect(w, r, "/reviews/"+id+"/report?closed", http.StatusSeeOther)
}

// reviewAPIError is apiError for a campaign: one the asker may not see or
// that does not exist is the same page.
func (p *Portal) reviewAPIError(w http.ResponseWriter, r *http.Request, err error) {
	switch tilgang.KindOf(err) {
	case tilgang.Denied:
		p.errorPage(w, r, http.StatusForbidden, "error.403.notcampaign")
	case tilgang.NotFound, tilgang.Invalid:
		p.errorPage(w, r, http.StatusNotFound, "reviews.error.nocampaign")
	default:
		p.apiError(w, r, err)
	}
}

// reviewItem is an item on a reviewer's page, with the other roles the
// person has in the system.
type reviewItem struct {
	api.ReviewItem
	Others []string // the person's other roles in the campaign, "role" each
}

type reviewModel struct {
	Campaign api.ReviewCampaign
	Name     string // the system's name
	Me       string
	// Open are the undecided items the asker may decide (not birthright);
	// Birthright those to acknowledge; Blocked undecided items the API
	// says the asker may not decide now, with why; Decided the asker's
	// items already decided.
	Open       []reviewItem
	Birthright []reviewItem
	Blocked    []reviewItem
	Decided    []reviewItem
	// Positive counts the items the bulk keep takes (bulkKeeps) and
	// MineOpen the asker's undecided items, on every page.
	Positive int
	MineOpen int
	// After is this page's place (the grant it follows, "" on the first);
	// Next and First the addresses of the next and the first page, "" when
	// there is none.
	After     string
	Next      string
	First     string
	Required  bool // justification: required
	MayReport bool
	Started   bool
	Sent      bool
	Changed   bool // a decision was just changed
	Bulk      int  // how many a bulk keep just kept
	formState      // ErrorFor is the grant (or "bulk") whose form failed
}

// Help is the message key of a comment field's help: that a comment is
// required, else optional's.
func (m reviewModel) Help(optional string) string {
	if m.Required {
		return "review.comment.required"
	}
	return optional
}

// showReview reads the campaign with one page of the asker's own items,
// those after the item of grant after.
func (p *Portal) showReview(ctx context.Context, person, id, after string) (api.ReviewShow, error) {
	var show api.ReviewShow
	err := p.client(person).Call(ctx, api.MethodReviewShow,
		api.ReviewShowArgs{CampaignID: id, Mine: true, Limit: p.o.ReviewPage, After: after}, &show)
	return show, err
}

// reviewAfter reads a page's place from the query or the form: "" (the
// first page) when it is missing or no grant id.
func reviewAfter(v string) string {
	if !tilgang.ValidToken(v) {
		return ""
	}
	return v
}

// reviewPage is the address of the campaign's page after after, with
// query (without its '?') and fragment added when not "".
func reviewPage(id, after, query, fragment string) string {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	out := "/reviews/" + id
	enc := q.Encode()
	if query != "" {
		if enc != "" {
			enc += "&"
		}
		enc += query
	}
	if enc != "" {
		out += "?" + enc
	}
	if fragment != "" {
		out += "#" + fragment
	}
	return out
}

// reviewModelOf sorts the campaign's items for the asker's page.
func (p *Portal) reviewModelOf(u *who, show api.ReviewShow, after string) reviewModel {
	m := reviewModel{Campaign: show.ReviewCampaign, Me: u.ID, Required: show.Justification == "required",
		MayReport: u.ReadsAll || slices.Contains(u.Administers, show.System),
		Positive:  show.BulkKeep, MineOpen: show.MineOpen, After: after}
	if show.Next != "" {
		m.Next = reviewPage(show.CampaignID, show.Next, "", "todo-h")
	}
	if after != "" {
		m.First = reviewPage(show.CampaignID, "", "", "todo-h")
	}
	roles := map[string][]string{}
	for _, it := range show.Items {
		roles[it.Person] = append(roles[it.Person], it.Role)
	}
	for _, it := range show.Items {
		ri := reviewItem{ReviewItem: it}
		for _, role := range roles[it.Person] {
			if role != it.Role && !slices.Contains(ri.Others, role) {
				ri.Others = append(ri.Others, role)
			}
		}
		switch {
		case it.Decision != nil:
			m.Decided = append(m.Decided, ri)
		case !it.MayDecide:
			m.Blocked = append(m.Blocked, ri)
		case it.Birthright:
			m.Birthright = append(m.Birthright, ri)
		default:
			m.Open = append(m.Open, ri)
		}
	}
	return m
}

// review is GET /reviews/{campaign}: what the asker must decide.
func (p *Portal) review(w http.ResponseWriter, r *http.Request, u *who) {
	id := reviewCampaignID(r)
	if id == "" {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	q := r.URL.Query()
	after := reviewAfter(q.Get("after"))
	show, err := p.showReview(r.Context(), u.ID, id, after)
	if err != nil {
		p.reviewAPIError(w, r, err)
		return
	}
	m := p.reviewModelOf(u, show, after)
	m.Started, m.Sent, m.Changed = q.Has("started"), q.Has("sent"), q.Get("changed") != ""
	if n, err := strconv.Atoi(q.Get("kept")); err == nil && n > 0 {
		m.Bulk = n
	}
	if len(show.Items) == 0 && !m.MayReport {
		p.errorPage(w, r, http.StatusForbidden, "error.403.notcampaign")
		return
	}
	p.renderReview(w, r, http.StatusOK, m)
}

func (p *Portal) renderReview(w http.ResponseWriter, r *http.Request, status int, m reviewModel) {
	m.Name = m.Campaign.System
	p.render(w, r, status, "review", i18n.T("review.title", m.Name), m)
}

// checkComment is the form error of a comment, nil when it is fine.
func checkComment(comment string, required bool, field string) []formError {
	switch {
	case utf8.RuneCountInString(comment) > MaxComment || !utf8.ValidString(comment):
		return []formError{{Field: field, Text: i18n.T("review.error.long")}}
	case required && comment == "":
		return []formError{{Field: field, Text: i18n.T("review.error.comment")}}
	}
	return nil
}

// decideReview is POST /reviews/{campaign}/decide: keep or remove one
// item (a birthright item's keep is its acknowledgement), as a
// review.decided message signed by the portal for the person.
func (p *Portal) decideReview(w http.ResponseWriter, r *http.Request, u *who) {
	id := reviewCampaignID(r)
	grant := r.PostFormValue("grant")
	decision := r.PostFormValue("decision")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if id == "" || !tilgang.ValidToken(grant) {
		p.errorPage(w, r, http.StatusBadRequest, "")
		return
	}
	if decision != tilgang.ReviewKeep && decision != tilgang.ReviewRemove {
		p.errorPage(w, r, http.StatusBadRequest, "review.error.decision")
		return
	}
	after := reviewAfter(r.PostFormValue("after"))
	show, err := p.showReview(r.Context(), u.ID, id, after)
	if tilgang.KindOf(err) == tilgang.Denied {
		// No item of this campaign is theirs.
		p.notReviewer(w, r, u, grant)
		return
	}
	if err != nil {
		p.reviewAPIError(w, r, err)
		return
	}
	mine := show.Items
	if !slices.ContainsFunc(mine, func(it api.ReviewItem) bool { return it.GrantID == grant }) {
		// Not on the page the form came from: look through all of theirs.
		all, err := p.client(u.ID).ReviewShowAll(r.Context(), api.ReviewShowArgs{CampaignID: id, Mine: true})
		if err != nil {
			p.reviewAPIError(w, r, err)
			return
		}
		mine = all.Items
	}
	i := slices.IndexFunc(mine, func(it api.ReviewItem) bool { return it.GrantID == grant })
	if i < 0 {
		p.notReviewer(w, r, u, grant)
		return
	}
	it := mine[i]
	if !it.MayDecide {
		p.errorPage(w, r, http.StatusForbidden, "error.403.review.why", Why(it.WhyNot))
		return
	}
	if it.Birthright && decision == tilgang.ReviewRemove {
		p.errorPage(w, r, http.StatusBadRequest, "review.error.birthright")
		return
	}
	// A decided item is changed from its row among the decided ones: its
	// form's field has its own id there.
	field := "comment-" + grant
	if it.Decision != nil {
		field = "change-comment-" + grant
	}
	if errs := checkComment(comment, show.Justification == "required", field); errs != nil {
		m := p.reviewModelOf(u, show, after)
		m.ErrorFor, m.Errors, m.Comment = grant, errs, comment
		p.renderReview(w, r, http.StatusBadRequest, m)
		return
	}
	back := reviewPage(id, after, "sent", "todo-h")
	if it.Decision != nil {
		back = reviewPage(id, after, "changed="+grant, "decided-"+grant)
	}
	p.sendAndShow(w, r, u, tilgang.TypeReviewDecided, it.Person,
		envelope.ReviewDecision{CampaignID: id, GrantID: grant, Decision: decision, Comment: comment}, back)
}

// notReviewer refuses a decision on an item the asker's page does not
// list: their own access, or one that is not theirs to review.
func (p *Portal) notReviewer(w http.ResponseWriter, r *http.Request, u *who, grant string) {
	var g api.GrantDetail
	if err := p.client(u.ID).Call(r.Context(), api.MethodGrant, api.GrantArgs{GrantID: grant}, &g); err == nil && g.Person == u.ID {
		p.errorPage(w, r, http.StatusForbidden, "error.403.reviewown")
		return
	}
	p.errorPage(w, r, http.StatusForbidden, "error.403.notreviewer")
}

// keepRecommended is POST /reviews/{campaign}/keep: keep every undecided
// item of the asker's with a positive recommendation (never a birthright
// item, never one without a positive recommendation), one bulk message
// each, then the page again with how many were kept, or why the worker
// refused one.
func (p *Portal) keepRecommended(w http.ResponseWriter, r *http.Request, u *who) {
	id := reviewCampaignID(r)
	if id == "" {
		p.errorPage(w, r, http.StatusNotFound, "")
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	after := reviewAfter(r.PostFormValue("after"))
	show, err := p.showReview(r.Context(), u.ID, id, after)
	if err != nil {
		p.reviewAPIError(w, r, err)
		return
	}
	m := p.reviewModelOf(u, show, after)
	// The bulk keep takes the positive ones of every page.
	all, err := p.client(u.ID).ReviewShowAll(r.Context(), api.ReviewShowArgs{CampaignID: id, Mine: true})
	if err != nil {
		p.reviewAPIError(w, r, err)
		return
	}
	var keep []api.ReviewItem
	for _, it := range all.Items {
		if bulkKeeps(it) {
			keep = append(keep, it)
		}
	}
	if len(keep) == 0 {
		p.errorPage(w, r, http.StatusBadRequest, "review.error.bulk")
		return
	}
	if errs := checkComment(comment, m.Required, "bulk-comment"); errs != nil {
		m.ErrorFor, m.Errors, m.Comment = "bulk", errs, comment
		p.renderReview(w, r, http.StatusBadRequest, m)
		return
	}
	ids := make([]string, 0, len(keep))
	for _, it := range keep {
		sent, err := p.send(r.Context(), tilgang.TypeReviewDecided, it.Person, u.ID,
			envelope.ReviewDecision{CampaignID: id, GrantID: it.GrantID, Decision: tilgang.ReviewKeep, Comment: comment, Bulk: true})
		if err != nil {
			p.fail(w, r, err)
			return
		}
		ids = append(ids, sent)
	}
	sts, err := p.waitStatuses(r.Context(), u.ID, ids)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	kept := 0
	for _, st := range sts {
		switch st.Outcome {
		case "rejected", "denied":
			p.errorPage(w, r, http.StatusForbidden, "error.403.refused", Why(st.Why))
			return
		}
		if st.State != api.StateUnknown {
			kept++
		}
	}
	http.Redirect(w, r, reviewPage(id, after, "kept="+strconv.Itoa(kept), "todo-h"), http.StatusSeeOther)
}

// bulkKeeps says whether the bulk keep takes it: undecided, the asker's
// to decide, not a birthright (acknowledged one by one), and the target's
// sign-ins recommend keeping it.
func bulkKeeps(it api.ReviewItem) bool {
	return it.Decision == nil && it.MayDecide && !it.Birthright && it.Recommendation == "positive"
}

// waitStatuses is waitStatus for many messages: it polls until every one
// is recorded, or Wait has passed (those not recorded are unknown).
func (p *Portal) waitStatuses(ctx context.Context, person string, ids []string) ([]api.Status, error) {
	c := p.client(person)
	deadline := time.Now().Add(p.o.Wait)
	delay := 25 * time.Millisecond
	for {
		sts, err := c.StatusAll(ctx, ids, nil)
		if err != nil {
			return sts, err
		}
		waiting := slices.ContainsFunc(sts, func(st api.Status) bool { return st.State == api.StateUnknown })
		if !waiting || time.Now().Add(delay).After(deadline) {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			return sts, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

type reportModel struct {
	api.ReviewShow
	Closed bool
	CSV    string
}

// reviewReport reads the whole campaign for its report, for the system's
// administrators, operators and auditors; false when it wrote a page.
func (p *Portal) reviewReport(w http.ResponseWriter, r *http.Request, u *who) (api.ReviewShow, bool) {
	id := reviewCampaignID(r)
	if id == "" {
		p.errorPage(w, r, http.StatusNotFound, "")
		return api.ReviewShow{}, false
	}
	show, err := p.client(u.ID).ReviewShowAll(r.Context(), api.ReviewShowArgs{CampaignID: id})
	if err != nil {
		switch tilgang.KindOf(err) {
		case tilgang.Denied:
			p.errorPage(w, r, http.StatusForbidden, "error.403.notreportreader")
		default:
			p.reviewAPIError(w, r, err)
		}
		return show, false
	}
	// A reviewer sees their own items in review.show; the report is the
	// whole campaign's, for those who answer for the system.
	if !u.ReadsAll && !slices.Contains(u.Administers, show.System) {
		p.errorPage(w, r, http.StatusForbidden, "error.403.notreportreader")
		return show, false
	}
	return show, true
}

// reviewReportPage is GET /reviews/{campaign}/report: every item, its
// reviewers, decision and what the close did, printable.
func (p *Portal) reviewReportPage(w http.ResponseWriter, r *http.Request, u *who) {
	show, ok := p.reviewReport(w, r, u)
	if !ok {
		return
	}
	m := reportModel{ReviewShow: show, Closed: r.URL.Query().Has("closed"), CSV: "/reviews/" + show.CampaignID + "/report.csv"}
	p.render(w, r, http.StatusOK, "reviewreport", i18n.T("report.title", show.System), m)
}

// ReviewCSVHeader is the header of a campaign's report as CSV.
var ReviewCSVHeader = []string{"campaign_id", "system", "person", "name", "role", "grant_id", "birthright", "reviewers",
	"recommendation", "last_sign_in", "decision", "decided_by", "decided_at", "comment", "outcome",
	"requester", "approvers", "granted_at", "request_reason"}

// reviewReportCSV is GET /reviews/{campaign}/report.csv: the report, one
// row an item, cells neutralised for spreadsheets.
func (p *Portal) reviewReportCSV(w http.ResponseWriter, r *http.Request, u *who) {
	show, ok := p.reviewReport(w, r, u)
	if !ok {
		return
	}
	stamp := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tilgang-gjennomgang-`+show.CampaignID+`.csv"`)
	cw := csv.NewWriter(w)
	if err := cw.Write(ReviewCSVHeader); err != nil {
		return
	}
	for _, it := range show.Items {
		decision := ""
		if it.Decision != nil {
			decision = *it.Decision
		}
		granted := it.Granted.At
		row := []string{show.CampaignID, show.System, it.Person, it.Name, it.Role, it.GrantID, strconv.FormatBool(it.Birthright),
			strings.Join(it.Reviewers, " "), it.Recommendation, stamp(it.LastSignIn), decision, it.DecidedBy, stamp(it.DecidedAt),
			it.Comment, it.Outcome, it.Granted.Requester, strings.Join(it.Granted.Approvers, " "), stamp(&granted), it.Granted.Reason}
		if err := cw.Write(csvsafe.Row(row)); err != nil {
			p.o.Log.Error("portal: review report ended early", "person", u.ID, "campaign_id", show.CampaignID, "err", err)
			return
		}
	}
	cw.Flush()
}

func init() {
	// decision is a review item's decision in words.
	funcs["decision"] = func(d *string) string {
		if d == nil {
			return i18n.T("review.decision.none")
		}
		if k := "review.decision." + *d; i18n.Has(k) {
			return i18n.T(k)
		}
		return *d
	}
	// outcome is what a close did with an item, in words.
	funcs["outcome"] = func(o string) string {
		if k := "review.outcome." + o; o != "" && i18n.Has(k) {
			return i18n.T(k)
		}
		return o
	}
	// person is "Name (id)", or the id when the name is not known.
	funcs["person"] = func(name, id string) string {
		if name == "" {
			return id
		}
		return name + " (" + id + ")"
	}
	// whenp is when for a time that may be missing.
	funcs["whenp"] = func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.In(oslo).Format("02.01.2006 15:04")
	}
	// recommend is an item's recommendation in words.
	funcs["recommend"] = func(it api.ReviewItem) string {
		last := ""
		if it.LastSignIn != nil && !it.LastSignIn.IsZero() {
			last = it.LastSignIn.In(oslo).Format("02.01.2006")
		}
		switch {
		case it.Recommendation == "positive" && last != "":
			return i18n.T("review.rec.keep", last)
		case it.Recommendation == "negative" && last != "":
			return i18n.T("review.rec.remove", last)
		case it.Recommendation == "negative":
			return i18n.T("review.rec.never")
		}
		return i18n.T("review.rec.unknown")
	}
}
