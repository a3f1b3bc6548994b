package ledger

import (
	"context"
	"time"
)

// --- access reviews (DESIGN.md "Access reviews and the access register") ---

// Campaign states. A campaign is open while reviewers decide; closing once
// its close has begun (its items are being applied, a batch at a time, so
// a crash resumes where it stopped); closed when every item is applied.
const (
	CampaignOpen    = "open"
	CampaignClosing = "closing"
	CampaignClosed  = "closed"
)

// Recommendations of an item, from the target's last sign-in.
const (
	RecommendUnknown  = ""         // the target does not say, or was not read yet
	RecommendPositive = "positive" // signed in within the last 90 days
	RecommendNegative = "negative" // no sign-in for 90 days
)

// ReviewCampaign is one access review campaign of one system. The review
// policy it runs under is copied from the catalogue at its start, so a
// policy change does not move a campaign already running.
type ReviewCampaign struct {
	ID            string
	System        string
	State         string // CampaignOpen | CampaignClosing | CampaignClosed
	Reviewers     string // systemansvarlig | manager
	IfNoResponse  string // remove | keep
	Justification string // required | optional
	StartedBy     string // a principal, or "worker" for the schedule
	StartedAt     time.Time
	EndsAt        time.Time // started plus the policy's duration
	ClosedBy      string
	ClosedAt      time.Time // when closing began; zero while open
	Recommended   bool      // the recommendation step has run
	Items         int       // how many items it has
	Catalogue     string    // catalogue version at the start
	Updated       time.Time
}

// ReviewItem is one live grant under review in a campaign.
type ReviewItem struct {
	CampaignID string
	GrantID    string
	Person     string
	Role       string
	Birthright bool     // acknowledged only: its rule, not the person, is reviewed
	Reviewers  []string // who may decide it, in order; an escalation adds to it
	Decision   string   // "" while undecided | keep | remove | acknowledged
	DecidedBy  string
	DecidedAt  time.Time
	Comment    string // the reviewer's comment (free text, kept beside the chain as well)
	// Recommendation is RecommendPositive, RecommendNegative or
	// RecommendUnknown; LastSignIn the target's last sign-in, when known.
	Recommendation string
	LastSignIn     time.Time
	// Applied is set once the close has dealt with the item (revoked or
	// kept), in the transaction that did it, so a resumed close never
	// revokes twice. Outcome says what the close did: kept, revoked,
	// gone (the grant was no longer live), or "" before.
	Applied bool
	Outcome string
}

// ReviewItemFilter selects items for ReviewItems: those of CampaignID
// (when not ""), with Reviewer among their reviewers (when not ""),
// undecided only (Open), in person, role, grant order after After (a
// grant id: the key is (person, role, grant) of that item; "" from the
// first), at most Limit (0: all).
type ReviewItemFilter struct {
	CampaignID string
	Reviewer   string
	Open       bool
	// OpenCampaigns keeps only items of campaigns in state open.
	OpenCampaigns bool
	After         ReviewItemKey
	Limit         int
}

// ReviewItemKey is an item's place in ReviewItems' order.
type ReviewItemKey struct {
	Person, Role, GrantID string
}

// ReviewCampaignFilter selects campaigns for Campaigns: of System (when
// not ""), in one of States (when any), newest start first, at most Limit
// (0: all).
type ReviewCampaignFilter struct {
	System string
	States []string
	Limit  int
}

// ReviewCounts are a campaign's items by decision.
type ReviewCounts struct {
	Items, Keep, Remove, Acknowledged, Open int
}

// Reviews is the read side of access reviews. Backends that keep
// campaigns implement it beside Ledger; callers ask by type assertion.
type Reviews interface {
	// Campaign reads one campaign, nil when there is none.
	Campaign(ctx context.Context, id string) (*ReviewCampaign, error)
	// Campaigns lists campaigns (ReviewCampaignFilter).
	Campaigns(ctx context.Context, f ReviewCampaignFilter) ([]ReviewCampaign, error)
	// ReviewItems lists items (ReviewItemFilter).
	ReviewItems(ctx context.Context, f ReviewItemFilter) ([]ReviewItem, error)
	// ReviewCounts counts a campaign's items by decision.
	ReviewCounts(ctx context.Context, campaignID string) (ReviewCounts, error)
	// SetRecommendations records the recommendation of the campaign's items
	// named in recs (by grant id) and marks the campaign recommended, in
	// one transaction. Items not named keep theirs.
	SetRecommendations(ctx context.Context, campaignID string, recs map[string]Recommendation) error
}

// Recommendation is one item's recommendation as the step records it.
type Recommendation struct {
	Value      string    // RecommendPositive | RecommendNegative | RecommendUnknown
	LastSignIn time.Time // zero when not known
}

// ReviewTx is the write side of access reviews inside a Tx. A Tx of a
// backend that implements Reviews implements it too.
type ReviewTx interface {
	// InsertCampaign stores a new campaign; a Conflict when the system has
	// an open or closing campaign already (one open campaign per system).
	InsertCampaign(c ReviewCampaign) error
	// UpdateCampaign writes c's state, closed_by/at, recommended, items and
	// updated.
	UpdateCampaign(c ReviewCampaign) error
	// CampaignTx reads one campaign in the transaction, nil when none,
	// holding it from changing (a shared lock where the backend locks
	// rows) until the transaction ends: a decision taken while it is open
	// commits before its close begins.
	CampaignTx(id string) (*ReviewCampaign, error)
	// LockCampaign reads one campaign for a change of its state (an
	// exclusive lock where the backend locks rows), nil when none. Take it
	// in a transaction that locks nothing else first.
	LockCampaign(id string) (*ReviewCampaign, error)
	// ActiveCampaign is the system's open or closing campaign, nil when none.
	ActiveCampaign(system string) (*ReviewCampaign, error)
	// InsertReviewItems stores new items.
	InsertReviewItems(items []ReviewItem) error
	// ReviewItem reads one item, nil when none.
	ReviewItem(campaignID, grantID string) (*ReviewItem, error)
	// UpdateReviewItem writes its reviewers, decision, decided by/at,
	// comment, applied and outcome.
	UpdateReviewItem(it ReviewItem) error
	// MarkApplied marks the campaign's items named in outcomes (grant id
	// -> what the close did) applied, in a few statements.
	MarkApplied(campaignID string, outcomes map[string]string) error
	// UnappliedItems lists at most limit items of the campaign not yet
	// applied, in person, role, grant order.
	UnappliedItems(campaignID string, limit int) ([]ReviewItem, error)
	// OpenItemsOf lists the campaign's undecided items that reviewer may
	// decide.
	OpenItemsOf(campaignID, reviewer string) ([]ReviewItem, error)
}

// --- end access reviews ---
