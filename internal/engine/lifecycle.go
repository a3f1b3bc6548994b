package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The results of operations: what the executor reports for an operation it
// ran (and intake for a manual task people completed), recorded and turned
// into the grant's next state (settle, states.go).

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
				if _, err := planAt(tx, now, op.Seq).queue(ledger.Operation{Person: op.Person, Connector: op.Connector,
					Kind: ledger.KindDisable}); err != nil {
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

// NotStarted gives a claimed operation back to the queue with no call
// made: its turn at the connector instance came too late in its claim
// (connectors.Limited). The attempt the claim counted is taken back, so a
// wait costs no retry; it is claimable again at once.
func (e *Engine) NotStarted(tx ledger.Tx, op ledger.Operation) error {
	token := op.Token
	op.State, op.Holder, op.ClaimUntil, op.Updated = ledger.OpQueued, "", time.Time{}, e.Now().UTC()
	op.Attempts = max(op.Attempts-1, 0)
	return tx.UpdateOperation(op, token)
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
	return e.scheduleTaskReminders(tx, now, op)
}

// IsManual reports whether people do the connector instance's work: it has
// the connectors.Tasker capability. The executor opens a task for people
// (Waiting) instead of calling it.
func (e *Engine) IsManual(connector string) bool { return e.manual[connector] }
