package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/workdays"
)

// Access reviews (DESIGN.md "Access reviews and the access register").
//
// A campaign lists every live grant of a system as an item with its
// reviewers (ReviewItemsFor): under reviewers: systemansvarlig every
// administrator of the system but the person; under reviewers: manager the
// person's manager. An item whose reviewer would review their own access
// goes a level up: to the other administrators, or to the manager's
// manager; with nobody there, to the system's administrators (but the
// person), then the coordinator. Birthright grants are items to
// acknowledge: their rule, not the person, is reviewed, and a close never
// revokes them.
//
// A decision (review.decided.v1) is judged here like an approval: only a
// reviewer of the item, never the person, while the campaign is open, with
// a comment when the policy requires one. A bulk keep is taken only for an
// item the target's sign-ins recommend keeping. A reviewer may change their
// decision until the close.
//
// At the close (CloseReviewItems, a batch at a time) removals are revoked
// through the ordinary path (endGrant) with the reviewer as actor, and,
// under if_no_response: remove, unanswered items with actor review.
//
// Each reviewer with items gets a reminder and an escalation in the outbox
// (KindReviewRemind, KindReviewEscalate), working days after the start as
// for approvals: escalating a manager's items lets the manager's manager
// decide them too; escalating an administrator's tells every
// administrator and the coordinator.

// Kinds of the review reminder operations (connector tilgang); the
// operation's person is the reviewer, its entitlement "campaign:<id>".
const (
	KindReviewRemind   = "review_remind"
	KindReviewEscalate = "review_escalate"
)

// ReviewCause is the revoke cause of a grant a review removed.
const ReviewCause = "review"

// NegativeAfter is how long without a sign-in makes a negative
// recommendation.
const NegativeAfter = 90 * 24 * time.Hour

// Recommend is the recommendation for a last sign-in read at now (nil: the
// target does not say).
func Recommend(last *time.Time, now time.Time) ledger.Recommendation {
	if last == nil || last.IsZero() {
		return ledger.Recommendation{Value: ledger.RecommendUnknown}
	}
	r := ledger.Recommendation{Value: ledger.RecommendPositive, LastSignIn: last.UTC()}
	if now.Sub(*last) >= NegativeAfter {
		r.Value = ledger.RecommendNegative
	}
	return r
}

// NewCampaign makes a campaign of sys started by actor at now, under the
// system's review: policy; an Invalid error when it has none.
func (e *Engine) NewCampaign(sys *policy.System, actor string, now time.Time) (ledger.ReviewCampaign, error) {
	if sys.Review == nil {
		return ledger.ReviewCampaign{}, tilgang.Errorf(tilgang.Invalid, "system %s has no review: settings in its policy file: it has no access reviews", sys.ID)
	}
	r := sys.Review
	now = now.UTC()
	return ledger.ReviewCampaign{ID: newID("rc-"), System: sys.ID, State: ledger.CampaignOpen, Reviewers: r.Reviewers,
		IfNoResponse: r.IfNoResponse, Justification: r.Justification, StartedBy: actor, StartedAt: now,
		EndsAt: now.Add(time.Duration(r.Duration) * 24 * time.Hour), Catalogue: e.Catalogue().Version, Updated: now}, nil
}

// ReviewItemsFor makes the items of campaign c of sys: one per grant in
// grants (the system's live grants), with their reviewers. people holds the
// records of the grants' persons and of their managers (for the level
// above); one missing is taken as having no manager.
func ReviewItemsFor(c ledger.ReviewCampaign, sys *policy.System, grants []ledger.Grant, people map[string]*ledger.PersonRow) []ledger.ReviewItem {
	items := make([]ledger.ReviewItem, 0, len(grants))
	for _, g := range grants {
		items = append(items, ledger.ReviewItem{CampaignID: c.ID, GrantID: g.ID, Person: g.Person, Role: g.Role,
			Birthright: g.Requester == Birthright, Reviewers: ReviewersOf(c.Reviewers, sys, g.Person, people)})
	}
	return items
}

// ReviewersOf are who review person's access to sys under kind
// (systemansvarlig | manager), never the person.
func ReviewersOf(kind string, sys *policy.System, person string, people map[string]*ledger.PersonRow) []string {
	managerOf := func(id string) string {
		if p := people[id]; p != nil {
			return p.Person.Manager()
		}
		return ""
	}
	others := func() []string {
		var out []string
		for _, a := range sys.Administrators {
			if a != person {
				out = append(out, a)
			}
		}
		return out
	}
	if kind == policy.ReviewByManager {
		m := managerOf(person)
		if m == person {
			m = managerOf(m) // their own access: the level above
		}
		if m != "" && m != person {
			return []string{m}
		}
		if out := others(); len(out) > 0 {
			return out
		}
	} else {
		if out := others(); len(out) > 0 {
			return out
		}
		if m := managerOf(person); m != "" && m != person {
			return []string{m}
		}
	}
	if sys.Coordinator != "" && sys.Coordinator != person {
		return []string{sys.Coordinator}
	}
	return nil
}

// ReviewWhyNot is why actor may not decide it of campaign c now, "" when
// they may. The API shows it beside each item; the decision refuses with it.
func ReviewWhyNot(c *ledger.ReviewCampaign, it *ledger.ReviewItem, actor string) string {
	switch {
	case c.State != ledger.CampaignOpen:
		return fmt.Sprintf("review campaign %s is %s: decisions are taken only while it is open", c.ID, c.State)
	case actor == it.Person:
		return fmt.Sprintf("%s may not review their own access", actor)
	case !slices.Contains(it.Reviewers, actor):
		return fmt.Sprintf("%s is not a reviewer of %s's %s access in campaign %s", actor, it.Person, it.Role, c.ID)
	}
	return ""
}

func reviewTx(tx ledger.Tx) (ledger.ReviewTx, error) {
	rt, ok := tx.(ledger.ReviewTx)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Internal, "engine: this ledger keeps no access reviews")
	}
	return rt, nil
}

// reviewDecision applies a reviewer's decision.
func (e *Engine) reviewDecision(tx ledger.Tx, m *msg, d *envelope.ReviewDecision) (Outcome, error) {
	rt, err := reviewTx(tx)
	if err != nil {
		return "", err
	}
	c, err := rt.CampaignTx(d.CampaignID)
	if err != nil {
		return "", err
	}
	if c == nil {
		return e.reject(tx, m, fmt.Sprintf("no review campaign %s", d.CampaignID))
	}
	it, err := rt.ReviewItem(c.ID, d.GrantID)
	if err != nil {
		return "", err
	}
	if it == nil {
		return e.reject(tx, m, fmt.Sprintf("review campaign %s has no item for grant %s", c.ID, d.GrantID))
	}
	if it.Person != m.env.Subject {
		return e.reject(tx, m, fmt.Sprintf("grant %s is %s's, not %s's", it.GrantID, it.Person, m.env.Subject))
	}
	if why := ReviewWhyNot(c, it, m.env.Actor); why != "" {
		return e.reject(tx, m, why)
	}
	if c.Justification == policy.JustificationRequired && strings.TrimSpace(d.Comment) == "" {
		return e.reject(tx, m, fmt.Sprintf("review campaign %s requires a comment with every decision", c.ID))
	}
	if it.Birthright && d.Decision == tilgang.ReviewRemove {
		return e.reject(tx, m, fmt.Sprintf("grant %s is given by a birthright rule: it is acknowledged, not removed; the rule is changed in the policy", it.GrantID))
	}
	if d.Bulk && it.Recommendation != ledger.RecommendPositive {
		return e.reject(tx, m, fmt.Sprintf("a bulk keep is only for items the target's sign-ins recommend keeping; grant %s is to be decided on its own", it.GrantID))
	}
	decision := d.Decision
	if it.Birthright {
		decision = tilgang.ReviewAcknowledged
	}
	it.Decision, it.DecidedBy, it.DecidedAt, it.Comment = decision, m.env.Actor, m.now, d.Comment
	if err := rt.UpdateReviewItem(*it); err != nil {
		return "", err
	}
	if err := e.recordRequest(tx, m, "accepted", "", "", nil); err != nil {
		return "", err
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "review.decided", Person: it.Person, Actor: m.env.Actor, Via: m.env.Via,
		System: c.System, Role: it.Role, GrantID: it.GrantID, RequestID: m.key, Text: d.Comment,
		Details: map[string]string{"campaign_id": c.ID, "decision": decision, "bulk": fmt.Sprint(d.Bulk)}})
	tx.Emit(ledger.Event{Kind: tilgang.EvRequestAccepted, Person: it.Person, At: m.now, Data: map[string]any{
		"request_id": m.key, "grant_id": it.GrantID, "campaign_id": c.ID, "decision": decision}})
	return Accepted, nil
}

// StartReview stores campaign c with its items in tx, chains its start,
// announces it to each reviewer (review.started) and queues each
// reviewer's reminder and escalation. A Conflict when the system has an
// open campaign already.
func (e *Engine) StartReview(tx ledger.Tx, c ledger.ReviewCampaign, items []ledger.ReviewItem) error {
	rt, err := reviewTx(tx)
	if err != nil {
		return err
	}
	active, err := rt.ActiveCampaign(c.System)
	if err != nil {
		return err
	}
	if active != nil {
		return tilgang.Errorf(tilgang.Conflict, "system %s has review campaign %s %s already: one open campaign per system", c.System, active.ID, active.State)
	}
	c.Items = len(items)
	if err := rt.InsertCampaign(c); err != nil {
		return err
	}
	if err := rt.InsertReviewItems(items); err != nil {
		return err
	}
	now := e.Now().UTC()
	perReviewer := map[string]int{}
	var order []string
	for _, it := range items {
		for _, r := range it.Reviewers {
			if perReviewer[r] == 0 {
				order = append(order, r)
			}
			perReviewer[r]++
		}
	}
	slices.Sort(order)
	tx.Audit(ledger.AuditEntry{At: now, Kind: tilgang.EvReviewStarted, Actor: c.StartedBy, System: c.System,
		Details: map[string]string{"campaign_id": c.ID, "items": fmt.Sprint(len(items)), "ends_at": c.EndsAt.Format(time.RFC3339),
			"reviewers": fmt.Sprint(len(order)), "if_no_response": c.IfNoResponse}})
	pl := planAt(tx, now, 0)
	for _, r := range order {
		tx.Emit(ledger.Event{Kind: tilgang.EvReviewStarted, Person: r, At: now, Data: map[string]any{
			"campaign_id": c.ID, "system": c.System, "reviewer": r, "items": perReviewer[r], "ends_at": c.EndsAt.Format(time.RFC3339)}})
		for _, rm := range []struct {
			kind string
			days int
		}{{KindReviewRemind, e.Reminders.RemindAfter}, {KindReviewEscalate, e.Reminders.EscalateAfter}} {
			if rm.days <= 0 {
				continue
			}
			due := workdays.Add(now, rm.days)
			if !due.Before(c.EndsAt) {
				continue // the campaign ends first
			}
			if _, err := pl.queue(ledger.Operation{Person: r, Connector: ledger.Internal, Kind: rm.kind,
				Entitlement: "campaign:" + c.ID, DueAt: due}); err != nil {
				return err
			}
		}
	}
	return nil
}

// BeginCloseReview marks campaign c closing by actor, chained; a campaign
// closing already is left as it is.
func (e *Engine) BeginCloseReview(tx ledger.Tx, c *ledger.ReviewCampaign, actor string) error {
	rt, err := reviewTx(tx)
	if err != nil {
		return err
	}
	if c.State != ledger.CampaignOpen {
		return nil
	}
	now := e.Now().UTC()
	c.State, c.ClosedBy, c.ClosedAt, c.Updated = ledger.CampaignClosing, actor, now, now
	if err := rt.UpdateCampaign(*c); err != nil {
		return err
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "review.closing", Actor: actor, System: c.System,
		Details: map[string]string{"campaign_id": c.ID, "early": fmt.Sprint(now.Before(c.EndsAt))}})
	return nil
}

// ReviewTally counts what a close did.
type ReviewTally struct {
	Kept, Revoked, Unanswered, Gone int
}

// CloseReviewItems applies items of closing campaign c in tx: a removal is
// revoked by its reviewer, an unanswered item under if_no_response: remove
// by review, each through the ordinary revoke path; every item is marked
// applied with what became of it, so it is never applied twice.
func (e *Engine) CloseReviewItems(tx ledger.Tx, c *ledger.ReviewCampaign, items []ledger.ReviewItem) (ReviewTally, error) {
	var t ReviewTally
	rt, err := reviewTx(tx)
	if err != nil {
		return t, err
	}
	now := e.Now().UTC()
	persons := make([]string, 0, len(items))
	for _, it := range items {
		persons = append(persons, it.Person)
	}
	if err := ledger.Preload(tx, persons, nil); err != nil {
		return t, err
	}
	// A revoke reads the person's whole operation history (what they
	// hold): read the batch's at once, not one statement a revoke.
	if err := ledger.PreloadHistory(tx, persons); err != nil {
		return t, err
	}
	outcomes := make(map[string]string, len(items))
	for _, it := range items {
		if it.Applied {
			continue
		}
		if it.Decision == "" {
			t.Unanswered++
		}
		var w *why
		switch {
		case it.Decision == tilgang.ReviewRemove:
			w = &why{actor: it.DecidedBy, text: it.Comment}
		case it.Decision == "" && !it.Birthright && c.IfNoResponse == policy.ReviewRemove:
			w = &why{actor: tilgang.ReviewActor, text: "nobody answered the access review"}
		}
		it.Applied, it.Outcome = true, "kept"
		if w != nil {
			w.details = map[string]string{"campaign_id": c.ID, "cause": ReviewCause}
			g, err := tx.Grant(it.GrantID)
			if err != nil {
				return t, err
			}
			if g == nil || !(g.State.Live() || g.State == tilgang.StateFailed) {
				it.Outcome = "gone"
			} else {
				if err := e.endGrant(tx, now, 0, g, ReviewCause, *w); err != nil {
					return t, fmt.Errorf("review: revoke grant %s of %s: %w", g.ID, g.Person, err)
				}
				it.Outcome = "revoked"
			}
		}
		switch it.Outcome {
		case "kept":
			t.Kept++
		case "revoked":
			t.Revoked++
		default:
			t.Gone++
		}
		outcomes[it.GrantID] = it.Outcome
	}
	return t, rt.MarkApplied(c.ID, outcomes)
}

// FinishCloseReview marks closing campaign c closed, chains the close with
// its counts and announces review.closed.
func (e *Engine) FinishCloseReview(tx ledger.Tx, c *ledger.ReviewCampaign, counts map[string]int) error {
	rt, err := reviewTx(tx)
	if err != nil {
		return err
	}
	now := e.Now().UTC()
	c.State, c.Updated = ledger.CampaignClosed, now
	if err := rt.UpdateCampaign(*c); err != nil {
		return err
	}
	details := map[string]string{"campaign_id": c.ID}
	data := map[string]any{"campaign_id": c.ID, "system": c.System, "closed_by": c.ClosedBy}
	for k, v := range counts {
		details[k] = fmt.Sprint(v)
		data[k] = v
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: tilgang.EvReviewClosed, Actor: c.ClosedBy, System: c.System, Details: details})
	tx.Emit(ledger.Event{Kind: tilgang.EvReviewClosed, Person: "_", At: now, Data: data})
	return nil
}

// reviewReminder runs a reviewer's reminder or escalation.
func (e *Engine) reviewReminder(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	rt, err := reviewTx(tx)
	if err != nil {
		return err
	}
	id, _ := strings.CutPrefix(op.Entitlement, "campaign:")
	c, err := rt.CampaignTx(id)
	if err != nil {
		return err
	}
	if c == nil || c.State != ledger.CampaignOpen {
		return e.Done(tx, op, nil)
	}
	open, err := rt.OpenItemsOf(c.ID, op.Person)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return e.Done(tx, op, nil)
	}
	data := map[string]any{"campaign_id": c.ID, "system": c.System, "reviewer": op.Person, "items": len(open),
		"ends_at": c.EndsAt.Format(time.RFC3339)}
	if op.Kind == KindReviewRemind {
		data["days"] = e.Reminders.RemindAfter
		tx.Audit(ledger.AuditEntry{At: now, Kind: tilgang.EvReviewReminded, Person: op.Person, Actor: Worker, System: c.System, OpID: op.ID,
			Details: map[string]string{"campaign_id": c.ID, "items": fmt.Sprint(len(open))}})
		tx.Emit(ledger.Event{Kind: tilgang.EvReviewReminded, Person: op.Person, At: now, Data: data})
		return e.Done(tx, op, nil)
	}
	var to []string
	if c.Reviewers == policy.ReviewByManager {
		// The reviewer's manager may now decide their open items too, but
		// never an item about themselves.
		p, err := tx.Person(op.Person)
		if err != nil {
			return err
		}
		mm := ""
		if p != nil {
			mm = p.Person.Manager()
		}
		if mm != "" && mm != op.Person {
			for _, it := range open {
				if it.Person == mm || slices.Contains(it.Reviewers, mm) {
					continue
				}
				it.Reviewers = append(it.Reviewers, mm)
				if err := rt.UpdateReviewItem(it); err != nil {
					return err
				}
			}
			to = []string{mm}
		}
	} else if sys, ok := e.Catalogue().System(c.System); ok {
		to = slices.Clone(sys.Administrators)
		if sys.Coordinator != "" && !slices.Contains(to, sys.Coordinator) {
			to = append(to, sys.Coordinator)
		}
	}
	if len(to) == 0 {
		return e.Done(tx, op, nil)
	}
	data["to"], data["days"], data["reviewer_kind"] = to, e.Reminders.EscalateAfter, c.Reviewers
	tx.Audit(ledger.AuditEntry{At: now, Kind: tilgang.EvReviewEscalated, Person: op.Person, Actor: Worker, System: c.System, OpID: op.ID,
		Details: map[string]string{"campaign_id": c.ID, "items": fmt.Sprint(len(open)), "to": strings.Join(to, ",")}})
	tx.Emit(ledger.Event{Kind: tilgang.EvReviewEscalated, Person: op.Person, At: now, Data: data})
	return e.Done(tx, op, nil)
}
