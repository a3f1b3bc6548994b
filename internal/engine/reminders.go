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
// count; package workdays). A manual task gets a reminder and an
// escalation the same way when it starts waiting. They survive restarts,
// are claimed under a lease and run once. When one runs and its approval
// stage (or task) still waits, it announces approval.reminded,
// approval.escalated, task.reminded or task.escalated, which the notifier
// mails; otherwise it is done without effect.
//
// Escalating a manager stage tells the manager's manager, who may then
// approve or deny the stage as well (decision: an escalated manager
// stage); escalating a systemansvarlig stage tells every administrator of
// the system and its coordinator (the coordinator does not approve).
// Escalating a manual task tells the same people: the administrators, who
// complete it, and the coordinator, who follows it up.

// Kinds of the reminder operations (connector tilgang).
const (
	KindRemind       = "remind"        // an approval stage still pending
	KindEscalate     = "escalate"      // an approval stage still pending, later
	KindRemindTask   = "remind_task"   // a manual task still waiting
	KindEscalateTask = "escalate_task" // a manual task still waiting, later
	evApprovalRemind = tilgang.EvApprovalReminded
	evApprovalEscal  = tilgang.EvApprovalEscalated
	evTaskRemind     = tilgang.EvTaskReminded
	evTaskEscal      = tilgang.EvTaskEscalated
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

// scheduleTaskReminders queues the reminder and the escalation of a
// manual task.
func (e *Engine) scheduleTaskReminders(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	for _, r := range []struct {
		kind string
		days int
	}{{KindRemindTask, e.Reminders.RemindAfter}, {KindEscalateTask, e.Reminders.EscalateAfter}} {
		if r.days <= 0 {
			continue
		}
		if _, err := planAt(tx, now, op.Seq).queue(ledger.Operation{GrantID: op.GrantID, Person: op.Person, Connector: ledger.Internal,
			Kind: r.kind, Entitlement: "op:" + strconv.FormatInt(op.ID, 10), DueAt: workdays.Add(now, r.days)}); err != nil {
			return err
		}
	}
	return nil
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
	if ok {
		role = withStages(g, role)
	}
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

// waitingTask is the manual task op is about when it still waits, with
// what its events say of it and its system ("" and nil without a grant).
func (e *Engine) waitingTask(tx ledger.Tx, op ledger.Operation, days int) (*ledger.Operation, map[string]any, *policy.System, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(op.Entitlement, "op:"), 10, 64)
	if err != nil {
		return nil, nil, nil, nil
	}
	task, err := tx.Operation(id)
	if err != nil || task == nil || task.State != ledger.OpWaiting {
		return nil, nil, nil, err
	}
	data := map[string]any{"operation_id": fmt.Sprint(task.ID), "kind": task.Kind, "connector": task.Connector, "person": task.Person,
		"days": days}
	var sys *policy.System
	if task.GrantID != "" {
		data["grant_id"] = task.GrantID
		if g, err := tx.Grant(task.GrantID); err == nil && g != nil {
			data["system"], data["role"], data["request_id"] = g.System, g.Role, g.RequestID
			if s, ok := e.Catalogue().System(g.System); ok {
				sys = s
				data["administrators"] = s.Administrators
			}
		}
	}
	return task, data, sys, nil
}

// remindTask runs a manual task's reminder.
func (e *Engine) remindTask(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	task, data, sys, err := e.waitingTask(tx, op, e.Reminders.RemindAfter)
	if err != nil {
		return err
	}
	if task == nil {
		return e.Done(tx, op, nil)
	}
	var system string
	if sys != nil {
		system = sys.ID
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: evTaskRemind, Person: task.Person, Actor: Worker, System: system, GrantID: task.GrantID,
		OpID: op.ID, Details: map[string]string{"task": fmt.Sprint(task.ID)}})
	tx.Emit(ledger.Event{Kind: evTaskRemind, Person: task.Person, At: now, Data: data})
	return e.Done(tx, op, nil)
}

// escalateTask runs a manual task's escalation: the system's
// administrators and its coordinator are told.
func (e *Engine) escalateTask(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	task, data, sys, err := e.waitingTask(tx, op, e.Reminders.EscalateAfter)
	if err != nil {
		return err
	}
	if task == nil || sys == nil {
		return e.Done(tx, op, nil) // done, or nobody to tell
	}
	to := slices.Clone(sys.Administrators)
	if sys.Coordinator != "" && !slices.Contains(to, sys.Coordinator) {
		to = append(to, sys.Coordinator)
	}
	data["to"] = to
	tx.Audit(ledger.AuditEntry{At: now, Kind: evTaskEscal, Person: task.Person, Actor: Worker, System: sys.ID, GrantID: task.GrantID,
		OpID: op.ID, Details: map[string]string{"task": fmt.Sprint(task.ID), "to": strings.Join(to, ",")}})
	tx.Emit(ledger.Event{Kind: evTaskEscal, Person: task.Person, At: now, Data: data})
	return e.Done(tx, op, nil)
}
