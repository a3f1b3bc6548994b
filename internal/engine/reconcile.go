package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// ReconcileActor is the actor the chain records for reconciliation's fixes.
const ReconcileActor = "reconcile"

// ReconcileFix is one fix a reconciliation run asks for: an ordinary
// operation (ledger.Kind*) for the person on the connector instance, with
// the finding as its reason.
type ReconcileFix struct {
	Person      string
	Connector   string
	Kind        string // ensure_account | enable | disable | grant | revoke
	Entitlement string // grant and revoke
	Reason      string
	// Target, when set, is the account at the target as the read found it
	// (an account the ledger has no row for: an extra member, an orphan).
	Target connectors.Ref
}

// ReconcileFixes plans fixes into the outbox in tx, each through the
// planner at the end of its person's chain on the instance, chained as
// planned by ReconcileActor with the fix's reason as text, so the executor
// runs them like any other work and `audit` shows them. It returns the ids
// planned, by fix index, and why the others were not: a fix for a person
// who has left (or whose leave is due) is dropped unless it takes access
// away, since the leaver's work decides what such a person keeps; a fix for
// someone HR does not know too (the executor needs the record).
func (e *Engine) ReconcileFixes(tx ledger.Tx, fixes []ReconcileFix) (map[int]int64, map[int]string, error) {
	now := e.Now().UTC()
	planned, skipped := map[int]int64{}, map[int]string{}
	persons := make([]string, 0, len(fixes))
	for _, f := range fixes {
		persons = append(persons, f.Person)
	}
	if err := ledger.Preload(tx, persons, nil); err != nil {
		return nil, nil, err
	}
	for i, f := range fixes {
		switch f.Kind {
		case ledger.KindEnsureAccount, ledger.KindEnable, ledger.KindDisable, ledger.KindGrant, ledger.KindRevoke:
		default:
			return nil, nil, tilgang.Errorf(tilgang.Invalid, "reconcile: fix kind %q is not an operation reconciliation plans", f.Kind)
		}
		if (f.Kind == ledger.KindGrant || f.Kind == ledger.KindRevoke) != (f.Entitlement != "") {
			return nil, nil, tilgang.Errorf(tilgang.Invalid, "reconcile: a %s fix for %s names entitlement %q", f.Kind, f.Person, f.Entitlement)
		}
		removes := f.Kind == ledger.KindDisable || f.Kind == ledger.KindRevoke
		p, err := tx.Person(f.Person)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case p == nil:
			skipped[i] = "HR does not know the person: reported only"
			continue
		case p != nil && !removes && (p.Left || (p.LeaveOp != 0 && !p.LeaveAt.After(now))):
			skipped[i] = "the person has left: the leaver's work wins"
			continue
		}
		pl := planAt(tx, now, 0)
		pl.actor, pl.text = ReconcileActor, f.Reason
		id, err := pl.queue(ledger.Operation{Person: f.Person, Connector: f.Connector, Kind: f.Kind, Entitlement: f.Entitlement,
			Target: f.Target})
		if err != nil {
			return nil, nil, fmt.Errorf("reconcile: plan %s for %s on %s: %w", f.Kind, f.Person, f.Connector, err)
		}
		planned[i] = id
	}
	return planned, skipped, nil
}

// withStages is role as g's approval sees it. A grant reconciliation asked
// for (reconcile.extra: review) legitimises access someone gave by hand, so
// it waits for the system's administrators: their stage is added at the end
// when the role has none. The requester is stored with the grant, so every
// replica and every later decision sees the same stages.
func withStages(g *ledger.Grant, role *policy.Role) *policy.Role {
	if g.Requester != ReconcileActor || slices.Contains(role.Approval, policy.StageSystemansvarlig) {
		return role
	}
	r := *role
	r.Approval = append(slices.Clone(role.Approval), policy.StageSystemansvarlig)
	return &r
}

// ReconcileReview asks, in tx, for the role of system that gives a member
// the target has and no live grant explains (reconcile.extra: review): a
// grant request by ReconcileActor for the person, with reason as its
// reason. The request is decided by the policy like any other (eligibility,
// conflicts: separation of duties), except requestable_by, which no
// service meets; it then waits for approval, the systemansvarlig's stage
// always among its stages (withStages). Once approved, provisioning finds
// the member in place and the next run finds nothing.
//
// It returns the grant the request opened or joined, or why nothing was
// asked: HR does not know the person, the person has left, or an earlier
// review request for the same role was denied (it is not asked again; the
// systemansvarlig removes the member or sets reconcile.extra: revoke).
func (e *Engine) ReconcileReview(tx ledger.Tx, person, system, role, reason string) (grantID, skipped string, err error) {
	now := e.Now().UTC()
	p, err := tx.Person(person)
	if err != nil {
		return "", "", err
	}
	switch {
	case p == nil:
		return "", "HR does not know the person: reported only", nil
	case hasLeft(p, now):
		return "", "the person has left: the leaver's work wins", nil
	}
	gs, err := tx.AllGrantsOf(person)
	if err != nil {
		return "", "", err
	}
	for _, g := range gs {
		if g.System == system && g.Role == role && g.Requester == ReconcileActor && g.State == tilgang.StateDenied {
			return "", fmt.Sprintf("review request %s for %s/%s was denied: not asked again", g.ID, system, role), nil
		}
	}
	req := &envelope.Request{Action: envelope.ActionGrant, System: system, Role: role, Reason: reason}
	env := &envelope.Envelope{Type: tilgang.TypeRequest, Subject: person, Actor: ReconcileActor, Payload: req}
	key := sha([]byte("reconcile.review\n" + person + "\n" + system + "/" + role + "\n" + now.Format(time.RFC3339Nano)))
	m := &msg{env: env, key: key, now: now, cat: e.Catalogue(), review: true}
	out, err := e.grantRequest(tx, m, req)
	if err != nil {
		return "", "", fmt.Errorf("reconcile: review request for %s on %s/%s: %w", person, system, role, err)
	}
	r, err := tx.Request(key)
	if err != nil {
		return "", "", err
	}
	switch {
	case r == nil:
		return "", "", tilgang.Errorf(tilgang.Internal, "reconcile: review request for %s on %s/%s left no record (%s)", person, system, role, out)
	case out != Accepted:
		return r.GrantID, fmt.Sprintf("review request %s: %s", out, r.Why), nil
	}
	return r.GrantID, "", nil
}
