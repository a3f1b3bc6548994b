package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func (e *Engine) task(tx ledger.Tx, m *msg, t *envelope.Task) (Outcome, error) {
	id, err := strconv.ParseInt(t.OperationID, 10, 64)
	if err != nil {
		return e.reject(tx, m, fmt.Sprintf("operation_id %q is not an operation id", t.OperationID))
	}
	op, err := tx.Operation(id)
	if err != nil {
		return "", err
	}
	if op == nil || op.Person != m.env.Subject {
		return e.reject(tx, m, fmt.Sprintf("%s has no operation %s", m.env.Subject, t.OperationID))
	}
	if op.State != ledger.OpWaiting {
		return e.reject(tx, m, fmt.Sprintf("operation %d is %s, not a task waiting for people", id, op.State))
	}
	if ok, err := e.mayDoTask(tx, m.env.Actor, op); err != nil || !ok {
		if err != nil {
			return "", err
		}
		return e.reject(tx, m, fmt.Sprintf("%s is not an administrator of the system operation %d belongs to", m.env.Actor, id))
	}
	if err := e.recordRequest(tx, m, "accepted", "", op.GrantID, nil); err != nil {
		return "", err
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "task.completed", Person: op.Person, Actor: m.env.Actor, Via: m.env.Via, GrantID: op.GrantID,
		OpID: op.ID, RequestID: m.key, Text: t.Comment, Details: map[string]string{"outcome": t.Outcome}})
	if t.Outcome == "done" {
		return Accepted, e.Done(tx, *op, nil)
	}
	op.Attempts = e.MaxAttempts // a person said it failed: no automatic retry
	reason := "task marked failed by " + m.env.Actor
	if t.Comment != "" {
		reason += ": " + t.Comment
	}
	return Accepted, e.Failed(tx, *op, tilgang.Errorf(tilgang.Denied, "%s", reason))
}

// mayDoTask: an operator, or an administrator of a system the operation
// belongs to (TaskSystems).
func (e *Engine) mayDoTask(tx ledger.Tx, actor string, op *ledger.Operation) (bool, error) {
	if e.Principals().Can(actor, tilgang.CapOperator) {
		return true, nil
	}
	var g *ledger.Grant
	var grants []ledger.Grant
	var err error
	if op.GrantID != "" {
		if g, err = tx.Grant(op.GrantID); err != nil || g == nil {
			return false, err
		}
	} else if grants, err = tx.AllGrantsOf(op.Person); err != nil {
		return false, err
	}
	cat := e.Catalogue()
	for _, id := range TaskSystems(cat, op, g, grants) {
		if s, ok := cat.System(id); ok && s.IsAdministrator(actor) {
			return true, nil
		}
	}
	return false, nil
}

// hr stores a person record and schedules (or cancels) the leave. The
// record is the whole truth at its version; an older or equal version is
// recorded and ignored.
func (e *Engine) hr(tx ledger.Tx, m *msg, h *envelope.HR) (Outcome, error) {
	if !e.Principals().Can(m.env.Actor, tilgang.CapHR) {
		return e.reject(tx, m, fmt.Sprintf("%s has no hr capability", m.env.Actor))
	}
	old, err := tx.Person(h.Person.ID)
	if err != nil {
		return "", err
	}
	if old != nil && h.Version <= old.Version {
		if err := e.recordRequest(tx, m, "ignored", fmt.Sprintf("version %d is not newer than %d", h.Version, old.Version), "", nil); err != nil {
			return "", err
		}
		tx.Audit(ledger.AuditEntry{At: m.now, Kind: "hr.ignored", Person: h.Person.ID, Actor: m.env.Actor, Via: m.env.Via, RequestID: m.key,
			Details: map[string]string{"version": fmt.Sprint(h.Version), "stored": fmt.Sprint(old.Version), "type": m.env.Type}})
		return Ignored, nil
	}
	if old != nil {
		// A change of the stored record that fell due and has not run yet
		// happens first, so the new version is compared with what was in
		// effect until now.
		if old, err = e.dueChanges(tx, m.now, old); err != nil {
			return "", err
		}
	}
	row := ledger.PersonRow{Person: h.Person, Version: h.Version, Updated: m.now}
	if old != nil {
		row.LeaveAt, row.LeaveOp, row.Left = old.LeaveAt, old.LeaveOp, old.Left
	}
	details := map[string]string{"version": fmt.Sprint(h.Version), "type": m.env.Type}
	leaveAt, ends := h.Person.LeaveAt()
	switch {
	case ends && !row.Left && (row.LeaveOp == 0 || !row.LeaveAt.Equal(leaveAt)):
		if err := e.cancelLeave(tx, m.now, &row); err != nil {
			return "", err
		}
		id, err := planAt(tx, m.now, m.in.Seq).queue(ledger.Operation{Person: h.Person.ID, Connector: ledger.Internal,
			Kind: ledger.KindLeave, DueAt: leaveAt})
		if err != nil {
			return "", err
		}
		row.LeaveAt, row.LeaveOp = leaveAt, id
		details["leave_at"] = leaveAt.Format(time.RFC3339)
		if !leaveAt.After(m.now) {
			details["backdated"] = "true"
		}
	case !ends:
		if row.LeaveOp != 0 {
			details["leave_cancelled"] = row.LeaveAt.Format(time.RFC3339)
		}
		if err := e.cancelLeave(tx, m.now, &row); err != nil {
			return "", err
		}
		if row.Left {
			details["rehired"] = "true" // a new start: nothing is restored
		}
		row.Left, row.LeaveAt = false, time.Time{}
	}
	if err := tx.PutPerson(row); err != nil {
		return "", err
	}
	if err := e.recordRequest(tx, m, "accepted", "", "", nil); err != nil {
		return "", err
	}
	// An HR source's sync keeps its snapshot: what it sent, by person.
	if src, ok := strings.CutPrefix(m.env.Source, hrsource.EnvelopePrefix); ok && src != "" {
		if err := tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: src, Person: h.Person.ID, Version: h.Version,
			Present: m.env.Type != tilgang.TypeHRLeaver, Record: h.Person, Updated: m.now}); err != nil {
			return "", err
		}
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "hr.record", Person: h.Person.ID, Actor: m.env.Actor, Via: m.env.Via, RequestID: m.key, Details: details})
	// A leave whose moment has passed happens now, in this transaction, so
	// that every later message (a rehire, an approval) finds the person gone,
	// as processing the messages one by one in stream order would.
	if row.LeaveOp != 0 && !row.LeaveAt.After(m.now) {
		op, err := tx.Operation(row.LeaveOp)
		if err != nil {
			return "", err
		}
		if op != nil && op.State == ledger.OpQueued {
			if err := e.RunInternal(tx, *op); err != nil {
				return "", err
			}
			p, err := tx.Person(h.Person.ID)
			if err != nil {
				return "", err
			}
			row = *p
		}
	}
	// Names, municipality and the main employment's unit and position
	// follow HR: accounts that exist are brought up to date (an AD account
	// moves to its new municipality's OU; the username stays).
	// What shows is what is in effect now: a change HR records ahead
	// shows on its date (KindChange).
	if old != nil {
		ov, nv := old.Person.At(m.now), h.Person.At(m.now)
		if err := updateAccounts(tx, m.now, m.in.Seq, &ov, &nv); err != nil {
			return "", err
		}
		// A move that applies at once is told as a dated one is on its
		// date, to someone in service: started, not left, not rehired.
		if mo, ok := ov.Main(); ok && !mo.Start.Start().After(m.now) && !hasLeft(old, m.now) && !hasLeft(&row, m.now) {
			mn, _ := nv.Main()
			announceMove(tx, m.now, h.Person.ID, mo, mn)
		}
	}
	if old != nil && !row.Left {
		if err := moveStart(tx, m, &old.Person, &h.Person); err != nil {
			return "", err
		}
	}
	if err := e.hrPolicy(tx, m, old, &row); err != nil {
		return "", err
	}
	if _, err := scheduleChange(tx, m.now, m.in.Seq, &row); err != nil {
		return "", err
	}
	return Accepted, nil
}

// KindChange is the engine's operation that applies, at its moment, a
// change the stored HR record holds for a later date (tilgang.Person.At):
// a new position, unit or manager from then, one of several employments
// ending (notes/hr-sources-and-lifecycle.md, edge cases 3 and 6).
const KindChange = "hr_change"

// updateAccounts brings the person's accounts up to date when what they
// show (names, e-mail, municipality, the main employment's unit, position
// and manager) differs between before and cur.
func updateAccounts(tx ledger.Tx, now time.Time, seq uint64, before, cur *tilgang.Person) error {
	if !accountFieldsChanged(before, cur) {
		return nil
	}
	accts, err := tx.AccountsOf(cur.ID)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if _, err := planAt(tx, now, seq).queue(ledger.Operation{Person: a.Person, Connector: a.Connector,
			Kind: ledger.KindEnsureAccount, Target: a.Ref, Disabled: !a.Enabled}); err != nil {
			return err
		}
	}
	return nil
}

// scheduleChange plans the next change of row's record in effect
// (tilgang.Person.NextChange), replacing a queued one due at another
// moment; a person who has left has none. It reports whether it queued
// one (false when the one planned already is due then).
func scheduleChange(tx ledger.Tx, now time.Time, seq uint64, row *ledger.PersonRow) (bool, error) {
	var next time.Time
	if !hasLeft(row, now) {
		next = row.Person.NextChange(now)
	}
	pending, err := tx.PersonOperations(row.Person.ID, ledger.OpQueued)
	if err != nil {
		return false, err
	}
	pl := planAt(tx, now, seq)
	for _, op := range pending {
		if op.Kind != KindChange {
			continue
		}
		if op.DueAt.Equal(next) {
			next = time.Time{} // planned already
			continue
		}
		if err := pl.cancel(op); err != nil {
			return false, err
		}
	}
	if next.IsZero() {
		return false, nil
	}
	_, err = pl.queue(ledger.Operation{Person: row.Person.ID, Connector: ledger.Internal, Kind: KindChange, DueAt: next})
	return err == nil, err
}

// dueChanges runs the person's queued changes that are due at now, in
// the transaction, and returns the record after them.
func (e *Engine) dueChanges(tx ledger.Tx, now time.Time, p *ledger.PersonRow) (*ledger.PersonRow, error) {
	pending, err := tx.PersonOperations(p.Person.ID, ledger.OpQueued)
	if err != nil {
		return nil, err
	}
	ran := false
	for _, op := range pending {
		if op.Kind == KindChange && !op.DueAt.After(now) {
			if err := e.change(tx, now, op); err != nil {
				return nil, err
			}
			ran = true
		}
	}
	if !ran {
		return p, nil
	}
	return tx.Person(p.Person.ID)
}

// change applies what changes in the person's record in effect at op's
// moment: the accounts show the new unit, position and manager, birthright
// follows the new record and grants it no longer allows end (cause mover),
// and the next change is planned. Done by the worker, as the leave is.
func (e *Engine) change(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	p, err := tx.Person(op.Person)
	if err != nil {
		return err
	}
	if p == nil || hasLeft(p, now) {
		return e.Done(tx, op, nil)
	}
	before, cur := p.Person.At(op.DueAt.Add(-time.Nanosecond)), p.Person.At(now)
	mb, _ := before.Main()
	mc, _ := cur.Main()
	details := map[string]string{"version": fmt.Sprint(p.Version), "due_at": op.DueAt.UTC().Format(time.RFC3339)}
	for k, v := range map[string][2]string{"org_unit": {mb.OrgUnit, mc.OrgUnit}, "position": {mb.Position, mc.Position},
		"manager": {mb.Manager, mc.Manager}, "employment": {mb.ID, mc.ID}} {
		if v[0] != v[1] {
			details[k+".from"], details[k+".to"] = v[0], v[1]
		}
	}
	key := sha([]byte(fmt.Sprintf("hr-change\n%s\n%d", op.Person, op.ID)))
	tx.Audit(ledger.AuditEntry{At: now, Kind: "hr.change", Person: op.Person, Actor: Worker, OpID: op.ID, RequestID: key, Details: details})
	if err := updateAccounts(tx, now, op.Seq, &before, &cur); err != nil {
		return err
	}
	announceMove(tx, now, op.Person, mb, mc)
	m := &msg{in: Input{Seq: op.Seq}, env: &envelope.Envelope{Subject: op.Person, Actor: Worker, Type: tilgang.TypeHRMover},
		key: key, now: now, cat: e.Catalogue()}
	if err := e.applyPolicy(tx, m, true, &before, cur); err != nil {
		return err
	}
	if err := e.Done(tx, op, nil); err != nil {
		return err
	}
	_, err = scheduleChange(tx, now, op.Seq, p)
	return err
}

// announceMove tells both managers, the one before and the one from now
// (notes/hr-sources-and-lifecycle.md, edge case 6), that the person moved
// (tilgang.EvPersonMoved), when the main employment before and now differ
// in employment, unit or manager: a change HR recorded ahead on its date
// (change), or one that applies at once (hr). A person is not their own
// manager's mail.
func announceMove(tx ledger.Tx, now time.Time, person string, before, cur tilgang.Employment) {
	if before.ID == cur.ID && before.OrgUnit == cur.OrgUnit && before.Manager == cur.Manager {
		return
	}
	var managers []string
	for _, x := range []string{before.Manager, cur.Manager} {
		if x != "" && x != person && !slices.Contains(managers, x) {
			managers = append(managers, x)
		}
	}
	tx.Emit(ledger.Event{Kind: tilgang.EvPersonMoved, Person: person, At: now, Data: map[string]any{"managers": managers,
		"org_unit_from": before.OrgUnit, "org_unit_to": cur.OrgUnit, "position_from": before.Position, "position_to": cur.Position}})
}

// moveStart moves the enabling of accounts made disabled ahead of the start
// date with the start, when HR moves the start before day one
// (notes/hr-sources-and-lifecycle.md, edge case 2): the queued enable is
// cancelled and a new one planned on the new start, so that both are in
// the chain. A start moved into the past enables now.
func moveStart(tx ledger.Tx, m *msg, old, cur *tilgang.Person) error {
	from, to := startOf(*old, m.now), startOf(*cur, m.now)
	if from.Equal(to) || to.IsZero() {
		return nil
	}
	pending, err := tx.PersonOperations(cur.ID, ledger.OpQueued)
	if err != nil {
		return err
	}
	due := to
	if due.Before(m.now) {
		due = m.now
	}
	pl := planAt(tx, m.now, m.in.Seq)
	for _, op := range pending {
		if op.Kind != ledger.KindEnable || op.GrantID != "" || !op.DueAt.After(m.now) || op.DueAt.Equal(due) {
			continue
		}
		if err := pl.cancel(op); err != nil {
			return err
		}
		if _, err := pl.queue(ledger.Operation{Person: op.Person, Connector: op.Connector, Kind: ledger.KindEnable,
			Target: op.Target, DueAt: due}); err != nil {
			return err
		}
	}
	return nil
}

// cancelLeave cancels a scheduled leave that has not run.
func (e *Engine) cancelLeave(tx ledger.Tx, now time.Time, row *ledger.PersonRow) error {
	if row.LeaveOp == 0 {
		return nil
	}
	op, err := tx.Operation(row.LeaveOp)
	if err != nil {
		return err
	}
	if op != nil && op.State == ledger.OpQueued {
		if err := planAt(tx, now, 0).cancel(*op); err != nil {
			return err
		}
	}
	row.LeaveOp = 0
	return nil
}

// ErrStale is returned when an internal operation was superseded.
var ErrStale = errors.New("engine: operation superseded")

// RunInternal runs an operation of the engine's own (connector "tilgang"):
// a grant's expiry (see expire) or the scheduled leave. It cancels the person's queued and waiting work
// (in-flight work finishes), ends every open grant and disables every
// account, and marks the person as left.
func (e *Engine) RunInternal(tx ledger.Tx, op ledger.Operation) error {
	now := e.Now().UTC()
	switch op.Kind {
	case ledger.KindExpire:
		return e.expire(tx, now, op)
	case KindRemind:
		return e.remind(tx, now, op)
	case KindEscalate:
		return e.escalate(tx, now, op)
	case KindRemindTask:
		return e.remindTask(tx, now, op)
	case KindReviewRemind, KindReviewEscalate:
		return e.reviewReminder(tx, now, op)
	case KindEscalateTask:
		return e.escalateTask(tx, now, op)
	case KindChange:
		return e.change(tx, now, op)
	}
	if op.Kind != ledger.KindLeave {
		return e.Failed(tx, op, tilgang.Errorf(tilgang.Internal, "unknown internal operation kind %q", op.Kind))
	}
	p, err := tx.Person(op.Person)
	if err != nil {
		return err
	}
	if p == nil || p.LeaveOp != op.ID {
		return e.Done(tx, op, nil) // superseded by a later HR version
	}
	p.Left, p.LeaveOp, p.Updated = true, 0, now
	if err := tx.PutPerson(*p); err != nil {
		return err
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "person.left", Person: op.Person, Actor: Worker, OpID: op.ID,
		Details: map[string]string{"leave_at": p.LeaveAt.Format(time.RFC3339)}})
	// Announced, so the manager is told (DESIGN.md "Notifications").
	tx.Emit(ledger.Event{Kind: tilgang.EvPersonLeft, Person: op.Person, At: now, Data: map[string]any{"leave_at": p.LeaveAt.UTC().Format(time.RFC3339)}})
	// End every open grant first: waiting and unstarted ones are cancelled,
	// live ones get their revokes planned, in-flight ones are marked.
	grants, err := tx.GrantsOf(op.Person)
	if err != nil {
		return err
	}
	w := why{text: "the person has left"}
	for i := range grants {
		if err := e.endGrant(tx, now, op.Seq, &grants[i], "leaver", w); err != nil {
			return err
		}
	}
	// Then cancel what is still queued or waiting, except removals.
	pl := planAt(tx, now, op.Seq)
	ops, err := tx.PersonOperations(op.Person, ledger.OpQueued, ledger.OpWaiting)
	if err != nil {
		return err
	}
	maybeMade := map[string]ledger.Operation{} // connector -> an account creation cut short after an attempt
	for _, o := range ops {
		if o.ID == op.ID || o.Kind == ledger.KindRevoke || o.Kind == ledger.KindDisable || o.Kind == ledger.KindLeave {
			continue
		}
		if o.Kind == ledger.KindEnsureAccount && o.State == ledger.OpQueued && o.Attempts > 0 {
			maybeMade[o.Connector] = o
		}
		wasWaiting := o.State == ledger.OpWaiting
		if err := pl.cancel(o); err != nil {
			return err
		}
		if wasWaiting {
			data := map[string]any{"operation_id": fmt.Sprint(o.ID), "reason": "the person has left"}
			if o.GrantID != "" {
				data["grant_id"] = o.GrantID
				g, err := tx.Grant(o.GrantID)
				if err != nil {
					return err
				}
				if g != nil {
					data["request_id"] = g.RequestID
				}
			}
			tx.Emit(ledger.Event{Kind: tilgang.EvTaskCancelled, Person: o.Person, At: now, Data: data})
		}
	}
	// An account creation in flight (claimed by an executor now) finishes;
	// its disable queues behind it on the same connector.
	inFlight, err := tx.PersonOperations(op.Person, ledger.OpClaimed)
	if err != nil {
		return err
	}
	for _, o := range inFlight {
		if o.Kind == ledger.KindEnsureAccount || o.Kind == ledger.KindEnable {
			if _, seen := maybeMade[o.Connector]; !seen {
				maybeMade[o.Connector] = o
			}
		}
	}
	accts, err := tx.AccountsOf(op.Person)
	if err != nil {
		return err
	}
	for _, a := range accts {
		delete(maybeMade, a.Connector)
		if _, err := pl.queue(ledger.Operation{Person: a.Person, Connector: a.Connector, Kind: ledger.KindDisable, Target: a.Ref}); err != nil {
			return err
		}
	}
	// An attempt may have made the account before it failed: disable what
	// it resolved rather than leave a leaver's account enabled.
	for _, conn := range slices.Sorted(maps.Keys(maybeMade)) {
		o := maybeMade[conn]
		if _, err := pl.queue(ledger.Operation{Person: o.Person, Connector: conn, Kind: ledger.KindDisable, Target: o.Target}); err != nil {
			return err
		}
	}
	// Grants whose provisioning was cut short settle now.
	for _, g := range grants {
		if err := e.settle(tx, now, op.Seq, g.ID); err != nil {
			return err
		}
	}
	return e.Done(tx, op, nil)
}

// accountFieldsChanged reports whether a change of the record shows in the
// accounts connectors keep: names, e-mail, municipality, and the main
// employment's unit, position and manager.
func accountFieldsChanged(a, b *tilgang.Person) bool {
	if a.GivenName != b.GivenName || a.FamilyName != b.FamilyName || a.Email != b.Email || a.Municipality != b.Municipality {
		return true
	}
	ma, _ := a.Main()
	mb, _ := b.Main()
	return ma.OrgUnit != mb.OrgUnit || ma.Position != mb.Position || ma.Manager != mb.Manager
}
