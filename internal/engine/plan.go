package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The outbox planner. Every operation the engine plans enters the outbox
// through a planner, at its place in the chain of the person's work on its
// connector instance: the ledger hands a person's operations on one
// instance out in (due time, stream sequence, id) order (DESIGN.md
// invariant 3), so an operation queued now is due at once (or at the time
// it names), caused by the message being applied, and comes after
// everything queued before it. Work that must come before something
// already queued (an account creation a withdrawn grant hands over) is put
// there by the planner too (see handOver): nothing else inserts into the
// outbox.

// planner plans operations caused by one message (seq) at now, in tx.
// Every operation it queues is chained (its ledger.DigestOp under
// "op.<id>" in an operations.planned entry: one for all of a decision's
// operations when it plans several), and the executor runs only
// operations the chain records so.
type planner struct {
	tx    ledger.Tx
	now   time.Time
	seq   uint64
	batch *ledger.AuditEntry // the entry being filled, nil: one each
	// actor and text, when set, are whom the chain records as planning the
	// operations and why (reconciliation: actor reconcile, the finding);
	// otherwise the worker, without text.
	actor, text string
}

func planAt(tx ledger.Tx, now time.Time, seq uint64) planner {
	return planner{tx: tx, now: now, seq: seq}
}

// queue puts op at the end of the chain for its due time (now when it names
// none) and returns its id.
func (p planner) queue(op ledger.Operation) (int64, error) {
	if op.DueAt.IsZero() {
		op.DueAt = p.now
	}
	op.NextAt, op.Seq, op.State, op.Created, op.Updated = op.DueAt, p.seq, ledger.OpQueued, p.now, p.now
	return p.insert(op)
}

// insert adds op to the outbox and chains it.
func (p planner) insert(op ledger.Operation) (int64, error) {
	id, err := p.tx.InsertOperation(op)
	if err != nil {
		return 0, err
	}
	op.ID = id
	if p.batch == nil {
		e := p.plannedEntry(op)
		p.tx.Audit(e)
		return id, nil
	}
	if p.batch.Details == nil {
		*p.batch = p.plannedEntry(op)
	} else {
		p.batch.Details[fmt.Sprintf("op.%d", id)] = ledger.DigestOp(op)
	}
	return id, nil
}

func (p planner) plannedEntry(op ledger.Operation) ledger.AuditEntry {
	if p.actor == "" {
		return ledger.Planned(p.now, Worker, op)
	}
	e := ledger.Planned(p.now, p.actor, op)
	e.Text = p.text
	return e
}

// batched returns a planner that chains the operations it queues in one
// entry, written by done.
func (p planner) batched() planner {
	p.batch = &ledger.AuditEntry{}
	return p
}

// done writes the batch's entry, if it planned anything.
func (p planner) done() {
	if p.batch != nil && p.batch.Details != nil {
		p.tx.Audit(*p.batch)
		p.batch.Details = nil
	}
}

// cancel cancels a queued or waiting operation.
func (p planner) cancel(op ledger.Operation) error {
	op.State, op.Updated = ledger.OpCancelled, p.now
	return p.tx.UpdateOperation(op, 0)
}

// provision plans what g needs on each connector instance of its
// entitlements: the account (unless it exists or is being made), created
// disabled with an enable on the start date when the employment has not
// started, or the enable of an account a leave disabled; then one grant per
// entitlement. It returns how many operations it planned under g.
func (p planner) provision(g *ledger.Grant, person *ledger.PersonRow) (int, error) {
	p = p.batched()
	defer p.done()
	pending, err := p.tx.PersonOperations(g.Person, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
	if err != nil {
		return 0, err
	}
	start := startOf(person.Person, p.now)
	notStarted := start.After(p.now)
	planned := 0
	for _, conn := range sortedKeys(g.Entitlements) {
		acct, err := p.tx.Account(g.Person, conn)
		if err != nil {
			return 0, err
		}
		ensuring := false
		for _, op := range pending {
			ensuring = ensuring || (op.Connector == conn && op.Kind == ledger.KindEnsureAccount)
		}
		if acct == nil && !ensuring {
			if _, err := p.queue(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindEnsureAccount,
				Disabled: notStarted}); err != nil {
				return 0, err
			}
			planned++
			if notStarted {
				if _, err := p.queue(ledger.Operation{Person: g.Person, Connector: conn, Kind: ledger.KindEnable, DueAt: start}); err != nil {
					return 0, err
				}
			}
		} else if !enabledAfter(acct, pending, conn) {
			// The account was disabled by a leave and the person is back
			// (a rehire): a new grant needs it enabled, on the start date or
			// now, as part of the grant.
			op := ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindEnable}
			if notStarted {
				op.GrantID, op.DueAt = "", start
			} else {
				planned++
			}
			if _, err := p.queue(op); err != nil {
				return 0, err
			}
		}
		for _, ent := range g.Entitlements[conn] {
			if _, err := p.queue(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindGrant,
				Entitlement: ent}); err != nil {
				return 0, err
			}
			planned++
		}
	}
	return planned, nil
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

// withdraw cancels the queued operations of g, a grant being cancelled,
// handing the account work over to the grants that rely on it.
func (p planner) withdraw(g *ledger.Grant, ops []ledger.Operation) error {
	for _, op := range ops {
		if op.State != ledger.OpQueued {
			continue
		}
		moved, err := p.handOver(g, op)
		if err != nil {
			return err
		}
		if moved {
			continue
		}
		if err := p.cancel(op); err != nil {
			return err
		}
	}
	return nil
}

// handOver settles the account work (the account's creation, or the enable
// of a rehire's account) a cancelled grant g was to do, and reports whether
// it moved op. The grants whose work on that connector comes after it rely
// on it, since provision planned them none of their own: the operation
// moves to the first of them, keeping its place in the chain (due time,
// sequence, id), so it still runs before their work; the move is chained,
// as the operation's grant is part of what the chain records of it. With
// no grant relying on an account creation, the enable planned for the start
// date goes as well.
func (p planner) handOver(g *ledger.Grant, op ledger.Operation) (bool, error) {
	if op.Kind != ledger.KindEnsureAccount && op.Kind != ledger.KindEnable {
		return false, nil
	}
	pending, err := p.tx.PersonOperations(g.Person, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting)
	if err != nil {
		return false, err
	}
	heir := ""
	for _, o := range pending {
		if o.Connector == op.Connector && o.GrantID != "" && o.GrantID != g.ID && chainLess(op, o) {
			heir = o.GrantID
			break
		}
	}
	if heir == "" {
		if op.Kind != ledger.KindEnsureAccount {
			return false, nil
		}
		for _, o := range pending {
			if o.Connector == op.Connector && o.GrantID == "" && o.Kind == ledger.KindEnable && o.State == ledger.OpQueued {
				if err := p.cancel(o); err != nil {
					return false, err
				}
			}
		}
		return false, nil
	}
	moved := op
	moved.GrantID, moved.Updated = heir, p.now
	if err := p.tx.UpdateOperation(moved, 0); err != nil {
		return false, err
	}
	p.tx.Audit(ledger.Planned(p.now, Worker, moved))
	return true, nil
}

// chainLess reports whether a comes before b in the chain of a person's
// work on one connector instance, the order the ledger claims them in.
func chainLess(a, b ledger.Operation) bool { return ledger.ChainLess(a, b) }

// revokes plans, under g, a revoke for every entitlement of g that no
// other live grant of the person needs (DESIGN.md invariant 4) and that the
// person holds or is about to hold, whichever grant gave it. It returns how
// many it planned.
func (p planner) revokes(g *ledger.Grant) (int, error) {
	p = p.batched()
	defer p.done()
	others, err := p.tx.GrantsOf(g.Person)
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
	ops, err := p.tx.PersonOperations(g.Person)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, conn := range sortedKeys(g.Entitlements) {
		for _, ent := range g.Entitlements[conn] {
			if needed[conn+"\x00"+ent] || !held(ops, conn, ent) {
				continue
			}
			if _, err := p.queue(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: conn, Kind: ledger.KindRevoke,
				Entitlement: ent}); err != nil {
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
