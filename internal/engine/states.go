package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// The grant state machine. Every change of a grant's state goes through
// move, which refuses one that the state table (transitions, DESIGN.md
// "Grants, requests and their states") does not allow for its cause.

// by is what moves a grant: the "by" column of DESIGN.md's table.
type by string

const (
	byRequest  by = "an accepted grant request, by policy"
	byRefusal  by = "a request the policy refuses"
	byApproval by = "an approve decision by the stage's principal"
	byDenial   by = "a deny decision by the stage's principal"
	byTraining by = "a training confirmation by an administrator of the system"
	byExecutor by = "the executor"
	byEnd      by = "a revoke request, a leaver, an expiry, a mover the role no longer allows"
	byCancel   by = "a revoke or leaver, or an operator cancel"
	byRetry    by = "an operator retry"
	byRecheck  by = "the policy, decided again before training or provisioning, refusing"
	byAttach   by = "a request attached by the stage's principal, who then may not approve it"
)

// transition is one allowed change of a grant's state; from "" is a grant
// that does not exist yet.
type transition struct {
	from, to tilgang.GrantState
	by       by
}

const (
	none            tilgang.GrantState = ""
	pendingApproval                    = tilgang.StatePendingApproval
	pendingTraining                    = tilgang.StatePendingTraining
	provisioning                       = tilgang.StateProvisioning
	active                             = tilgang.StateActive
	failed                             = tilgang.StateFailed
	revoking                           = tilgang.StateRevoking
	revokeFailed                       = tilgang.StateRevokeFailed
	denied                             = tilgang.StateDenied
	revoked                            = tilgang.StateRevoked
	cancelled                          = tilgang.StateCancelled
	expired                            = tilgang.StateExpired
)

// transitions is the state table: DESIGN.md's rows, then what they leave
// implicit.
var transitions = []transition{
	{none, pendingApproval, byRequest},
	{none, pendingTraining, byRequest},
	{none, provisioning, byRequest},
	{none, denied, byRefusal},
	{pendingApproval, pendingApproval, byApproval}, // the next stage
	{pendingApproval, pendingTraining, byApproval},
	{pendingApproval, provisioning, byApproval},
	{pendingApproval, denied, byDenial},
	{pendingTraining, provisioning, byTraining},
	{provisioning, active, byExecutor}, // then revoking, when a revoke or leaver came while in flight
	{provisioning, failed, byExecutor},
	{active, revoking, byEnd},
	{revoking, revoked, byExecutor},
	{revoking, expired, byExecutor},
	{revoking, revokeFailed, byExecutor},
	{pendingApproval, cancelled, byCancel},
	{pendingTraining, cancelled, byCancel},
	{provisioning, cancelled, byCancel}, // not yet started
	{failed, provisioning, byRetry},
	{revokeFailed, revoking, byRetry},

	// The policy decides a grant again after its last approval and after
	// its training (see recheck): a refusal then denies it.
	{pendingApproval, denied, byRecheck},
	{pendingTraining, denied, byRecheck},
	// A failed grant may hold part of its entitlements: a revoke, leaver,
	// expiry or mover revokes it as it does a live one.
	{failed, revoking, byEnd},
	// Provisioning none of whose work is unfinished any more (cut short)
	// is revoked at once rather than waited for.
	{provisioning, revoking, byEnd},
	// A principal whose request is attached counts as a requester: a
	// manager stage that was theirs goes up the line.
	{pendingApproval, pendingApproval, byAttach},
}

var allowed = func() map[transition]bool {
	m := make(map[transition]bool, len(transitions))
	for _, t := range transitions {
		m[t] = true
	}
	return m
}()

// why says who moved a grant and why, for its audit row.
type why struct {
	actor, via, requestID, text string
	details                     map[string]string
}

// move moves g to state to for cause b, writes it and its audit row; insert
// is for a new grant. A change the state table does not allow is refused
// with an Internal error, and nothing is written.
func (e *Engine) move(tx ledger.Tx, now time.Time, g *ledger.Grant, to tilgang.GrantState, b by, w why, insert bool) error {
	from := g.State
	if insert {
		from = none // a new grant comes from nothing
	}
	if !allowed[transition{from, to, b}] {
		shown := string(from)
		if from == none {
			shown = "(none)"
		}
		return tilgang.Errorf(tilgang.Internal, "engine: grant %s may not move from %s to %s by %s: the state table has no such transition", g.ID, shown, to, b)
	}
	g.State, g.Updated = to, now
	cat := e.Catalogue()
	g.Catalogue = cat.Version
	fileHash := ""
	if s, ok := cat.System(g.System); ok {
		fileHash = s.FileHash
	}
	var err error
	if insert {
		g.Created = now
		err = tx.InsertGrant(*g)
	} else {
		err = tx.UpdateGrant(*g)
	}
	if err != nil {
		return err
	}
	actor := w.actor
	if actor == "" {
		actor = Worker
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: g.Person, Actor: actor, Via: w.via, System: g.System, Role: g.Role,
		GrantID: g.ID, RequestID: w.requestID, From: string(from), To: string(to), Catalogue: cat.Version, FileHash: fileHash,
		Text: w.text, Details: ledger.GrantDetails(*g, w.details)})
	return nil
}

func grantEvent(g *ledger.Grant, requestID string, extra map[string]any) map[string]any {
	d := map[string]any{"grant_id": g.ID, "system": g.System, "role": g.Role, "state": string(g.State)}
	if requestID != "" {
		d["request_id"] = requestID
	} else if g.RequestID != "" {
		d["request_id"] = g.RequestID
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (e *Engine) emit(tx ledger.Tx, now time.Time, kind string, g *ledger.Grant, requestID string, extra map[string]any) {
	tx.Emit(ledger.Event{Kind: kind, Person: g.Person, At: now, Data: grantEvent(g, requestID, extra)})
}

// provision moves g to provisioning for cause b and plans its operations
// (planner.provision); with none to plan it is settled at once. insert is
// for a new grant.
func (e *Engine) provision(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, person *ledger.PersonRow, role *policy.Role, b by, w why, insert bool) error {
	g.Entitlements = cloneEntitlements(role.Entitlements)
	g.StagePrincipal = ""
	if err := e.move(tx, now, g, provisioning, b, w, insert); err != nil {
		return err
	}
	n, err := planAt(tx, now, seq).provision(g, person)
	if err != nil {
		return err
	}
	if n == 0 {
		return e.settle(tx, now, seq, g.ID)
	}
	return nil
}

// endGrant ends an open grant for cause (revoke, leaver, operator, expiry,
// mover): waiting grants are cancelled, provisioning that has not started
// is cancelled, provisioning in flight finishes and is then revoked, live
// and failed grants are revoked.
func (e *Engine) endGrant(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, cause string, w why) error {
	ops, err := tx.OperationsOf(g.ID)
	if err != nil {
		return err
	}
	switch g.State {
	case tilgang.StatePendingApproval, tilgang.StatePendingTraining:
		return e.cancelGrant(tx, now, seq, g, ops, w)
	case tilgang.StateProvisioning:
		if cancellable(g, ops) {
			return e.cancelGrant(tx, now, seq, g, ops, w)
		}
		inFlight := false
		for _, op := range ops {
			inFlight = inFlight || (isWork(op) && (op.State == ledger.OpQueued || op.State == ledger.OpClaimed || op.State == ledger.OpWaiting))
		}
		if inFlight {
			g.RevokeAfter, g.RevokeCause = true, cause
			g.Updated = now
			return tx.UpdateGrant(*g)
		}
		g.RevokeCause = cause
		return e.startRevoke(tx, now, seq, g, w)
	case tilgang.StateActive, tilgang.StateFailed:
		g.RevokeCause = cause
		return e.startRevoke(tx, now, seq, g, w)
	}
	return nil // revoking or revoke_failed: already on its way out
}

// cancelGrant cancels g, waiting or not started, with its queued work.
func (e *Engine) cancelGrant(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, ops []ledger.Operation, w why) error {
	pl := planAt(tx, now, seq)
	if err := pl.withdraw(g, ops); err != nil {
		return err
	}
	if err := e.move(tx, now, g, cancelled, byCancel, w, false); err != nil {
		return err
	}
	e.emit(tx, now, tilgang.EvGrantCancelled, g, "", map[string]any{"reason": w.text})
	// A grant that was live counted as needing its entitlements, so a grant
	// revoked meanwhile left the shared ones in place for it: nobody may
	// need them now (DESIGN.md invariant 4).
	_, err := pl.revokes(g)
	return err
}

// cancellable: waiting for a person, or provisioning that has not started
// (an operation cancelled before its first attempt never happened: see
// handOver).
func cancellable(g *ledger.Grant, ops []ledger.Operation) bool {
	switch g.State {
	case tilgang.StatePendingApproval, tilgang.StatePendingTraining:
		return true
	case tilgang.StateProvisioning:
		for _, op := range ops {
			if op.State == ledger.OpCancelled && op.Attempts == 0 {
				continue
			}
			if isWork(op) && (op.State != ledger.OpQueued || op.Attempts > 0) {
				return false
			}
		}
		return true
	}
	return false
}

// startRevoke moves g to revoking and plans its revokes; with none to plan
// it is revoked at once.
func (e *Engine) startRevoke(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, w why) error {
	g.RevokeAfter = false
	if err := e.cancelExpiry(tx, now, g); err != nil {
		return err
	}
	if err := e.move(tx, now, g, revoking, byEnd, w, false); err != nil {
		return err
	}
	n, err := planAt(tx, now, seq).revokes(g)
	if err != nil {
		return err
	}
	if n == 0 {
		return e.settle(tx, now, seq, g.ID)
	}
	return nil
}

// settle moves a grant on once none of its operations is unfinished.
func (e *Engine) settle(tx ledger.Tx, now time.Time, seq uint64, grantID string) error {
	if grantID == "" {
		return nil
	}
	g, err := tx.Grant(grantID)
	if err != nil || g == nil {
		return err
	}
	ops, err := tx.OperationsOf(grantID)
	if err != nil {
		return err
	}
	var failedProv, failedRevoke *ledger.Operation
	for i, op := range ops {
		if !isWork(op) {
			continue
		}
		switch op.State {
		case ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting:
			return nil
		case ledger.OpFailed:
			if op.Kind == ledger.KindRevoke {
				failedRevoke = &ops[i]
			} else {
				failedProv = &ops[i]
			}
		}
	}
	w := why{}
	switch g.State {
	case tilgang.StateProvisioning:
		if failedProv != nil {
			w.text = fmt.Sprintf("operation %d (%s on %s) failed: %s", failedProv.ID, failedProv.Kind, failedProv.Connector, failedProv.LastError)
			if err := e.move(tx, now, g, failed, byExecutor, w, false); err != nil {
				return err
			}
			e.emit(tx, now, tilgang.EvGrantFailed, g, "", map[string]any{"reason": w.text, "operation_id": fmt.Sprint(failedProv.ID)})
		} else {
			w = e.activeUntil(now, g)
			if err := e.move(tx, now, g, active, byExecutor, w, false); err != nil {
				return err
			}
			var extra map[string]any
			if !g.ValidUntil.IsZero() {
				extra = map[string]any{"valid_until": g.ValidUntil.String()}
			}
			e.emit(tx, now, tilgang.EvGrantActive, g, "", extra)
			if err := e.scheduleExpiry(tx, now, seq, g); err != nil {
				return err
			}
		}
		if g.RevokeAfter {
			return e.startRevoke(tx, now, seq, g, why{text: "revoke requested while provisioning (" + g.RevokeCause + ")"})
		}
	case tilgang.StateRevoking:
		if failedRevoke != nil {
			w.text = fmt.Sprintf("operation %d (revoke %s on %s) failed: %s; access may remain", failedRevoke.ID, failedRevoke.Entitlement, failedRevoke.Connector, failedRevoke.LastError)
			if err := e.move(tx, now, g, revokeFailed, byExecutor, w, false); err != nil {
				return err
			}
			e.emit(tx, now, tilgang.EvGrantRevokeFail, g, "", map[string]any{"reason": w.text, "operation_id": fmt.Sprint(failedRevoke.ID)})
			return nil
		}
		to, kind := tilgang.StateRevoked, tilgang.EvGrantRevoked
		if g.RevokeCause == "expiry" {
			to, kind = tilgang.StateExpired, tilgang.EvGrantExpired
		}
		if err := e.move(tx, now, g, to, byExecutor, w, false); err != nil {
			return err
		}
		e.emit(tx, now, kind, g, "", map[string]any{"cause": g.RevokeCause})
	}
	return nil
}
