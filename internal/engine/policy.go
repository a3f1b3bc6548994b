package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// Birthright is the requester recorded on a grant that a birthright rule
// asked for (the audit names the HR principal whose record caused it as the
// actor). Only such grants are withdrawn when the person stops matching.
const Birthright = "birthright"

// held lists the person's open grants for policy.Decide, without except.
func (e *Engine) held(tx ledger.Tx, person, except string) ([]policy.Held, error) {
	gs, err := tx.GrantsOf(person)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Held, 0, len(gs))
	for _, g := range gs {
		if g.ID != except && !g.State.Final() {
			out = append(out, policy.Held{GrantID: g.ID, System: g.System, Role: g.Role, State: g.State})
		}
	}
	return out, nil
}

// decisionDetails is what the audit keeps of a decision besides its reason.
func decisionDetails(d policy.Decision, birthright string) map[string]string {
	out := map[string]string{}
	if d.Rule != "" {
		out["rule"] = d.Rule
	}
	if !d.End.IsZero() {
		out["planned_end"] = d.End.String()
	}
	if d.Shortened {
		out["shortened"] = fmt.Sprintf("requested %s, max_duration gives %s", d.Requested, d.End)
	}
	for i, c := range d.Conflicts {
		out[fmt.Sprintf("conflict_%d", i+1)] = c.With + " " + c.GrantID
	}
	if birthright != "" {
		out["birthright"] = birthright
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func denyData(reason string, d policy.Decision) map[string]any {
	out := map[string]any{"reason": reason}
	if d.Rule != "" {
		out["rule"] = d.Rule
	}
	if len(d.Conflicts) > 0 {
		out["conflicts"] = d.Conflicts
	}
	return out
}

// recheck decides g again just before it is provisioned (or sent to
// training): the person may have moved, or a conflicting grant opened,
// since the request. A refusal denies the grant, by the worker, with the
// policy's reason; it reports whether it did.
func (e *Engine) recheck(tx ledger.Tx, now time.Time, cat *policy.Catalogue, g *ledger.Grant, person *ledger.PersonRow, w why) (bool, error) {
	held, err := e.held(tx, g.Person, g.ID)
	if err != nil {
		return false, err
	}
	view := person.Person.At(now)
	dec := policy.Decide(cat, &view, policy.Request{System: g.System, Role: g.Role, Actor: g.Requester,
		ValidUntil: g.ValidUntil, Birthright: g.Requester == Birthright, When: policy.AtProvisioning, Now: now}, held)
	if dec.Allowed {
		return false, nil
	}
	reason := "denied before provisioning: " + dec.Reason
	g.StagePrincipal = ""
	if err := e.move(tx, now, g, tilgang.StateDenied, byRecheck, why{actor: Worker, requestID: w.requestID, text: reason,
		details: decisionDetails(dec, "")}, false); err != nil {
		return false, err
	}
	e.emit(tx, now, tilgang.EvGrantDenied, g, "", denyData(reason, dec))
	return true, nil
}
