package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ror-ikt/tilgang"
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
//	review.show  {"campaign_id", "mine"?}    -> ReviewShow: the campaign and its items (all of them
//	                                            for the system's administrators, operators and
//	                                            auditors; a reviewer's own items for a reviewer;
//	                                            mine: the asker's own items only)
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
}

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

func (s *Server) reviewStart(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	return nil, tilgang.Errorf(tilgang.Unavailable, "api: review.start is not built yet")
}

func (s *Server) reviewList(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	return nil, tilgang.Errorf(tilgang.Unavailable, "api: review.list is not built yet")
}

func (s *Server) reviewShow(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	return nil, tilgang.Errorf(tilgang.Unavailable, "api: review.show is not built yet")
}

func (s *Server) reviewMine(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	return nil, tilgang.Errorf(tilgang.Unavailable, "api: review.mine is not built yet")
}

func (s *Server) reviewClose(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	return nil, tilgang.Errorf(tilgang.Unavailable, "api: review.close is not built yet")
}
