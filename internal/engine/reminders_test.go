package engine_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// osloAt is a moment of an Oslo day.
func osloAt(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, tilgang.Oslo)
}

// TestApprovalOverEasterIsRemindedAndEscalated: an approval pending from
// the Wednesday before Easter 2026 (Skjærtorsdag 2 April to 2. påskedag 6
// April are holidays) is reminded after 3 working days, on Thursday 9
// April, and escalated after 5, on Monday 13 April, to the manager's
// manager, who may then approve the manager stage; the systemansvarlig
// stage is escalated to every administrator of the system.
func TestApprovalOverEasterIsRemindedAndEscalated(t *testing.T) {
	h := newHarness(t)
	h.eng.Reminders = engine.Reminders{RemindAfter: 3, EscalateAfter: 5}
	h.now = osloAt(2026, 3, 31, 9)
	h.join()
	h.now = osloAt(2026, 4, 1, 10)
	out, req, gid := h.request(emp, "hr", "arkiv", "arkivar")
	require.Equal(t, engine.Accepted, out)
	require.Equal(t, mgr, h.grant(gid).StagePrincipal)

	var remind, escalate ledger.Operation
	for _, op := range h.ops(gid) {
		switch op.Kind {
		case engine.KindRemind:
			remind = op
		case engine.KindEscalate:
			escalate = op
		}
	}
	require.Equal(t, osloAt(2026, 4, 9, 10).UTC(), remind.DueAt.UTC(), "3 working days after Wednesday 1 April: Thursday 9 April")
	require.Equal(t, osloAt(2026, 4, 13, 10).UTC(), escalate.DueAt.UTC(), "5 working days: Monday 13 April")

	h.now = osloAt(2026, 4, 9, 9) // the day before, and the morning: nothing yet
	h.run()
	require.Empty(t, h.eventsOf("approval.reminded", gid))
	h.now = osloAt(2026, 4, 9, 10)
	h.run()
	rem := h.eventsOf("approval.reminded", gid)
	require.Len(t, rem, 1)
	require.Equal(t, []any{mgr}, rem[0].Data["approvers"])
	require.Empty(t, h.eventsOf("approval.escalated", gid))

	// Before the escalation the manager's manager may not decide.
	require.Equal(t, engine.Rejected, h.decide(emp, mgrMgr, req, "approve"))

	h.now = osloAt(2026, 4, 13, 10)
	h.run()
	esc := h.eventsOf("approval.escalated", gid)
	require.Len(t, esc, 1)
	require.Equal(t, []any{mgrMgr}, esc[0].Data["to"])
	require.Equal(t, "manager", esc[0].Data["stage_kind"])
	h.run()
	require.Len(t, h.eventsOf("approval.escalated", gid), 1, "an escalation runs once")

	// Now the manager's manager may approve the manager stage.
	require.Equal(t, engine.Accepted, h.decide(emp, mgrMgr, req, "approve"))
	g := h.grant(gid)
	require.Equal(t, tilgang.StatePendingApproval, g.State)
	require.Equal(t, 1, g.Stage)
	require.Equal(t, []string{mgrMgr}, g.Approvers)

	// The systemansvarlig stage: reminded to the administrators, escalated
	// to them (and a coordinator, were there one).
	h.now = osloAt(2026, 4, 20, 10)
	h.run()
	esc = h.eventsOf("approval.escalated", gid)
	require.Len(t, esc, 2)
	require.Equal(t, []any{arkivA1, arkivA2}, esc[1].Data["to"])
	require.Len(t, h.eventsOf("approval.reminded", gid), 2)

	// Approved, the grant goes on; reminders left behind do nothing.
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, req, "approve"))
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gid))
	h.now = osloAt(2026, 6, 1, 10)
	h.run()
	require.Len(t, h.eventsOf("approval.reminded", gid), 2)
}

// TestManualTaskIsReminded: a manual task still waiting after the
// reminder's working days is announced as task.reminded; one done before
// is not.
func TestManualTaskIsReminded(t *testing.T) {
	h := newHarness(t)
	h.eng.Reminders = engine.Reminders{RemindAfter: 2}
	h.now = osloAt(2026, 4, 1, 10)
	h.join()
	gid := h.granted(emp, mgr, "kasse", "manuell")
	h.run()
	require.Len(t, h.eventsOf(tilgang.EvTaskManual, gid), 1)
	h.now = osloAt(2026, 4, 8, 9)
	h.run()
	require.Empty(t, h.eventsOf("task.reminded", gid), "2 working days after 1 April is 8 April, 10:00")
	h.now = osloAt(2026, 4, 8, 10)
	h.run()
	rem := h.eventsOf("task.reminded", gid)
	require.Len(t, rem, 1)
	require.Equal(t, []any{kasseA1, kasseA2}, rem[0].Data["administrators"])
}

// TestManualTaskIsEscalated: a manual task still waiting after the
// escalation's working days is announced as task.escalated to the
// system's administrators (kasse names no coordinator); one completed
// after its reminder is not escalated.
func TestManualTaskIsEscalated(t *testing.T) {
	for _, done := range []bool{false, true} {
		t.Run(fmt.Sprintf("done before: %v", done), func(t *testing.T) {
			h := newHarness(t)
			h.eng.Reminders = engine.Reminders{RemindAfter: 1, EscalateAfter: 2}
			h.now = osloAt(2026, 4, 1, 10)
			h.join()
			gid := h.granted(emp, mgr, "kasse", "manuell")
			h.run()
			task := h.eventsOf(tilgang.EvTaskManual, gid)
			require.Len(t, task, 1)
			h.now = osloAt(2026, 4, 7, 10) // Skjærtorsdag to 2. påskedag do not count
			h.run()
			require.Len(t, h.eventsOf(tilgang.EvTaskReminded, gid), 1)
			require.Empty(t, h.eventsOf(tilgang.EvTaskEscalated, gid), "1 working day, not 2")
			if done {
				id, err := strconv.ParseInt(task[0].Data["operation_id"].(string), 10, 64)
				require.NoError(t, err)
				require.Equal(t, engine.Accepted, h.task(emp, kasseA1, id, "done"))
			}
			h.now = osloAt(2026, 4, 8, 10)
			h.run()
			esc := h.eventsOf(tilgang.EvTaskEscalated, gid)
			if done {
				require.Empty(t, esc, "a task completed is not escalated")
				return
			}
			require.Len(t, esc, 1)
			require.Equal(t, []any{kasseA1, kasseA2}, esc[0].Data["to"])
			require.EqualValues(t, 2, esc[0].Data["days"])
			require.Len(t, h.audit(tilgang.EvTaskEscalated), 1)
		})
	}
}
