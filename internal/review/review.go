package review

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// Holder names this replica for the close's lease (default host-pid).
	Holder  string
	Metrics *Metrics // nil: none kept
	// afterBatch, in tests, runs after each committed close batch (a crash
	// there leaves the campaign closing).
	afterBatch func(n int) error
}

// Metrics are the closes' Prometheus metrics (the campaigns and their
// items are sampled from the ledger by internal/metrics).
type Metrics struct {
	// Applied counts the items this replica's closes applied, by system and
	// outcome: revoked, kept, gone (no longer live at the close).
	Applied *prometheus.CounterVec
	// Closed counts the campaigns this replica's closes finished.
	Closed *prometheus.CounterVec
}

// NewMetrics makes the metrics; register them with the worker's.
func NewMetrics() *Metrics {
	return &Metrics{
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_review_applied_total",
			Help: "Access review items applied at a campaign's close by this replica, by system and outcome (revoked, kept, gone)."},
			[]string{"system", "outcome"}),
		Closed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_review_closed_total",
			Help: "Access review campaigns whose close this replica finished, by system."}, []string{"system"}),
	}
}

// Collectors lists the metrics for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Applied, m.Closed}
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
	Unanswered int    `json:"unanswered"` // of the items this close applied, those nobody decided
	Gone       int    `json:"gone"`       // no longer live at the close: nothing to do
}

func (r *Runner) reviews() (ledger.Reviews, error) {
	rv, ok := r.Ledger.(ledger.Reviews)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Internal, "review: this ledger keeps no access reviews")
	}
	return rv, nil
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// page is how many grants, people or items are read at once.
const page = 1000

// Start starts a campaign of system by actor (an administrator of the
// system, an operator, or engine.Worker for the schedule; the caller has
// checked who may). A Conflict when the system has an open campaign; an
// Invalid when the system is unknown or has no review: policy.
func (r *Runner) Start(ctx context.Context, system, actor string) (Started, error) {
	sys, ok := r.Engine.Catalogue().System(system)
	if !ok {
		return Started{}, tilgang.Errorf(tilgang.Invalid, "unknown system %q", system)
	}
	c, err := r.Engine.NewCampaign(sys, actor, r.Engine.Now())
	if err != nil {
		return Started{}, err
	}
	// Refused early, before reading the grants, when one is open.
	if rv, err := r.reviews(); err != nil {
		return Started{}, err
	} else if open, err := rv.Campaigns(ctx, ledger.ReviewCampaignFilter{System: system,
		States: []string{ledger.CampaignOpen, ledger.CampaignClosing}, Limit: 1}); err != nil {
		return Started{}, err
	} else if len(open) > 0 {
		return Started{}, tilgang.Errorf(tilgang.Conflict, "system %s has review campaign %s %s already: one open campaign per system",
			system, open[0].ID, open[0].State)
	}
	var grants []ledger.Grant
	f := ledger.SystemGrantFilter{System: system, States: []tilgang.GrantState{tilgang.StateProvisioning, tilgang.StateActive}, Limit: page}
	for {
		gs, err := r.Ledger.SystemGrants(ctx, f)
		if err != nil {
			return Started{}, err
		}
		grants = append(grants, gs...)
		if len(gs) < page {
			break
		}
		f.After = ledger.KeyOf(&gs[len(gs)-1])
	}
	people := map[string]*ledger.PersonRow{}
	var ids []string
	for _, g := range grants {
		ids = append(ids, g.Person)
	}
	if err := r.readPeople(ctx, ids, people); err != nil {
		return Started{}, err
	}
	var managers []string
	for _, p := range people {
		if m := p.Person.Manager(); m != "" && people[m] == nil {
			managers = append(managers, m)
		}
	}
	if err := r.readPeople(ctx, managers, people); err != nil {
		return Started{}, err
	}
	items := engine.ReviewItemsFor(c, sys, grants, people)
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return Started{}, err
	}
	defer tx.Rollback()
	if err := r.Engine.StartReview(tx, c, items); err != nil {
		return Started{}, err
	}
	if err := tx.Commit(); err != nil {
		return Started{}, err
	}
	r.log().Info("review: campaign started", "campaign_id", c.ID, "system", system, "items", len(items), "actor", actor)
	return Started{CampaignID: c.ID, Items: len(items)}, nil
}

func (r *Runner) readPeople(ctx context.Context, ids []string, into map[string]*ledger.PersonRow) error {
	seen := map[string]bool{}
	var todo []string
	for _, id := range ids {
		if !seen[id] && into[id] == nil {
			seen[id] = true
			todo = append(todo, id)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), page)
		ps, _, err := r.Ledger.People(ctx, todo[:n])
		if err != nil {
			return err
		}
		for id, p := range ps {
			into[id] = p
		}
		todo = todo[n:]
	}
	return nil
}

// Close closes campaign id by actor (the caller has checked who may, and
// whether early). It resumes a close that a crash cut short; closing a
// closed campaign is a Conflict.
func (r *Runner) Close(ctx context.Context, id, actor string) (Closed, error) {
	rv, err := r.reviews()
	if err != nil {
		return Closed{}, err
	}
	c, err := rv.Campaign(ctx, id)
	if err != nil {
		return Closed{}, err
	}
	if c == nil {
		return Closed{}, tilgang.Errorf(tilgang.NotFound, "no review campaign %s", id)
	}
	if c.State == ledger.CampaignClosed {
		return Closed{}, tilgang.Errorf(tilgang.Conflict, "review campaign %s was closed already (%s, by %s)", id,
			c.ClosedAt.Format(time.RFC3339), c.ClosedBy)
	}
	out := Closed{CampaignID: id, Items: c.Items}
	// First the state, alone in its transaction: decisions hold the
	// campaign shared while they are taken, so each one either commits
	// before the close begins (and counts) or finds it closing.
	if err := r.beginClose(ctx, id, actor); err != nil {
		return out, err
	}
	// Then the items, under a lease of their own, each batch fenced by it:
	// two replicas closing the same campaign never apply one item twice.
	holder := r.Holder
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	lease := closeLease + id
	token, err := r.Ledger.AcquireLease(ctx, lease, holder, closeTTL)
	if err != nil {
		return out, err
	}
	if token == 0 {
		return out, tilgang.Errorf(tilgang.Conflict, "review campaign %s is being closed by another replica", id)
	}
	defer r.Ledger.ReleaseLease(context.WithoutCancel(ctx), lease, holder, token)
	batch := r.Batch
	if batch <= 0 {
		batch = 500
	}
	for n := 0; ; n++ {
		done, err := r.closeBatch(ctx, c.System, id, batch, &out, func(tx ledger.Tx) error { return tx.Fence(lease, holder, token, closeTTL) })
		if err != nil {
			return out, err
		}
		if done {
			break
		}
		if r.afterBatch != nil {
			if err := r.afterBatch(n); err != nil {
				return out, err
			}
		}
	}
	out.State = ledger.CampaignClosed
	r.log().Info("review: campaign closed", "campaign_id", id, "system", c.System, "revoked", out.Revoked, "kept", out.Kept,
		"unanswered", out.Unanswered, "actor", actor)
	return out, nil
}

// The close's lease, per campaign, and how long a batch may take.
const (
	closeLease = "review-close/"
	closeTTL   = 2 * time.Minute
)

// beginClose marks the campaign closing (a closing one stays as it is).
func (r *Runner) beginClose(ctx context.Context, id, actor string) error {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rt, ok := tx.(ledger.ReviewTx)
	if !ok {
		return tilgang.Errorf(tilgang.Internal, "review: this ledger keeps no access reviews")
	}
	c, err := rt.LockCampaign(id)
	if err != nil {
		return err
	}
	if c == nil || c.State != ledger.CampaignOpen {
		return nil
	}
	if err := r.Engine.BeginCloseReview(tx, c, actor); err != nil {
		return err
	}
	return tx.Commit()
}

// closeBatch applies one batch of the campaign's items in one transaction,
// and closes it with the last; done when it is closed.
func (r *Runner) closeBatch(ctx context.Context, system, id string, batch int, out *Closed, fence func(ledger.Tx) error) (bool, error) {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if err := fence(tx); err != nil {
		return false, err
	}
	rt, ok := tx.(ledger.ReviewTx)
	if !ok {
		return false, tilgang.Errorf(tilgang.Internal, "review: this ledger keeps no access reviews")
	}
	c, err := rt.CampaignTx(id)
	if err != nil {
		return false, err
	}
	if c == nil || c.State == ledger.CampaignClosed {
		return true, nil // closed meanwhile by another replica
	}
	items, err := rt.UnappliedItems(id, batch)
	if err != nil {
		return false, err
	}
	t, err := r.Engine.CloseReviewItems(tx, c, items)
	if err != nil {
		return false, err
	}
	out.Kept, out.Revoked, out.Unanswered, out.Gone = out.Kept+t.Kept, out.Revoked+t.Revoked, out.Unanswered+t.Unanswered, out.Gone+t.Gone
	last := len(items) < batch
	if last {
		rv, _ := r.reviews()
		// Counted from the ledger, so a resumed close reports the whole campaign.
		counts, err := countsOf(ctx, rv, id)
		if err != nil {
			return false, err
		}
		if err := r.Engine.FinishCloseReview(tx, c, counts); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	if m := r.Metrics; m != nil {
		m.Applied.WithLabelValues(system, "revoked").Add(float64(t.Revoked))
		m.Applied.WithLabelValues(system, "kept").Add(float64(t.Kept))
		m.Applied.WithLabelValues(system, "gone").Add(float64(t.Gone))
		if last {
			m.Closed.WithLabelValues(system).Inc()
		}
	}
	return last, nil
}

// countsOf counts the campaign's items by decision for the close's audit
// row (decisions no longer change once it is closing).
func countsOf(ctx context.Context, rv ledger.Reviews, id string) (map[string]int, error) {
	n, err := rv.ReviewCounts(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]int{"items": n.Items, "keep": n.Keep, "remove": n.Remove, "acknowledged": n.Acknowledged, "unanswered": n.Open}, nil
}

// Recommend reads the targets of the campaign's system (every connector
// instance of it that can list its accounts) and records each item's
// recommendation from the person's latest sign-in there. A read that
// fails leaves its instance's people unknown.
func (r *Runner) Recommend(ctx context.Context, id string) error {
	rv, err := r.reviews()
	if err != nil {
		return err
	}
	c, err := rv.Campaign(ctx, id)
	if err != nil || c == nil {
		return err
	}
	sys, ok := r.Engine.Catalogue().System(c.System)
	last := map[string]time.Time{}
	if ok {
		for _, name := range sys.Connectors {
			rd, ok := r.Connectors[name].(connectors.Reader)
			if !ok {
				continue
			}
			seen := map[string]time.Time{}
			err := rd.EachAccount(ctx, func(a connectors.TargetAccount) error {
				if a.LastSignIn != nil && !a.LastSignIn.IsZero() && a.LastSignIn.After(seen[a.Person]) {
					seen[a.Person] = *a.LastSignIn
				}
				return nil
			})
			if err != nil {
				r.log().Warn("review: the target's sign-ins could not be read; its people stay unknown", "campaign_id", id,
					"connector", name, "err", err)
				continue
			}
			for p, t := range seen {
				if t.After(last[p]) {
					last[p] = t
				}
			}
		}
	}
	now := r.Engine.Now()
	recs := map[string]ledger.Recommendation{}
	f := ledger.ReviewItemFilter{CampaignID: id, Limit: page}
	for {
		items, err := rv.ReviewItems(ctx, f)
		if err != nil {
			return err
		}
		for _, it := range items {
			var at *time.Time
			if t, ok := last[it.Person]; ok {
				at = &t
			}
			recs[it.GrantID] = engine.Recommend(at, now)
		}
		if len(items) < page {
			break
		}
		l := items[len(items)-1]
		f.After = ledger.ReviewItemKey{Person: l.Person, Role: l.Role, GrantID: l.GrantID}
	}
	if err := rv.SetRecommendations(ctx, id, recs); err != nil {
		return fmt.Errorf("review: record the recommendations of %s: %w", id, err)
	}
	return nil
}

// ScheduleLease is the ledger lease under which one replica does the
// scheduled campaign work of a tick.
const ScheduleLease = "review-schedule"

// Tick does the campaign work due at the engine's now: it starts a
// campaign of each system whose review: every has passed since its last
// campaign began (at once for a system that never had one), records the
// recommendations of campaigns that have none yet, closes the open
// campaigns that have ended (by engine.Worker) and finishes any close cut
// short. Errors are logged per campaign; the first is returned.
func (r *Runner) Tick(ctx context.Context) error {
	rv, err := r.reviews()
	if err != nil {
		return err
	}
	var first error
	fail := func(err error, msg string, args ...any) {
		if err == nil {
			return
		}
		r.log().Error(msg, append(args, "err", err)...)
		if first == nil {
			first = err
		}
	}
	now := r.Engine.Now()
	cat := r.Engine.Catalogue()
	for _, id := range cat.SystemIDs() {
		sys, _ := cat.System(id)
		if sys.Review == nil || sys.Review.Every.IsZero() {
			continue
		}
		last, err := rv.Campaigns(ctx, ledger.ReviewCampaignFilter{System: id, Limit: 1})
		if err != nil {
			fail(err, "review: schedule: read the campaigns", "system", id)
			continue
		}
		if len(last) > 0 && (last[0].State != ledger.CampaignClosed || sys.Review.Every.After(last[0].StartedAt).After(now)) {
			continue
		}
		if _, err := r.Start(ctx, id, engine.Worker); err != nil && tilgang.KindOf(err) != tilgang.Conflict {
			fail(err, "review: schedule: start a campaign", "system", id)
		}
	}
	active, err := rv.Campaigns(ctx, ledger.ReviewCampaignFilter{States: []string{ledger.CampaignOpen, ledger.CampaignClosing}})
	if err != nil {
		return err
	}
	for _, c := range active {
		if c.State == ledger.CampaignOpen && !c.Recommended {
			fail(r.Recommend(ctx, c.ID), "review: recommend", "campaign_id", c.ID)
		}
		if c.State == ledger.CampaignClosing || !c.EndsAt.After(now) {
			actor := engine.Worker
			if c.State == ledger.CampaignClosing {
				actor = c.ClosedBy
			}
			_, err := r.Close(ctx, c.ID, actor)
			fail(err, "review: close", "campaign_id", c.ID)
		}
	}
	return first
}
