package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ror-ikt/tilgang"

	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// hrPolicy applies the policy to a person whose HR record has just been
// stored (row), in the same transaction:
//   - mover re-evaluation (when there was a record before): a grant that a
//     birthright rule asked for and that no rule gives any more is
//     withdrawn, and a live grant (provisioning, active) the person is no
//     longer eligible for is revoked; both with cause mover;
//   - birthright: every role a rule gives the person now and did not give
//     the previous record (or there was none, or the person had left) is
//     asked for, as the HR principal, through the same path as any grant
//     request (decision, approval stages, training, provisioning), unless
//     an open grant of it exists. Only the start of a match asks, so a
//     birthright grant someone revoked is not asked for again on the next
//     HR change; it comes back when the person stops and starts matching.
//
// A person who has left (or whose leave is due) gets neither: the leave
// ends everything.
func (e *Engine) hrPolicy(tx ledger.Tx, m *msg, old, row *ledger.PersonRow) error {
	if hasLeft(row, m.now) {
		return nil
	}
	var before *tilgang.Person
	if old != nil && !old.Left {
		v := old.Person.At(m.now)
		before = &v
	}
	return e.applyPolicy(tx, m, old != nil, before, row.Person.At(m.now))
}

// applyPolicy is hrPolicy for the record in effect now (cur), given the
// one in effect before (nil when there was none or the person had left);
// mover says whether the person had a record before.
func (e *Engine) applyPolicy(tx ledger.Tx, m *msg, mover bool, before *tilgang.Person, cur tilgang.Person) error {
	gives, err := policy.BirthrightRoles(m.cat, &cur)
	if err != nil {
		tx.Audit(ledger.AuditEntry{At: m.now, Kind: "policy.error", Person: cur.ID, Actor: Worker, RequestID: m.key,
			Catalogue: m.cat.Version, Text: "birthright: " + err.Error()})
	}
	var gave map[string]string
	if before != nil {
		gave, _ = policy.BirthrightRoles(m.cat, before)
	}
	if mover {
		if err := e.reevaluate(tx, m, &cur, gives); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(gives))
	for k := range gives {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, before := gave[k]; before {
			continue
		}
		system, role, _ := strings.Cut(k, "/")
		open, err := tx.OpenGrant(cur.ID, system, role)
		if err != nil {
			return err
		}
		if open != nil {
			continue
		}
		if err := e.birthrightRequest(tx, m, system, role, gives[k]); err != nil {
			return err
		}
	}
	return nil
}

// birthrightRequest asks for system/role on behalf of a birthright rule, as
// the HR principal of m, with a request id derived from m's and the role.
func (e *Engine) birthrightRequest(tx ledger.Tx, m *msg, system, role, rule string) error {
	p := &envelope.Request{Action: envelope.ActionGrant, System: system, Role: role, Reason: "birthright (" + rule + ")"}
	env := *m.env
	env.Payload = p
	m2 := &msg{in: m.in, env: &env, key: sha([]byte("birthright\n" + m.key + "\n" + system + "/" + role)), now: m.now, cat: m.cat,
		birthright: rule}
	_, err := e.grantRequest(tx, m2, p)
	return err
}

// reevaluate withdraws what the new record no longer allows.
func (e *Engine) reevaluate(tx ledger.Tx, m *msg, cur *tilgang.Person, gives map[string]string) error {
	grants, err := tx.GrantsOf(cur.ID)
	if err != nil {
		return err
	}
	for i := range grants {
		g := &grants[i]
		if g.State.Final() {
			continue
		}
		w := why{actor: m.env.Actor, via: m.env.Via, requestID: m.key}
		if _, still := gives[g.System+"/"+g.Role]; g.Requester == Birthright && !still {
			w.text = fmt.Sprintf("birthright no longer applies to %s for %s/%s", cur.ID, g.System, g.Role)
			w.details = map[string]string{"cause": "mover", "rule": "birthright"}
			if err := e.endGrant(tx, m.now, m.in.Seq, g, "mover", w); err != nil {
				return err
			}
			continue
		}
		if !g.State.Live() || g.RevokeAfter {
			continue // waiting grants are decided again before provisioning
		}
		held, err := e.held(tx, g.Person, g.ID)
		if err != nil {
			return err
		}
		dec := policy.Decide(m.cat, cur, policy.Request{System: g.System, Role: g.Role, Actor: g.Requester,
			ValidUntil: g.ValidUntil, Birthright: g.Requester == Birthright, When: policy.AtProvisioning, Now: m.now}, held)
		if dec.Allowed || dec.Rule != policy.RuleEligible {
			continue
		}
		w.text = "mover: " + dec.Reason
		w.details = map[string]string{"cause": "mover", "rule": dec.Rule}
		if err := e.endGrant(tx, m.now, m.in.Seq, g, "mover", w); err != nil {
			return err
		}
	}
	return nil
}
