package engine

import (
	"fmt"
	"slices"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

func (e *Engine) grantRequest(tx ledger.Tx, m *msg, p *envelope.Request) (Outcome, error) {
	person, err := tx.Person(m.env.Subject)
	if err != nil {
		return "", err
	}
	if person == nil {
		return e.reject(tx, m, fmt.Sprintf("unknown person %s: no HR record has been received", m.env.Subject))
	}
	sys, role, ok := m.cat.Role(p.System, p.Role)
	if !ok {
		if _, known := m.cat.System(p.System); !known {
			return e.reject(tx, m, fmt.Sprintf("unknown system %q", p.System))
		}
		return e.reject(tx, m, fmt.Sprintf("system %s has no role %q", p.System, p.Role))
	}
	deny := ""
	var dec policy.Decision
	open, err := tx.OpenGrant(person.Person.ID, p.System, p.Role)
	if err != nil {
		return "", err
	}
	if hasLeft(person, m.now) {
		deny = fmt.Sprintf("%s has left (%s)", person.Person.ID, person.LeaveAt.In(tilgang.Oslo).Format("2006-01-02 15:04"))
	} else {
		held, err := e.held(tx, person.Person.ID, "")
		if err != nil {
			return "", err
		}
		if open != nil {
			// Attaching to the open grant: it is not a conflict with itself.
			held = slices.DeleteFunc(held, func(h policy.Held) bool { return h.GrantID == open.ID })
		}
		view := person.Person.At(m.now)
		dec = policy.Decide(m.cat, &view, policy.Request{System: p.System, Role: p.Role, Actor: m.env.Actor,
			Relations: e.relations(m.env.Actor, person, sys), Reason: p.Reason, ValidUntil: p.ValidUntil,
			Birthright: m.birthright != "" || m.review, When: policy.AtRequest, Now: m.now}, held)
		deny = dec.Reason
	}
	if open != nil && deny == "" {
		role := withStages(open, role)
		// At most one open grant per (person, system, role): attach.
		if err := e.recordRequest(tx, m, "attached", "", open.ID, p); err != nil {
			return "", err
		}
		tx.Audit(ledger.AuditEntry{At: m.now, Kind: "request.attached", Person: person.Person.ID, Actor: m.env.Actor, Via: m.env.Via,
			System: p.System, Role: p.Role, GrantID: open.ID, RequestID: m.key, Text: p.Reason})
		e.emit(tx, m.now, tilgang.EvRequestAccepted, open, m.key, map[string]any{"attached": true})
		// The actor now counts as a requester: a manager stage that was
		// theirs goes up the line.
		if open.State == tilgang.StatePendingApproval && open.Stage < len(role.Approval) {
			before := open.StagePrincipal
			if err := e.resolveStage(tx, open, sys, role); err != nil {
				return "", err
			}
			if open.StagePrincipal != before {
				w := why{actor: m.env.Actor, via: m.env.Via, requestID: m.key,
					text:    fmt.Sprintf("%s asked for the grant too and may not approve it", m.env.Actor),
					details: map[string]string{"stage": fmt.Sprint(open.Stage + 1)}}
				if err := e.move(tx, m.now, open, tilgang.StatePendingApproval, byAttach, w, false); err != nil {
					return "", err
				}
				if err := e.emitApproval(tx, m, open, sys, role); err != nil {
					return "", err
				}
			}
		}
		return Accepted, nil
	}
	g := &ledger.Grant{ID: newID("g-"), Person: person.Person.ID, System: p.System, Role: p.Role, RequestID: m.key,
		Requester: m.env.Actor, ValidUntil: p.ValidUntil, Entitlements: map[string][]string{}}
	if m.birthright != "" {
		g.Requester = Birthright
	}
	role = withStages(g, role)
	w := why{actor: m.env.Actor, via: m.env.Via, requestID: m.key, text: p.Reason, details: decisionDetails(dec, m.birthright)}
	if deny != "" {
		if err := e.recordRequest(tx, m, "denied", deny, g.ID, p); err != nil {
			return "", err
		}
		w.text = deny
		if err := e.move(tx, m.now, g, tilgang.StateDenied, byRefusal, w, true); err != nil {
			return "", err
		}
		e.emit(tx, m.now, tilgang.EvGrantDenied, g, m.key, denyData(deny, dec))
		return DeniedOut, nil
	}
	if err := e.recordRequest(tx, m, "accepted", "", g.ID, p); err != nil {
		return "", err
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "request.accepted", Person: g.Person, Actor: m.env.Actor, Via: m.env.Via,
		System: g.System, Role: g.Role, GrantID: g.ID, RequestID: m.key, Text: p.Reason, Details: decisionDetails(dec, m.birthright)})
	if len(role.Approval) > 0 {
		g.Stage = 0
		if err := e.resolveStage(tx, g, sys, role); err != nil {
			return "", err
		}
		if err := e.move(tx, m.now, g, tilgang.StatePendingApproval, byRequest, w, true); err != nil {
			return "", err
		}
		e.emit(tx, m.now, tilgang.EvRequestAccepted, g, m.key, nil)
		if err := e.emitApproval(tx, m, g, sys, role); err != nil {
			return "", err
		}
		return Accepted, nil
	}
	// No approval stages: the grant starts where approval would have led,
	// one chained transition from nothing (DESIGN.md transition table).
	g.State = tilgang.StateProvisioning
	if role.RequiresTraining {
		g.State = tilgang.StatePendingTraining
	}
	e.emit(tx, m.now, tilgang.EvRequestAccepted, g, m.key, nil)
	return Accepted, e.afterApproval(tx, m, g, role, byRequest, w, true)
}

// resolveStage names who approves g's current stage: for a manager stage the
// person's manager, one level up (and on) while that is the requester, the
// person or an earlier approver; for systemansvarlig any administrator ("").
func (e *Engine) resolveStage(tx ledger.Tx, g *ledger.Grant, sys *policy.System, role *policy.Role) error {
	g.StagePrincipal = ""
	if role.Approval[g.Stage] != policy.StageManager {
		return nil
	}
	p, err := tx.Person(g.Person)
	if err != nil || p == nil {
		return err
	}
	requesters, err := e.requesters(tx, g)
	if err != nil {
		return err
	}
	now := e.Now()
	m := managerAt(p, now)
	seen := map[string]bool{}
	for i := 0; m != "" && i < 16 && !seen[m]; i++ {
		seen[m] = true
		if !slices.Contains(requesters, m) && m != g.Person && !slices.Contains(g.Approvers, m) {
			g.StagePrincipal = m
			return nil
		}
		mp, err := tx.Person(m)
		if err != nil {
			return err
		}
		if mp == nil {
			break
		}
		m = managerAt(mp, now)
	}
	// Nobody suitable up the line: the system's administrators decide.
	return nil
}

// requesters are g's requester and the actors whose requests are attached
// to it: each of them counts as a requester (DESIGN.md "Grants, requests
// and their states").
func (e *Engine) requesters(tx ledger.Tx, g *ledger.Grant) ([]string, error) {
	out := []string{g.Requester}
	rs, err := tx.GrantRequests(g.Person, g.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Outcome == "attached" && !slices.Contains(out, r.Actor) {
			out = append(out, r.Actor)
		}
	}
	return out, nil
}

func (e *Engine) emitApproval(tx ledger.Tx, m *msg, g *ledger.Grant, sys *policy.System, role *policy.Role) error {
	approvers := []string{g.StagePrincipal}
	if g.StagePrincipal == "" {
		approvers = nil
		for _, a := range sys.Administrators {
			if a != g.Requester && a != g.Person && !slices.Contains(g.Approvers, a) {
				approvers = append(approvers, a)
			}
		}
	}
	e.emit(tx, m.now, tilgang.EvApprovalPending, g, "", map[string]any{
		"stage": g.Stage + 1, "stages": len(role.Approval), "stage_kind": role.Approval[g.Stage], "approvers": approvers})
	return e.scheduleApprovalReminders(tx, m.now, m.in.Seq, g)
}

// afterApproval moves a grant past its last approval (b: byApproval), or a
// new grant without approval stages (byRequest, insert): to training, or to
// provisioning, or cancelled when the person has left meanwhile.
func (e *Engine) afterApproval(tx ledger.Tx, m *msg, g *ledger.Grant, role *policy.Role, b by, w why, insert bool) error {
	person, err := tx.Person(g.Person)
	if err != nil {
		return err
	}
	if person == nil || hasLeft(person, m.now) {
		w.text = "the person has left"
		if err := e.move(tx, m.now, g, tilgang.StateCancelled, byCancel, w, insert); err != nil {
			return err
		}
		e.emit(tx, m.now, tilgang.EvGrantCancelled, g, "", map[string]any{"reason": w.text})
		return nil
	}
	if !insert { // a new grant was decided a moment ago, in this transaction
		if denied, err := e.recheck(tx, m.now, m.cat, g, person, w); err != nil || denied {
			return err
		}
	}
	if role.RequiresTraining {
		if err := e.move(tx, m.now, g, tilgang.StatePendingTraining, b, w, insert); err != nil {
			return err
		}
		sys, _ := m.cat.System(g.System)
		var admins []string
		if sys != nil {
			admins = sys.Administrators
		}
		e.emit(tx, m.now, tilgang.EvTrainingPending, g, "", map[string]any{"administrators": admins})
		return nil
	}
	return e.provision(tx, m.now, m.in.Seq, g, person, role, b, w, insert)
}

func (e *Engine) decision(tx ledger.Tx, m *msg, d *envelope.Decision) (Outcome, error) {
	req, err := tx.Request(d.RequestID)
	if err != nil {
		return "", err
	}
	if req == nil || req.Action != "grant" || req.GrantID == "" {
		return e.reject(tx, m, fmt.Sprintf("no grant request %s", d.RequestID))
	}
	if req.Person != m.env.Subject {
		return e.reject(tx, m, fmt.Sprintf("request %s is for %s, not %s", d.RequestID, req.Person, m.env.Subject))
	}
	g, err := tx.Grant(req.GrantID)
	if err != nil {
		return "", err
	}
	if g == nil || g.State != tilgang.StatePendingApproval {
		state := "missing"
		if g != nil {
			state = string(g.State)
		}
		return e.reject(tx, m, fmt.Sprintf("grant %s is %s, not waiting for approval", req.GrantID, state))
	}
	sys, role, ok := m.cat.Role(g.System, g.Role)
	if ok {
		role = withStages(g, role)
	}
	if !ok || g.Stage >= len(role.Approval) {
		return e.reject(tx, m, fmt.Sprintf("%s/%s is no longer in the catalogue", g.System, g.Role))
	}
	actor := m.env.Actor
	requesters, err := e.requesters(tx, g)
	if err != nil {
		return "", err
	}
	// A manager stage that was escalated may be decided by the manager's
	// manager as well (reminders.go).
	var escalated string
	if g.StagePrincipal != "" && actor != g.StagePrincipal {
		if escalated, err = e.escalatedTo(tx, g); err != nil {
			return "", err
		}
	}
	switch {
	case actor == g.Person:
		return e.reject(tx, m, fmt.Sprintf("%s may not decide their own grant", actor))
	case slices.Contains(requesters, actor):
		return e.reject(tx, m, fmt.Sprintf("%s requested grant %s and may not decide it", actor, g.ID))
	case slices.Contains(g.Approvers, actor):
		return e.reject(tx, m, fmt.Sprintf("%s already approved a stage of grant %s; one principal approves one stage", actor, g.ID))
	case g.StagePrincipal != "" && actor != g.StagePrincipal && (escalated == "" || actor != escalated):
		return e.reject(tx, m, fmt.Sprintf("stage %d (%s) of grant %s is %s's to decide, not %s", g.Stage+1, role.Approval[g.Stage], g.ID, g.StagePrincipal, actor))
	case g.StagePrincipal == "" && !sys.IsAdministrator(actor):
		return e.reject(tx, m, fmt.Sprintf("stage %d (%s) of grant %s is for an administrator of %s; %s is not one", g.Stage+1, role.Approval[g.Stage], g.ID, g.System, actor))
	}
	if err := e.recordRequest(tx, m, "accepted", "", g.ID, nil); err != nil {
		return "", err
	}
	w := why{actor: actor, via: m.env.Via, requestID: m.key, text: d.Comment,
		details: map[string]string{"decision": d.Decision, "stage": fmt.Sprint(g.Stage + 1), "decides": d.RequestID}}
	if d.Decision == "deny" {
		if err := e.move(tx, m.now, g, tilgang.StateDenied, byDenial, w, false); err != nil {
			return "", err
		}
		e.emit(tx, m.now, tilgang.EvGrantDenied, g, "", map[string]any{"reason": d.Comment, "by": actor})
		return Accepted, nil
	}
	g.Approvers = append(g.Approvers, actor)
	g.Stage++
	if g.Stage < len(role.Approval) {
		if err := e.resolveStage(tx, g, sys, role); err != nil {
			return "", err
		}
		if err := e.move(tx, m.now, g, tilgang.StatePendingApproval, byApproval, w, false); err != nil {
			return "", err
		}
		if err := e.emitApproval(tx, m, g, sys, role); err != nil {
			return "", err
		}
		return Accepted, nil
	}
	g.StagePrincipal = ""
	return Accepted, e.afterApproval(tx, m, g, role, byApproval, w, false)
}

func (e *Engine) training(tx ledger.Tx, m *msg, t *envelope.Training) (Outcome, error) {
	sys, role, ok := m.cat.Role(t.System, t.Role)
	if !ok {
		return e.reject(tx, m, fmt.Sprintf("unknown system or role %s/%s", t.System, t.Role))
	}
	if !sys.IsAdministrator(m.env.Actor) {
		return e.reject(tx, m, fmt.Sprintf("%s is not an administrator of %s and may not confirm training", m.env.Actor, t.System))
	}
	g, err := tx.OpenGrant(m.env.Subject, t.System, t.Role)
	if err != nil {
		return "", err
	}
	if g == nil || g.State != tilgang.StatePendingTraining {
		return e.reject(tx, m, fmt.Sprintf("%s has no grant of %s/%s waiting for training", m.env.Subject, t.System, t.Role))
	}
	if m.env.Actor == g.Person {
		return e.reject(tx, m, fmt.Sprintf("%s may not confirm their own training: another administrator of %s must", m.env.Actor, t.System))
	}
	person, err := tx.Person(g.Person)
	if err != nil {
		return "", err
	}
	if err := e.recordRequest(tx, m, "accepted", "", g.ID, nil); err != nil {
		return "", err
	}
	w := why{actor: m.env.Actor, via: m.env.Via, requestID: m.key, text: "training confirmed"}
	if person == nil || hasLeft(person, m.now) {
		w.text = "the person has left"
		if err := e.move(tx, m.now, g, tilgang.StateCancelled, byCancel, w, false); err != nil {
			return "", err
		}
		e.emit(tx, m.now, tilgang.EvGrantCancelled, g, "", map[string]any{"reason": w.text})
		return Accepted, nil
	}
	if denied, err := e.recheck(tx, m.now, m.cat, g, person, w); err != nil || denied {
		return Accepted, err
	}
	return Accepted, e.provision(tx, m.now, m.in.Seq, g, person, role, byTraining, w, false)
}

func (e *Engine) revokeRequest(tx ledger.Tx, m *msg, p *envelope.Request) (Outcome, error) {
	person, err := tx.Person(m.env.Subject)
	if err != nil {
		return "", err
	}
	if person == nil {
		return e.reject(tx, m, fmt.Sprintf("unknown person %s", m.env.Subject))
	}
	sys, _ := m.cat.System(p.System)
	rel := e.relations(m.env.Actor, person, sys)
	if !slices.Contains(rel, policy.ByManager) && !slices.Contains(rel, policy.ByAdministrator) && !slices.Contains(rel, policy.ByHR) {
		return e.reject(tx, m, fmt.Sprintf("%s may not revoke %s's access: only the manager, an administrator of %s or HR may", m.env.Actor, person.Person.ID, p.System))
	}
	g, err := tx.OpenGrant(person.Person.ID, p.System, p.Role)
	if err != nil {
		return "", err
	}
	if g == nil {
		return e.reject(tx, m, fmt.Sprintf("%s has no open grant of %s/%s", person.Person.ID, p.System, p.Role))
	}
	if err := e.recordRequest(tx, m, "accepted", "", g.ID, p); err != nil {
		return "", err
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "request.accepted", Person: g.Person, Actor: m.env.Actor, Via: m.env.Via,
		System: g.System, Role: g.Role, GrantID: g.ID, RequestID: m.key, Text: p.Reason, Details: map[string]string{"action": "revoke"}})
	e.emit(tx, m.now, tilgang.EvRequestAccepted, g, m.key, map[string]any{"action": "revoke"})
	return Accepted, e.endGrant(tx, m.now, m.in.Seq, g, "revoke", why{actor: m.env.Actor, via: m.env.Via, requestID: m.key, text: p.Reason})
}

func (e *Engine) operator(tx ledger.Tx, m *msg, o *envelope.Operator) (Outcome, error) {
	if !e.Principals().Can(m.env.Actor, tilgang.CapOperator) {
		return e.reject(tx, m, fmt.Sprintf("%s is not an operator", m.env.Actor))
	}
	g, err := tx.Grant(o.GrantID)
	if err != nil {
		return "", err
	}
	if g == nil {
		return e.reject(tx, m, fmt.Sprintf("no grant %s", o.GrantID))
	}
	if g.Person != m.env.Subject {
		return e.reject(tx, m, fmt.Sprintf("grant %s is %s's, not %s's", g.ID, g.Person, m.env.Subject))
	}
	w := why{actor: m.env.Actor, via: m.env.Via, requestID: m.key, text: o.Comment}
	retry := m.env.Type == tilgang.TypeRetry
	ops, err := tx.OperationsOf(g.ID)
	if err != nil {
		return "", err
	}
	switch {
	case retry && (g.State == tilgang.StateFailed || g.State == tilgang.StateRevokeFailed):
		revoking := g.State == tilgang.StateRevokeFailed
		person, err := tx.Person(g.Person)
		if err != nil {
			return "", err
		}
		for _, op := range ops {
			if op.State == ledger.OpFailed && (op.Kind == ledger.KindRevoke) == revoking {
				op.State, op.Attempts, op.NextAt, op.DueAt, op.Updated = ledger.OpQueued, 0, m.now, m.now, m.now
				if op.Kind == ledger.KindEnsureAccount && person != nil {
					// Created disabled only while the employment has not
					// started: a retry after the start date has no enable
					// to follow.
					op.Disabled = startOf(person.Person, m.now).After(m.now)
				}
				if err := tx.UpdateOperation(op, 0); err != nil {
					return "", err
				}
			}
		}
		to := tilgang.StateProvisioning
		if revoking {
			to = tilgang.StateRevoking
		}
		if err := e.recordRequest(tx, m, "accepted", "", g.ID, nil); err != nil {
			return "", err
		}
		if err := e.move(tx, m.now, g, to, byRetry, w, false); err != nil {
			return "", err
		}
		return Accepted, e.settle(tx, m.now, m.in.Seq, g.ID)
	case !retry && cancellable(g, ops):
		if err := e.recordRequest(tx, m, "accepted", "", g.ID, nil); err != nil {
			return "", err
		}
		return Accepted, e.cancelGrant(tx, m.now, m.in.Seq, g, ops, w)
	}
	what := "retried (only failed and revoke_failed grants are)"
	if !retry {
		what = "cancelled (only grants waiting for approval or training, or whose provisioning has not started, are)"
	}
	return e.reject(tx, m, fmt.Sprintf("grant %s is %s and cannot be %s", g.ID, g.State, what))
}
