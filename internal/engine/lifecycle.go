package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// provision moves g to provisioning and plans its operations: the account
// on each connector instance the role needs (unless it exists or is being
// made), created disabled with an enable on the start date when the
// employment has not started, then one grant per entitlement. insert is for
// a new grant.
func (e *Engine) provision(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, person *ledger.PersonRow, role *policy.Role, w why, insert bool) error {
	g.Entitlements = cloneEntitlements(role.Entitlements)
	g.StagePrincipal = ""
	if err := e.move(tx, now, g, tilgang.StateProvisioning, w, insert); err != nil {
		return err
	}
	pending, err := tx.PersonOperations(g.Person, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
	if err != nil {
		return err
	}
	start := startOf(person.Person, now)
	notStarted := start.After(now)
	planned := 0
	for _, conn := range sortedKeys(g.Entitlements) {
		acct, err := tx.Account(g.Person, conn)
		if err != nil {
			return err
		}
		ensuring := false
		for _, op := range pending {
			ensuring = ensuring || (op.Connector == conn && op.Kind == ledger.KindEnsureAccount)
		}
		if acct == nil && !ensuring {
			if _, err := tx.InsertOperation(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindEnsureAccount,
				DueAt: now, NextAt: now, Seq: seq, Disabled: notStarted, Created: now, Updated: now}); err != nil {
				return err
			}
			planned++
			if notStarted {
				if _, err := tx.InsertOperation(ledger.Operation{Person: g.Person, Connector: conn, Kind: ledger.KindEnable,
					DueAt: start, NextAt: start, Seq: seq, Created: now, Updated: now}); err != nil {
					return err
				}
			}
		} else if !enabledAfter(acct, pending, conn) {
			// The account was disabled by a leave and the person is back
			// (a rehire): a new grant needs it enabled, on the start date or
			// now, as part of the grant.
			op := ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindEnable,
				DueAt: now, NextAt: now, Seq: seq, Created: now, Updated: now}
			if notStarted {
				op.GrantID, op.DueAt, op.NextAt = "", start, start
			} else {
				planned++
			}
			if _, err := tx.InsertOperation(op); err != nil {
				return err
			}
		}
		for _, ent := range g.Entitlements[conn] {
			if _, err := tx.InsertOperation(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindGrant,
				Entitlement: ent, DueAt: now, NextAt: now, Seq: seq, Created: now, Updated: now}); err != nil {
				return err
			}
			planned++
		}
	}
	if planned == 0 {
		return e.settle(tx, now, seq, g.ID)
	}
	return nil
}

// startOf is 00:00 Oslo on the earliest start of an employment that has
// not ended at now (a rehire's old employments do not count); zero when
// there is none.
func startOf(p tilgang.Person, now time.Time) time.Time {
	var first tilgang.Date
	for _, e := range p.Employments {
		if !e.End.IsZero() && !e.End.End().After(now) {
			continue
		}
		if first.IsZero() || e.Start.Before(first) {
			first = e.Start
		}
	}
	if first.IsZero() {
		return time.Time{}
	}
	return first.Start()
}

// enabledAfter reports whether the person's account on conn is enabled, or
// will be once the pending operations (in chain order) have run.
func enabledAfter(acct *ledger.AccountRow, pending []ledger.Operation, conn string) bool {
	on := acct != nil && acct.Enabled
	for _, op := range pending {
		if op.Connector != conn {
			continue
		}
		switch op.Kind {
		case ledger.KindEnsureAccount:
			if acct == nil {
				on = !op.Disabled
			}
		case ledger.KindEnable:
			on = true
		case ledger.KindDisable:
			on = false
		}
	}
	return on
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

func (e *Engine) cancelGrant(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, ops []ledger.Operation, w why) error {
	for _, op := range ops {
		if op.State != ledger.OpQueued {
			continue
		}
		if err := e.handOver(tx, now, g, op); err != nil {
			return err
		}
		op.State, op.Updated = ledger.OpCancelled, now
		if err := tx.UpdateOperation(op, 0); err != nil {
			return err
		}
	}
	if err := e.move(tx, now, g, tilgang.StateCancelled, w, false); err != nil {
		return err
	}
	e.emit(tx, now, tilgang.EvGrantCancelled, g, "", map[string]any{"reason": w.text})
	// A grant that was live counted as needing its entitlements, so a grant
	// revoked meanwhile left the shared ones in place for it: nobody may
	// need them now (DESIGN.md invariant 4).
	_, err := e.planRevokes(tx, now, seq, g)
	return err
}

// handOver settles the account work (the account's creation, or the enable
// of a rehire's account) a cancelled grant g was to do. The grants whose
// work on that connector comes after it rely on it, since provision planned
// them none of their own: the first of them takes it over, at its place in
// the chain, before their work (the operation is copied under that grant,
// and what of theirs was queued between its place and the copy, all of it
// planned by the same message and none of it tried, is queued again behind
// the copy). With no grant relying on an account creation, the enable
// planned for the start date goes as well.
func (e *Engine) handOver(tx ledger.Tx, now time.Time, g *ledger.Grant, op ledger.Operation) error {
	if op.Kind != ledger.KindEnsureAccount && op.Kind != ledger.KindEnable {
		return nil
	}
	pending, err := tx.PersonOperations(g.Person, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
	if err != nil {
		return err
	}
	heir := ""
	for _, p := range pending {
		if p.Connector == op.Connector && p.GrantID != "" && p.GrantID != g.ID && chainLess(op, p) {
			heir = p.GrantID
			break
		}
	}
	if heir == "" {
		if op.Kind != ledger.KindEnsureAccount {
			return nil
		}
		for _, p := range pending {
			if p.Connector == op.Connector && p.GrantID == "" && p.Kind == ledger.KindEnable && p.State == ledger.OpQueued {
				p.State, p.Updated = ledger.OpCancelled, now
				if err := tx.UpdateOperation(p, 0); err != nil {
					return err
				}
			}
		}
		return nil
	}
	moved := op
	moved.GrantID, moved.State, moved.Attempts, moved.Updated = heir, ledger.OpQueued, 0, now
	if moved.ID, err = tx.InsertOperation(moved); err != nil {
		return err
	}
	for _, p := range pending {
		if p.Connector != op.Connector || p.GrantID == g.ID || !chainLess(op, p) || !chainLess(p, moved) ||
			p.State != ledger.OpQueued || p.Attempts > 0 {
			continue
		}
		again := p
		again.Updated = now
		if _, err := tx.InsertOperation(again); err != nil {
			return err
		}
		p.State, p.Updated = ledger.OpCancelled, now
		if err := tx.UpdateOperation(p, 0); err != nil {
			return err
		}
	}
	return nil
}

// chainLess reports whether a comes before b in the chain of a person's
// work on one connector instance: by due time, stream sequence, id.
func chainLess(a, b ledger.Operation) bool {
	if !a.DueAt.Equal(b.DueAt) {
		return a.DueAt.Before(b.DueAt)
	}
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	return a.ID < b.ID
}

// startRevoke moves g to revoking and plans its revokes; with none to plan
// it is revoked at once.
func (e *Engine) startRevoke(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant, w why) error {
	g.RevokeAfter = false
	if err := e.cancelExpiry(tx, now, g); err != nil {
		return err
	}
	if err := e.move(tx, now, g, tilgang.StateRevoking, w, false); err != nil {
		return err
	}
	n, err := e.planRevokes(tx, now, seq, g)
	if err != nil {
		return err
	}
	if n == 0 {
		return e.settle(tx, now, seq, g.ID)
	}
	return nil
}

// planRevokes plans, under g, a revoke for every entitlement of g that no
// other live grant of the person needs (DESIGN.md invariant 4) and that the
// person holds or is about to hold, whichever grant gave it. It returns how
// many it planned.
func (e *Engine) planRevokes(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant) (int, error) {
	others, err := tx.GrantsOf(g.Person)
	if err != nil {
		return 0, err
	}
	needed := map[string]bool{}
	for _, o := range others {
		if o.ID == g.ID || !o.State.Live() || o.RevokeAfter {
			continue
		}
		for conn, ents := range o.Entitlements {
			for _, ent := range ents {
				needed[conn+"\x00"+ent] = true
			}
		}
	}
	ops, err := tx.PersonOperations(g.Person)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, conn := range sortedKeys(g.Entitlements) {
		for _, ent := range g.Entitlements[conn] {
			if needed[conn+"\x00"+ent] || !held(ops, conn, ent) {
				continue
			}
			if _, err := tx.InsertOperation(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindRevoke,
				Entitlement: ent, DueAt: now, NextAt: now, Seq: seq, Created: now, Updated: now}); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

// held reports whether the person holds an entitlement, or will once the
// queued work has run, by any grant: the last grant or revoke of it in
// chain order (ops are in that order) decides. An operation cancelled
// before its first attempt never happened; a failed or cut-short grant may
// have given it, and a failed or cut-short revoke may have left it.
func held(ops []ledger.Operation, conn, ent string) bool {
	h := false
	for _, op := range ops {
		if op.Connector != conn || op.Entitlement != ent || (op.State == ledger.OpCancelled && op.Attempts == 0) {
			continue
		}
		switch op.Kind {
		case ledger.KindGrant:
			h = true
		case ledger.KindRevoke:
			if op.State != ledger.OpFailed && op.State != ledger.OpCancelled {
				h = false
			}
		}
	}
	return h
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
			if err := e.move(tx, now, g, tilgang.StateFailed, w, false); err != nil {
				return err
			}
			e.emit(tx, now, tilgang.EvGrantFailed, g, "", map[string]any{"reason": w.text, "operation_id": fmt.Sprint(failedProv.ID)})
		} else {
			w = e.activeUntil(now, g)
			if err := e.move(tx, now, g, tilgang.StateActive, w, false); err != nil {
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
			if err := e.move(tx, now, g, tilgang.StateRevokeFailed, w, false); err != nil {
				return err
			}
			e.emit(tx, now, tilgang.EvGrantRevokeFail, g, "", map[string]any{"reason": w.text, "operation_id": fmt.Sprint(failedRevoke.ID)})
			return nil
		}
		to, kind := tilgang.StateRevoked, tilgang.EvGrantRevoked
		if g.RevokeCause == "expiry" {
			to, kind = tilgang.StateExpired, tilgang.EvGrantExpired
		}
		if err := e.move(tx, now, g, to, w, false); err != nil {
			return err
		}
		e.emit(tx, now, kind, g, "", map[string]any{"cause": g.RevokeCause})
	}
	return nil
}

// ---- operation results (called by the executor, and by intake for manual tasks) ----

// Resolved records the target values resolved before an operation's first
// call, so a retry after a crash finds what the first attempt made.
func (e *Engine) Resolved(tx ledger.Tx, op ledger.Operation, target connectors.Ref) error {
	op.Target, op.Updated = target, e.Now().UTC()
	return tx.UpdateOperation(op, op.Token)
}

// Done records a finished operation and moves its grant on.
func (e *Engine) Done(tx ledger.Tx, op ledger.Operation, ref connectors.Ref) error {
	now := e.Now().UTC()
	token := op.Token
	if op.State != ledger.OpClaimed {
		token = 0 // a manual task completed by a person
	}
	op.State, op.Updated, op.LastError, op.ClaimUntil = ledger.OpDone, now, "", time.Time{}
	if ref != nil {
		op.Target = ref
	}
	if err := tx.UpdateOperation(op, token); err != nil {
		return err
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "operation.done", Person: op.Person, Actor: Worker, GrantID: op.GrantID, OpID: op.ID,
		Details: map[string]string{"kind": op.Kind, "connector": op.Connector, "entitlement": op.Entitlement}})
	switch op.Kind {
	case ledger.KindEnsureAccount, ledger.KindEnable, ledger.KindDisable:
		acct, err := tx.Account(op.Person, op.Connector)
		if err != nil {
			return err
		}
		if acct == nil && op.Kind != ledger.KindEnsureAccount {
			// An enable or disable of an account that was never made (its
			// creation failed): there is still no account.
			return e.settle(tx, now, op.Seq, op.GrantID)
		}
		if acct == nil {
			acct = &ledger.AccountRow{Person: op.Person, Connector: op.Connector, Ref: op.Target, Enabled: !op.Disabled}
		}
		if op.Kind == ledger.KindEnsureAccount && op.Target != nil {
			acct.Ref = op.Target
		}
		if op.Kind != ledger.KindEnsureAccount {
			acct.Enabled = op.Kind == ledger.KindEnable
		}
		acct.Updated = now
		if err := tx.PutAccount(*acct); err != nil {
			return err
		}
		if op.Kind == ledger.KindEnsureAccount {
			// An account finished after its person left is disabled at once.
			p, err := tx.Person(op.Person)
			if err != nil {
				return err
			}
			if p != nil && p.Left {
				if _, err := tx.InsertOperation(ledger.Operation{Person: op.Person, Connector: op.Connector, Kind: ledger.KindDisable,
					DueAt: now, NextAt: now, Seq: op.Seq, Created: now, Updated: now}); err != nil {
					return err
				}
			}
		}
	}
	return e.settle(tx, now, op.Seq, op.GrantID)
}

// Failed records a failed attempt: a retryable error reschedules the
// operation with backoff until MaxAttempts, anything else fails it.
func (e *Engine) Failed(tx ledger.Tx, op ledger.Operation, cause error) error {
	now := e.Now().UTC()
	token := op.Token
	if op.State != ledger.OpClaimed {
		token = 0
	}
	op.LastError, op.Updated, op.ClaimUntil = cause.Error(), now, time.Time{}
	if tilgang.Retryable(cause) && op.Attempts < e.MaxAttempts {
		op.State = ledger.OpQueued
		op.NextAt = now.Add(Backoff(op.Attempts, tilgang.RetryAfterOf(cause)))
		return tx.UpdateOperation(op, token)
	}
	op.State = ledger.OpFailed
	if err := tx.UpdateOperation(op, token); err != nil {
		return err
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "operation.failed", Person: op.Person, Actor: Worker, GrantID: op.GrantID, OpID: op.ID,
		Text: op.LastError, Details: map[string]string{"kind": op.Kind, "connector": op.Connector, "entitlement": op.Entitlement,
			"attempts": fmt.Sprint(op.Attempts), "error_kind": string(tilgang.KindOf(cause))}})
	return e.settle(tx, now, op.Seq, op.GrantID)
}

// Backoff is the wait before attempt n+1: exponential from 2 s, capped at
// 10 minutes, or the peer's Retry-After when it said more.
func Backoff(attempts int, retryAfter time.Duration) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempts && d < 10*time.Minute; i++ {
		d *= 2
	}
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// Waiting turns a claimed manual operation into a task for people and
// announces it (task.manual) with who may complete it.
func (e *Engine) Waiting(tx ledger.Tx, op ledger.Operation) error {
	now := e.Now().UTC()
	token := op.Token
	op.State, op.Updated, op.ClaimUntil = ledger.OpWaiting, now, time.Time{}
	if err := tx.UpdateOperation(op, token); err != nil {
		return err
	}
	data := map[string]any{"operation_id": fmt.Sprint(op.ID), "kind": op.Kind, "connector": op.Connector, "person": op.Person}
	if op.Entitlement != "" {
		data["entitlement"] = op.Entitlement
	}
	if op.GrantID != "" {
		data["grant_id"] = op.GrantID
		if g, err := tx.Grant(op.GrantID); err == nil && g != nil {
			data["system"], data["role"], data["request_id"] = g.System, g.Role, g.RequestID
			if s, ok := e.Catalogue().System(g.System); ok {
				data["administrators"] = s.Administrators
			}
		}
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "task.manual", Person: op.Person, Actor: Worker, GrantID: op.GrantID, OpID: op.ID,
		Details: map[string]string{"kind": op.Kind, "connector": op.Connector, "entitlement": op.Entitlement}})
	tx.Emit(ledger.Event{Kind: tilgang.EvTaskManual, Person: op.Person, At: now, Data: data})
	return nil
}

// IsManual reports whether people do the connector instance's work.
func (e *Engine) IsManual(connector string) bool { return e.manual[connector] }
