package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/workdays"
)

// Reminders and escalation (DESIGN.md "Notifications"). When an approval
// stage starts (approval.pending) the engine queues two internal
// operations in the outbox, like a grant's expiry: a reminder due
// RemindAfter working days later and an escalation due EscalateAfter
// working days later (weekends and Norwegian public holidays do not
// count; package workdays). A manual task gets a reminder the same way
// when it starts waiting. They survive restarts, are claimed under a lease
// and run once. When one runs and its approval stage (or task) still
// waits, it announces approval.reminded, approval.escalated or
// task.reminded, which the notifier mails; otherwise it is done without
// effect.
//
// Escalating a manager stage tells the manager's manager, who may then
// approve or deny the stage as well (decision: an escalated manager
// stage); escalating a systemansvarlig stage tells every administrator of
// the system and its coordinator (the coordinator does not approve).

// Kinds of the reminder operations (connector tilgang).
const (
	KindRemind       = "remind"      // an approval stage still pending
	KindEscalate     = "escalate"    // an approval stage still pending, later
	KindRemindTask   = "remind_task" // a manual task still waiting
	evApprovalRemind = "approval.reminded"
	evApprovalEscal  = "approval.escalated"
	evTaskRemind     = "task.reminded"
)

// Reminders are the working days after which a pending approval stage or
// manual task is reminded and escalated; 0 turns either off.
type Reminders struct {
	RemindAfter   int
	EscalateAfter int
}

// stageTag names the approval stage an operation is about.
func stageTag(stage int) string { return "stage:" + strconv.Itoa(stage) }

func tagStage(tag string) (int, bool) {
	s, ok := strings.CutPrefix(tag, "stage:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// scheduleApprovalReminders queues the reminder and escalation of g's
// current stage.
func (e *Engine) scheduleApprovalReminders(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant) error {
	if e.Reminders.RemindAfter <= 0 && e.Reminders.EscalateAfter <= 0 {
		return nil
	}
	ops, err := tx.OperationsOf(g.ID)
	if err != nil {
		return err
	}
	for _, r := range []struct {
		kind string
		days int
	}{{KindRemind, e.Reminders.RemindAfter}, {KindEscalate, e.Reminders.EscalateAfter}} {
		if r.days <= 0 || slices.ContainsFunc(ops, func(op ledger.Operation) bool {
			return op.Connector == ledger.Internal && op.Kind == r.kind && op.Entitlement == stageTag(g.Stage)
		}) {
			continue // off, or queued already (the stage was announced again)
		}
		if _, err := planAt(tx, now, seq).queue(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: ledger.Internal,
			Kind: r.kind, Entitlement: stageTag(g.Stage), DueAt: workdays.Add(now, r.days)}); err != nil {
			return err
		}
	}
	return nil
}

// scheduleTaskReminder queues the reminder of a manual task.
func (e *Engine) scheduleTaskReminder(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	if e.Reminders.RemindAfter <= 0 {
		return nil
	}
	_, err := planAt(tx, now, op.Seq).queue(ledger.Operation{GrantID: op.GrantID, Person: op.Person, Connector: ledger.Internal,
		Kind: KindRemindTask, Entitlement: "op:" + strconv.FormatInt(op.ID, 10), DueAt: workdays.Add(now, e.Reminders.RemindAfter)})
	return err
}

// stageApprovers are who may decide g's current stage.
func stageApprovers(g *ledger.Grant, sys *policy.System) []string {
	if g.StagePrincipal != "" {
		return []string{g.StagePrincipal}
	}
	var out []string
	for _, a := range sys.Administrators {
		if a != g.Requester && a != g.Person && !slices.Contains(g.Approvers, a) {
			out = append(out, a)
		}
	}
	return out
}

// pendingStage is g when it still waits for the stage op is about, with
// its system and role.
func (e *Engine) pendingStage(tx ledger.Tx, op ledger.Operation) (*ledger.Grant, *policy.System, *policy.Role, error) {
	stage, ok := tagStage(op.Entitlement)
	if !ok {
		return nil, nil, nil, nil
	}
	g, err := tx.Grant(op.GrantID)
	if err != nil || g == nil || g.State != tilgang.StatePendingApproval || g.Stage != stage {
		return nil, nil, nil, err
	}
	sys, role, ok := e.Catalogue().Role(g.System, g.Role)
	if !ok || g.Stage >= len(role.Approval) {
		return nil, nil, nil, nil
	}
	return g, sys, role, nil
}

// remind runs an approval reminder.
func (e *Engine) remind(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	g, sys, role, err := e.pendingStage(tx, op)
	if err != nil {
		return err
	}
	if g == nil {
		return e.Done(tx, op, nil)
	}
	approvers := stageApprovers(g, sys)
	tx.Audit(ledger.AuditEntry{At: now, Kind: evApprovalRemind, Person: g.Person, Actor: Worker, System: g.System, Role: g.Role,
		GrantID: g.ID, OpID: op.ID, Details: map[string]string{"stage": fmt.Sprint(g.Stage + 1), "to": strings.Join(approvers, ",")}})
	e.emit(tx, now, evApprovalRemind, g, "", map[string]any{"stage": g.Stage + 1, "stages": len(role.Approval),
		"stage_kind": role.Approval[g.Stage], "approvers": approvers, "days": e.Reminders.RemindAfter})
	return e.Done(tx, op, nil)
}

// escalatedApprover is who may decide a manager stage once it is
// escalated: the manager's manager, unless they are the person, a
// requester or an approver of an earlier stage. "" when none.
func (e *Engine) escalatedApprover(tx ledger.Tx, g *ledger.Grant) (string, error) {
	if g.StagePrincipal == "" {
		return "", nil
	}
	p, err := tx.Person(g.StagePrincipal)
	if err != nil || p == nil {
		return "", err
	}
	mm := managerAt(p, e.Now())
	if mm == "" || mm == g.Person || mm == g.StagePrincipal || slices.Contains(g.Approvers, mm) {
		return "", nil
	}
	requesters, err := e.requesters(tx, g)
	if err != nil || slices.Contains(requesters, mm) {
		return "", err
	}
	return mm, nil
}

// escalate runs an approval escalation.
func (e *Engine) escalate(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	g, sys, role, err := e.pendingStage(tx, op)
	if err != nil {
		return err
	}
	if g == nil {
		return e.Done(tx, op, nil)
	}
	approvers := stageApprovers(g, sys)
	var to []string
	if role.Approval[g.Stage] == policy.StageManager && g.StagePrincipal != "" {
		mm, err := e.escalatedApprover(tx, g)
		if err != nil {
			return err
		}
		if mm != "" {
			to = []string{mm}
			approvers = append(approvers, mm)
		}
	} else {
		to = slices.Clone(sys.Administrators)
		if sys.Coordinator != "" && !slices.Contains(to, sys.Coordinator) {
			to = append(to, sys.Coordinator)
		}
	}
	if len(to) == 0 {
		return e.Done(tx, op, nil) // nobody above to tell
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: evApprovalEscal, Person: g.Person, Actor: Worker, System: g.System, Role: g.Role,
		GrantID: g.ID, OpID: op.ID, Details: map[string]string{"stage": fmt.Sprint(g.Stage + 1), "to": strings.Join(to, ",")}})
	e.emit(tx, now, evApprovalEscal, g, "", map[string]any{"stage": g.Stage + 1, "stages": len(role.Approval),
		"stage_kind": role.Approval[g.Stage], "approvers": approvers, "to": to, "days": e.Reminders.EscalateAfter})
	return e.Done(tx, op, nil)
}

// escalatedTo is who, besides the stage's principal, may decide g's
// manager stage: the manager's manager once the stage was escalated (its
// escalation operation ran while the stage waited). "" when nobody.
func (e *Engine) escalatedTo(tx ledger.Tx, g *ledger.Grant) (string, error) {
	ops, err := tx.OperationsOf(g.ID)
	if err != nil {
		return "", err
	}
	for _, op := range ops {
		if op.Kind == KindEscalate && op.Connector == ledger.Internal && op.State == ledger.OpDone && op.Entitlement == stageTag(g.Stage) {
			return e.escalatedApprover(tx, g)
		}
	}
	return "", nil
}

// remindTask runs a manual task's reminder.
func (e *Engine) remindTask(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(op.Entitlement, "op:"), 10, 64)
	if err != nil {
		return e.Done(tx, op, nil)
	}
	task, err := tx.Operation(id)
	if err != nil {
		return err
	}
	if task == nil || task.State != ledger.OpWaiting {
		return e.Done(tx, op, nil)
	}
	data := map[string]any{"operation_id": fmt.Sprint(task.ID), "kind": task.Kind, "connector": task.Connector, "person": task.Person,
		"days": e.Reminders.RemindAfter}
	var system string
	if task.GrantID != "" {
		data["grant_id"] = task.GrantID
		if g, err := tx.Grant(task.GrantID); err == nil && g != nil {
			system = g.System
			data["system"], data["role"], data["request_id"] = g.System, g.Role, g.RequestID
			if s, ok := e.Catalogue().System(g.System); ok {
				data["administrators"] = s.Administrators
			}
		}
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: evTaskRemind, Person: task.Person, Actor: Worker, System: system, GrantID: task.GrantID,
		OpID: op.ID, Details: map[string]string{"task": fmt.Sprint(task.ID)}})
	tx.Emit(ledger.Event{Kind: evTaskRemind, Person: task.Person, At: now, Data: data})
	return e.Done(tx, op, nil)
}
