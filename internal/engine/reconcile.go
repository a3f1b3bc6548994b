package engine

import (
	"fmt"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
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
