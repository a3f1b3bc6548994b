package api

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/review"
)

// Access reviews (DESIGN.md "Access reviews and the access register"):
//
//	review.start {"system"}                  -> {"campaign_id", "items"} (administrators of the
//	                                            system and operators); chained and announced
//	review.list  {"system"?, "state"?}       -> [ReviewCampaign ...] newest first: the campaigns
//	                                            the asker may see (their systems' for
//	                                            administrators, all for operators and auditors, the
//	                                            ones they review items of for reviewers)
//	review.show  {"campaign_id", "mine"?, "limit"?, "after"?}
//	                                         -> ReviewShow: the campaign and its items (all of them
//	                                            for the system's administrators, operators and
//	                                            auditors; a reviewer's own items for a reviewer;
//	                                            mine: the asker's own items only), in person, role,
//	                                            grant order; with limit (1..MaxReviewPage) one page
//	                                            of at most limit items after the item of grant
//	                                            after, next the after of the page that follows (""
//	                                            after the last); without, every item
//	                                            (Client.ReviewShowAll walks the pages)
//	review.mine  {}                          -> [ReviewItem ...]: the undecided items of open
//	                                            campaigns the asker may decide now
//	review.close {"campaign_id"}             -> review.Closed: administrators of the system and
//	                                            operators once it has ended, only operators before;
//	                                            resumes a close a crash cut short
//
// Decisions are not API calls: they are messages in
// (tilgang.TypeReviewDecided, envelope.ReviewDecision), signed like
// approvals, so that they are ordered with the person's other messages.
const (
	MethodReviewStart = "review.start"
	MethodReviewList  = "review.list"
	MethodReviewShow  = "review.show"
	MethodReviewMine  = "review.mine"
	MethodReviewClose = "review.close"
)

func init() {
	handlers[MethodReviewStart] = (*Server).reviewStart
	handlers[MethodReviewList] = (*Server).reviewList
	handlers[MethodReviewShow] = (*Server).reviewShow
	handlers[MethodReviewMine] = (*Server).reviewMine
	handlers[MethodReviewClose] = (*Server).reviewClose
}

// Reviewer is what the API needs of the review runner (supplied by the app).
type Reviewer interface {
	Start(ctx context.Context, system, actor string) (review.Started, error)
	Close(ctx context.Context, id, actor string) (review.Closed, error)
}

// ReviewStartArgs are the args of review.start.
type ReviewStartArgs struct {
	System string `json:"system"`
}

// ReviewListArgs are the args of review.list; empty fields do not filter.
type ReviewListArgs struct {
	System string `json:"system,omitempty"`
	State  string `json:"state,omitempty"` // open | closing | closed
}

// ReviewShowArgs are the args of review.show.
type ReviewShowArgs struct {
	CampaignID string `json:"campaign_id"`
	Mine       bool   `json:"mine,omitempty"`
	// Limit is how many items one page holds at most: 1..MaxReviewPage;
	// 0 is every item in one answer.
	Limit int `json:"limit,omitempty"`
	// After is the Next of the page before (a grant id of an item of the
	// campaign); "" for the first page.
	After string `json:"after,omitempty"`
}

// MaxReviewPage is the most items one page of review.show holds.
const MaxReviewPage = 1000

// ReviewCloseArgs are the args of review.close.
type ReviewCloseArgs struct {
	CampaignID string `json:"campaign_id"`
}

// ReviewCampaign is one campaign as listed.
type ReviewCampaign struct {
	CampaignID    string      `json:"campaign_id"`
	System        string      `json:"system"`
	State         string      `json:"state"`          // open | closing | closed
	ReviewerKind  string      `json:"reviewer_kind"`  // systemansvarlig | manager
	IfNoResponse  string      `json:"if_no_response"` // remove | keep
	Justification string      `json:"justification"`  // required | optional
	StartedBy     string      `json:"started_by"`
	StartedAt     time.Time   `json:"started_at"`
	EndsAt        time.Time   `json:"ends_at"`
	ClosedBy      string      `json:"closed_by,omitempty"`
	ClosedAt      *time.Time  `json:"closed_at"`
	Recommended   bool        `json:"recommended"` // the targets' sign-ins have been read
	Counts        ReviewTally `json:"counts"`
	// MayClose says whether the asker may close it now; MayCloseEarly
	// whether only because they are an operator (it has not ended yet).
	MayClose bool `json:"may_close"`
}

// ReviewTally counts a campaign's items.
type ReviewTally struct {
	Items        int `json:"items"`
	Keep         int `json:"keep"`
	Remove       int `json:"remove"`
	Acknowledged int `json:"acknowledged"`
	Open         int `json:"open"` // undecided
}

// ReviewShow is review.show's answer: DESIGN.md's {"campaign_id",
// "system", "state", "items"} and what a reviewer's page needs beside.
type ReviewShow struct {
	ReviewCampaign
	Items []ReviewItem `json:"items"`
	// Next is the After of the page that follows, "" when this page is the
	// last (always "" without a limit).
	Next string `json:"next,omitempty"`
	// MineOpen counts the asker's undecided items they may decide now, and
	// BulkKeep those of them a bulk keep takes (not a birthright, a
	// positive recommendation), over the whole campaign whatever the page;
	// counted on every page with mine, else on the first page only (0 on
	// the others).
	MineOpen int `json:"mine_open"`
	BulkKeep int `json:"bulk_keep"`
}

// ReviewItem is one item as a reviewer sees it. Decision is null while
// undecided.
type ReviewItem struct {
	Person    string   `json:"person"`
	Role      string   `json:"role"`
	GrantID   string   `json:"grant_id"`
	Reviewers []string `json:"reviewers"`
	Decision  *string  `json:"decision"` // keep | remove | acknowledged | null
	DecidedBy string   `json:"decided_by"`

	// Set in review.mine, where items of several campaigns are listed.
	CampaignID string     `json:"campaign_id,omitempty"`
	System     string     `json:"system,omitempty"`
	EndsAt     *time.Time `json:"ends_at,omitempty"`

	Name       string     `json:"name"` // the person's name from their HR record ("" when none)
	DecidedAt  *time.Time `json:"decided_at"`
	Comment    string     `json:"comment,omitempty"`
	Birthright bool       `json:"birthright"` // acknowledged only: the rule, not the person, is reviewed
	// Recommendation is "positive" (signed in within 90 days), "negative"
	// (no sign-in for 90 days) or "unknown"; LastSignIn the target's last
	// sign-in when it records one.
	Recommendation string        `json:"recommendation"`
	LastSignIn     *time.Time    `json:"last_sign_in"`
	Granted        ReviewGranted `json:"granted"`
	// MayDecide says whether the asker may decide it now; WhyNot, when not,
	// says why (a reason the portal shows in bokmål).
	MayDecide bool   `json:"may_decide"`
	WhyNot    string `json:"why_not,omitempty"`
	// Outcome is what the close did with it: kept, revoked, gone ("" before).
	Outcome string `json:"outcome,omitempty"`
}

// ReviewGranted is why the grant under review was given.
type ReviewGranted struct {
	RequestID  string       `json:"request_id"`
	Reason     string       `json:"reason"`    // the request's reason ("" once erased)
	Requester  string       `json:"requester"` // "birthright" for a birthright grant
	Approvers  []string     `json:"approvers"`
	At         time.Time    `json:"at"` // when the grant was opened
	ValidUntil tilgang.Date `json:"valid_until"`
	State      string       `json:"state"` // the grant's state now
}

func (s *Server) reviews() (ledger.Reviews, error) {
	rv, ok := s.Ledger.(ledger.Reviews)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker's ledger keeps no access reviews")
	}
	return rv, nil
}

func (s *Server) reviewStart(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a ReviewStartArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !tilgang.ValidToken(a.System) {
		return nil, invalidf("system %q is not a system id (letters, digits, '-', '_')", short(a.System))
	}
	if _, ok := v.cat.System(a.System); !ok {
		return nil, tilgang.Errorf(tilgang.NotFound, "unknown system %q", a.System)
	}
	if !v.operator && !v.administers(a.System) {
		return nil, deniedf("%s may not start a review of %s: its administrators and operators only", v.actor, a.System)
	}
	if s.Reviews == nil {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker does not run access reviews")
	}
	return s.Reviews.Start(ctx, a.System, v.actor)
}

func (s *Server) reviewClose(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a ReviewCloseArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	rv, err := s.reviews()
	if err != nil {
		return nil, err
	}
	c, err := s.campaign(ctx, rv, a.CampaignID)
	if err != nil {
		return nil, err
	}
	if ok, why := s.mayClose(v, c); !ok {
		return nil, deniedf("%s", why)
	}
	if s.Reviews == nil {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker does not run access reviews")
	}
	// A close of many items outlasts a call: it stops after CloseWait
	// (the batch it was applying is rolled back) and answers state
	// closing; the worker's schedule finishes it (a close resumes where it
	// stopped, and never applies an item twice).
	wait := s.CloseWait
	if wait <= 0 {
		wait = closeWait
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	out, err := s.Reviews.Close(cctx, c.ID, v.actor)
	if err != nil && cctx.Err() != nil {
		out.State = ledger.CampaignClosing
		return out, nil
	}
	return out, err
}

// closeWait is how long a review.close call applies items before it
// answers, unless Server.CloseWait says otherwise: less than the call's
// own minute.
const closeWait = 45 * time.Second

func (s *Server) campaign(ctx context.Context, rv ledger.Reviews, id string) (*ledger.ReviewCampaign, error) {
	if !tilgang.ValidToken(id) {
		return nil, invalidf("campaign_id %q is not a campaign id (letters, digits, '-', '_')", short(id))
	}
	c, err := rv.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "no review campaign %s", id)
	}
	return c, nil
}

// mayClose says whether v may close c now, and why not: administrators
// of its system and operators once it has ended, only operators before.
func (s *Server) mayClose(v *viewer, c *ledger.ReviewCampaign) (bool, string) {
	switch {
	case c.State == ledger.CampaignClosed:
		return false, fmt.Sprintf("review campaign %s is closed already", c.ID)
	case !v.operator && !v.administers(c.System):
		return false, fmt.Sprintf("%s may not close review campaign %s: administrators of %s and operators only", v.actor, c.ID, c.System)
	case !v.operator && c.State == ledger.CampaignOpen && s.now().Before(c.EndsAt):
		return false, fmt.Sprintf("review campaign %s ends %s: only operators may close it before its end", c.ID,
			c.EndsAt.In(tilgang.Oslo).Format("2006-01-02 15:04"))
	}
	return true, ""
}

func (s *Server) campaignOf(ctx context.Context, rv ledger.Reviews, v *viewer, c *ledger.ReviewCampaign) (ReviewCampaign, error) {
	n, err := rv.ReviewCounts(ctx, c.ID)
	if err != nil {
		return ReviewCampaign{}, err
	}
	out := ReviewCampaign{CampaignID: c.ID, System: c.System, State: c.State, ReviewerKind: c.Reviewers, IfNoResponse: c.IfNoResponse,
		Justification: c.Justification, StartedBy: c.StartedBy, StartedAt: c.StartedAt, EndsAt: c.EndsAt, ClosedBy: c.ClosedBy,
		Recommended: c.Recommended, Counts: ReviewTally{Items: n.Items, Keep: n.Keep, Remove: n.Remove, Acknowledged: n.Acknowledged, Open: n.Open}}
	if !c.ClosedAt.IsZero() {
		t := c.ClosedAt
		out.ClosedAt = &t
	}
	out.MayClose, _ = s.mayClose(v, c)
	return out, nil
}

// seesAll reports whether v sees every item of a campaign of system.
func (v *viewer) seesAll(system string) bool { return v.all || v.administers(system) }

func (s *Server) reviewList(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a ReviewListArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.System != "" && !tilgang.ValidToken(a.System) {
		return nil, invalidf("system %q is not a system id (letters, digits, '-', '_')", short(a.System))
	}
	f := ledger.ReviewCampaignFilter{System: a.System}
	switch a.State {
	case "":
	case ledger.CampaignOpen, ledger.CampaignClosing, ledger.CampaignClosed:
		f.States = []string{a.State}
	default:
		return nil, invalidf("state %q must be open, closing or closed", short(a.State))
	}
	rv, err := s.reviews()
	if err != nil {
		return nil, err
	}
	cs, err := rv.Campaigns(ctx, f)
	if err != nil {
		return nil, err
	}
	// A reviewer sees the campaigns they have items in.
	mine := map[string]bool{}
	if !v.all {
		items, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{Reviewer: v.actor})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			mine[it.CampaignID] = true
		}
	}
	out := []ReviewCampaign{}
	for i := range cs {
		if !v.seesAll(cs[i].System) && !mine[cs[i].ID] {
			continue
		}
		c, err := s.campaignOf(ctx, rv, v, &cs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Server) reviewShow(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a ReviewShowArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	rv, err := s.reviews()
	if err != nil {
		return nil, err
	}
	if a.Limit < 0 || a.Limit > MaxReviewPage {
		return nil, invalidf("limit %d is outside 1..%d (0: every item)", a.Limit, MaxReviewPage)
	}
	if a.After != "" && !tilgang.ValidToken(a.After) {
		return nil, invalidf("after %q is not a grant id", short(a.After))
	}
	if a.After != "" && a.Limit == 0 {
		return nil, invalidf("after needs a limit")
	}
	c, err := s.campaign(ctx, rv, a.CampaignID)
	if err != nil {
		return nil, err
	}
	f := ledger.ReviewItemFilter{CampaignID: c.ID}
	if a.Mine || !v.seesAll(c.System) {
		f.Reviewer = v.actor
	}
	if a.Limit > 0 {
		f.Limit = a.Limit + 1
	}
	if a.After != "" {
		g, err := s.Ledger.Grant(ctx, a.After)
		if err != nil {
			return nil, err
		}
		if g == nil || g.System != c.System {
			return nil, invalidf("after %q is not an item of review campaign %s", short(a.After), c.ID)
		}
		f.After = ledger.ReviewItemKey{Person: g.Person, Role: g.Role, GrantID: g.ID}
	}
	items, err := rv.ReviewItems(ctx, f)
	if err != nil {
		return nil, err
	}
	// The asker's undecided items: their count, and the bulk keep's; for
	// their own pages (mine) on every page, else on the first, so that a
	// report read in pages does not count them again and again. A reviewer
	// who has none open may still have decided ones.
	var open []ledger.ReviewItem
	if a.Mine || a.After == "" {
		if open, err = rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: c.ID, Reviewer: v.actor, Open: true}); err != nil {
			return nil, err
		}
	}
	if f.Reviewer != "" && len(items) == 0 && len(open) == 0 && !v.seesAll(c.System) {
		any := items
		if a.After != "" {
			if any, err = rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: c.ID, Reviewer: v.actor, Limit: 1}); err != nil {
				return nil, err
			}
		}
		if len(any) == 0 {
			return nil, deniedf("%s may not see review campaign %s", v.actor, c.ID)
		}
	}
	head, err := s.campaignOf(ctx, rv, v, c)
	if err != nil {
		return nil, err
	}
	out := ReviewShow{ReviewCampaign: head}
	for i := range open {
		if engine.ReviewWhyNot(c, &open[i], v.actor) != "" {
			continue
		}
		out.MineOpen++
		if !open[i].Birthright && open[i].Recommendation == ledger.RecommendPositive {
			out.BulkKeep++
		}
	}
	if a.Limit > 0 && len(items) > a.Limit {
		items = items[:a.Limit]
		out.Next = items[len(items)-1].GrantID
	}
	out.Items, err = s.reviewItems(ctx, v, map[string]*ledger.ReviewCampaign{c.ID: c}, items, false)
	return out, err
}

func (s *Server) reviewMine(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	rv, err := s.reviews()
	if err != nil {
		return nil, err
	}
	items, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{Reviewer: v.actor, Open: true, OpenCampaigns: true})
	if err != nil {
		return nil, err
	}
	cs := map[string]*ledger.ReviewCampaign{}
	for _, it := range items {
		if cs[it.CampaignID] == nil {
			c, err := rv.Campaign(ctx, it.CampaignID)
			if err != nil {
				return nil, err
			}
			cs[it.CampaignID] = c
		}
	}
	all, err := s.reviewItems(ctx, v, cs, items, true)
	if err != nil {
		return nil, err
	}
	out := []ReviewItem{}
	for _, it := range all {
		if it.MayDecide {
			out = append(out, it)
		}
	}
	return out, nil
}

// reviewItems turns ledger items into what a reviewer sees: names, why
// each grant was given, and whether v may decide it. Grants, requests and
// names are read a page at a time.
func (s *Server) reviewItems(ctx context.Context, v *viewer, cs map[string]*ledger.ReviewCampaign, items []ledger.ReviewItem, withCampaign bool) ([]ReviewItem, error) {
	out := make([]ReviewItem, 0, len(items))
	for start := 0; start < len(items); start += 1000 {
		part := items[start:min(len(items), start+1000)]
		var gids, persons []string
		for _, it := range part {
			gids, persons = append(gids, it.GrantID), append(persons, it.Person)
		}
		grants, err := s.Ledger.GrantsByID(ctx, gids)
		if err != nil {
			return nil, err
		}
		names, err := s.Ledger.PersonNames(ctx, persons)
		if err != nil {
			return nil, err
		}
		var rids []string
		for _, g := range grants {
			rids = append(rids, g.RequestID)
		}
		reqs, err := s.Ledger.RequestsByID(ctx, rids)
		if err != nil {
			return nil, err
		}
		for _, it := range part {
			c := cs[it.CampaignID]
			o := ReviewItem{Person: it.Person, Role: it.Role, GrantID: it.GrantID, Reviewers: it.Reviewers, DecidedBy: it.DecidedBy,
				Name: names[it.Person], Comment: it.Comment, Birthright: it.Birthright, Recommendation: it.Recommendation, Outcome: it.Outcome}
			if o.Reviewers == nil {
				o.Reviewers = []string{}
			}
			if it.Decision != "" {
				d := it.Decision
				o.Decision = &d
			}
			if !it.DecidedAt.IsZero() {
				t := it.DecidedAt
				o.DecidedAt = &t
			}
			if o.Recommendation == "" {
				o.Recommendation = "unknown"
			}
			if !it.LastSignIn.IsZero() {
				t := it.LastSignIn
				o.LastSignIn = &t
			}
			if g := grants[it.GrantID]; g != nil {
				o.Granted = ReviewGranted{RequestID: g.RequestID, Requester: g.Requester, Approvers: g.Approvers, At: g.Created,
					ValidUntil: g.ValidUntil, State: string(g.State)}
				if r := reqs[g.RequestID]; r != nil {
					o.Granted.Reason = r.Reason
				}
			}
			if o.Granted.Approvers == nil {
				o.Granted.Approvers = []string{}
			}
			if c != nil {
				if withCampaign {
					o.CampaignID, o.System = c.ID, c.System
					t := c.EndsAt
					o.EndsAt = &t
				}
				o.WhyNot = engine.ReviewWhyNot(c, &it, v.actor)
				o.MayDecide = o.WhyNot == ""
			}
			out = append(out, o)
		}
	}
	return out, nil
}
