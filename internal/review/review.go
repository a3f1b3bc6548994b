package review

import (
	"context"
	"log/slog"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Runner starts, recommends and closes campaigns.
type Runner struct {
	Ledger     ledger.Ledger
	Engine     *engine.Engine
	Connectors connectors.Set
	Log        *slog.Logger
	// Batch is how many items one close transaction applies (default 500).
	Batch int
}

// Started is what a start made.
type Started struct {
	CampaignID string `json:"campaign_id"`
	Items      int    `json:"items"`
}

// Closed is what a close did.
type Closed struct {
	CampaignID string `json:"campaign_id"`
	State      string `json:"state"`
	Items      int    `json:"items"`
	Kept       int    `json:"kept"`
	Revoked    int    `json:"revoked"`    // removed by a reviewer, or unanswered under if_no_response: remove
	Unanswered int    `json:"unanswered"` // of all items, those nobody decided
	Gone       int    `json:"gone"`       // no longer live at the close: nothing to do
}

// Start starts a campaign of system by actor (an administrator of the
// system, an operator, or engine.Worker for the schedule; the caller has
// checked who may). A Conflict when the system has an open campaign; an
// Invalid when the system has no review: policy.
func (r *Runner) Start(ctx context.Context, system, actor string) (Started, error) {
	return Started{}, tilgang.Errorf(tilgang.Unavailable, "review: start is not built yet")
}

// Close closes campaign id by actor (the caller has checked who may, and
// whether early). It resumes a close that a crash cut short.
func (r *Runner) Close(ctx context.Context, id, actor string) (Closed, error) {
	return Closed{}, tilgang.Errorf(tilgang.Unavailable, "review: close is not built yet")
}

// Recommend reads the targets of the campaign's system and records each
// item's recommendation.
func (r *Runner) Recommend(ctx context.Context, id string, now time.Time) error {
	return tilgang.Errorf(tilgang.Unavailable, "review: recommend is not built yet")
}
