package engine_test

// The HR person record (DESIGN.md "The HR person record"), scheduled work
// (invariant 5) and the leaver (invariant 3).

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

var since2020 = tilgang.Date{Y: 2020, M: 1, D: 1}

func TestHRVersions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := employee(emp, mgr, since2020, tilgang.Date{})
	require.Equal(t, engine.Accepted, h.hr(5, p))
	moved := p
	moved.Employments = []tilgang.Employment{p.Employments[0]}
	moved.Employments[0].OrgUnit = "oppvekst/skule"
	ended := employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})
	for _, tc := range []struct {
		name    string
		version int64
		p       tilgang.Person
	}{
		{"an equal version", 5, moved},
		{"an older version", 4, moved},
		{"an older version with an end", 1, ended},
	} {
		require.Equal(t, engine.Ignored, h.hr(tc.version, tc.p), tc.name)
		row := h.person(emp)
		require.Equal(t, int64(5), row.Version, tc.name)
		require.Equal(t, "helse/hjemmetjenesten", row.Person.Employments[0].OrgUnit, tc.name)
		require.Zero(t, row.LeaveAt, tc.name)
	}
	require.Len(t, h.audit("hr.ignored"), 3)
	require.Empty(t, h.personOps(emp))
	require.Equal(t, engine.Accepted, h.hr(6, moved))
	require.Equal(t, "oppvekst/skule", h.person(emp).Person.Employments[0].OrgUnit)
}

func TestLeaveDate(t *testing.T) {
	t.Parallel()
	d := func(y, m, day int) tilgang.Date { return tilgang.Date{Y: y, M: m, D: day} }
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		name  string
		ends  []tilgang.Date // one employment each; zero is open
		leave time.Time      // zero: no leave
	}{
		{"summer time", []tilgang.Date{d(2025, 6, 30)}, utc("2025-06-30T22:00:00Z")},
		{"winter time", []tilgang.Date{d(2025, 12, 31)}, utc("2025-12-31T23:00:00Z")},
		{"ends the day before summer time starts", []tilgang.Date{d(2025, 3, 29)}, utc("2025-03-29T23:00:00Z")},
		{"ends the day before winter time starts", []tilgang.Date{d(2025, 10, 25)}, utc("2025-10-25T22:00:00Z")},
		{"ends on the day summer time starts", []tilgang.Date{d(2025, 3, 30)}, utc("2025-03-30T22:00:00Z")},
		{"the latest end of two", []tilgang.Date{d(2025, 12, 31), d(2025, 6, 30)}, utc("2025-12-31T23:00:00Z")},
		{"one open, one ended: no leave", []tilgang.Date{{}, d(2025, 6, 30)}, time.Time{}},
		{"one ended, one open: no leave", []tilgang.Date{d(2025, 6, 30), {}}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			p := employee(emp, mgr, since2020, tilgang.Date{})
			p.Employments = nil
			for i, end := range tc.ends {
				p.Employments = append(p.Employments, tilgang.Employment{ID: emp + "-" + string(rune('a'+i)), Primary: i == 0, Percent: 50,
					OrgUnit: "helse", Position: "sykepleier", Manager: mgr, Start: since2020, End: end})
			}
			// The event type does not matter: a joiner can bring an end.
			out, _ := h.send(tilgang.TypeHRJoiner, emp, "hr", envelope.HR{Version: 1, Person: p})
			require.Equal(t, engine.Accepted, out)
			row := h.person(emp)
			leaves := leaveOps(h.personOps(emp))
			if tc.leave.IsZero() {
				require.Zero(t, row.LeaveAt)
				require.Zero(t, row.LeaveOp)
				require.Empty(t, leaves)
				return
			}
			require.True(t, tc.leave.Equal(row.LeaveAt), "leave at %s, want %s", row.LeaveAt, tc.leave)
			require.Len(t, leaves, 1)
			require.Equal(t, row.LeaveOp, leaves[0].ID)
			require.True(t, tc.leave.Equal(leaves[0].DueAt), "leave operation due %s, want %s", leaves[0].DueAt, tc.leave)
			require.Equal(t, "00:00", leaves[0].DueAt.In(tilgang.Oslo).Format("15:04"))
		})
	}
}

func leaveOps(ops []ledger.Operation) []ledger.Operation {
	var out []ledger.Operation
	for _, op := range ops {
		if op.Kind == ledger.KindLeave {
			out = append(out, op)
		}
	}
	return out
}

// A future leave waits for its time, then runs once.
func TestScheduledLeave(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.toActive(emp, mgr, "kasse", "bruker")
	end := tilgang.Date{Y: 2025, M: 3, D: 31}
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, end)))
	leave := end.End()
	require.Empty(t, h.run(), "nothing is due before the leave")
	h.now = leave.Add(-time.Second)
	require.Empty(t, h.run(), "not a second early")
	// Until then the person is still employed: requests go through.
	require.Equal(t, tilgang.StateProvisioning, h.state(h.granted(emp, mgr, "kasse", "manuell")))
	require.False(t, h.person(emp).Left)

	h.now = leave
	require.Len(t, leaveOps(h.run()), 1)
	require.True(t, h.person(emp).Left)
	require.Equal(t, tilgang.StateRevoked, h.state(gid))
	require.Len(t, h.audit("person.left"), 1)
	var left int
	for _, e := range h.events() {
		if e.Kind == "person.left" && e.Person == emp {
			left++
		}
	}
	require.Equal(t, 1, left, "person.left is announced, so the manager is told")
	h.advance(24 * time.Hour)
	require.Empty(t, h.run(), "the leave runs once")
	require.Len(t, h.audit("person.left"), 1)
	// A repeat of the same record changes nothing.
	require.Equal(t, engine.Ignored, h.hr(2, employee(emp, mgr, since2020, end)))
	require.Equal(t, engine.Accepted, h.hr(3, employee(emp, mgr, since2020, end)))
	require.Empty(t, h.run())
	require.Len(t, h.audit("person.left"), 1)
}

// A later version without the end cancels the scheduled leave; one with
// another end moves it.
func TestLeaveCancelledOrMoved(t *testing.T) {
	t.Parallel()
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.toActive(emp, mgr, "kasse", "bruker")
		require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 31})))
		op := h.person(emp).LeaveOp
		require.NotZero(t, op)
		require.Equal(t, engine.Accepted, h.hr(3, employee(emp, mgr, since2020, tilgang.Date{})))
		row := h.person(emp)
		require.Zero(t, row.LeaveOp)
		require.Zero(t, row.LeaveAt)
		o, err := h.led.Operation(h.ctx, op)
		require.NoError(t, err)
		require.Equal(t, ledger.OpCancelled, o.State)
		h.now = time.Date(2025, 6, 1, 0, 0, 0, 0, tilgang.Oslo)
		require.Empty(t, h.run())
		require.False(t, h.person(emp).Left)
		require.Equal(t, tilgang.StateActive, h.state(gid))
		require.Empty(t, h.audit("person.left"))
	})
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 31})))
		first := h.person(emp).LeaveOp
		later := tilgang.Date{Y: 2025, M: 4, D: 30}
		require.Equal(t, engine.Accepted, h.hr(3, employee(emp, mgr, since2020, later)))
		row := h.person(emp)
		require.NotEqual(t, first, row.LeaveOp)
		require.True(t, later.End().Equal(row.LeaveAt))
		h.now = tilgang.Date{Y: 2025, M: 4, D: 15}.Start()
		require.Empty(t, h.run(), "the first leave date no longer holds")
		require.False(t, h.person(emp).Left)
		h.now = later.End()
		require.Equal(t, []string{"leave tilgang"}, kinds(h.run()))
		require.True(t, h.person(emp).Left)
	})
}

// A backdated leave runs at once; afterwards grant requests are denied.
func TestBackdatedLeave(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.toActive(emp, mgr, "kasse", "bruker")
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 2, D: 28})))
	// The leave ran with the HR record: the person is gone for every later message.
	require.True(t, h.person(emp).Left)
	require.Equal(t, tilgang.StateRevoking, h.state(gid))
	out, rid, denied := h.request(emp, mgr, "kasse", "manuell")
	require.Equal(t, engine.DeniedOut, out)
	require.Contains(t, h.request1(rid).Why, "has left")
	require.Equal(t, tilgang.StateDenied, h.state(denied))
	h.run()
	require.True(t, h.person(emp).Left)
	require.Equal(t, tilgang.StateRevoked, h.state(gid))
	out, rid, _ = h.request(emp, "hr", "kasse", "bruker")
	require.Equal(t, engine.DeniedOut, out)
	require.Contains(t, h.request1(rid).Why, "has left")
	ev := h.eventsOf(tilgang.EvGrantDenied, h.request1(rid).GrantID)
	require.Len(t, ev, 1)
	require.Contains(t, ev[0].Data["reason"], "has left")
}

// A rehire (a higher version with an open employment) lets requests through
// again and restores nothing; a new grant enables the account the leave
// disabled.
func TestRehire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// leave runs the leave; disabled says whether the account's disable
		// has run before the rehire.
		leave    func(h *harness)
		disabled bool
	}{
		{"after the disable ran", func(h *harness) { h.run() }, true},
		{"before the disable ran", func(h *harness) {
			// The backdated leave ran with the HR record; its revoke and
			// disable are still queued.
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			old := h.toActive(emp, mgr, "kasse", "bruker")
			left := employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 2, D: 28})
			require.Equal(t, engine.Accepted, h.hr(2, left))
			tc.leave(h)
			require.True(t, h.person(emp).Left)
			require.Equal(t, !tc.disabled, h.account(emp, "noop").Enabled)

			h.advance(time.Hour)
			back := left
			back.Employments = append(back.Employments, tilgang.Employment{ID: emp + "-2", Primary: true, Percent: 100, OrgUnit: "helse",
				Position: "sykepleier", Manager: mgr, Start: tilgang.Date{Y: 2025, M: 3, D: 10}})
			back.Employments[0].Primary = false
			require.Equal(t, engine.Accepted, h.hr(3, back))
			row := h.person(emp)
			require.False(t, row.Left)
			require.Zero(t, row.LeaveAt)
			if tc.disabled {
				// The new employment's unit and position reach the account,
				// which stays disabled: nothing is restored.
				require.Equal(t, []string{"ensure_account noop"}, kinds(h.run()))
				require.False(t, h.account(emp, "noop").Enabled)
			}

			// Another role on the same connector: kasse/bruker may still be
			// revoking, and a request for it would attach to it.
			gid := h.toActive0(emp, mgr, "gerica", "bruker")
			require.Equal(t, []string{"enable noop", "grant noop GERICA-BRUKER"}, kinds(h.ops(gid)))
			ran := kinds(h.run())
			if !tc.disabled {
				// The leave's removals first, the account's update, then the new grant.
				require.Equal(t, []string{"revoke noop KASSE-BRUKER", "disable noop", "ensure_account noop"}, ran[:3])
				ran = ran[3:]
			}
			require.Equal(t, []string{"enable noop", "grant noop GERICA-BRUKER"}, ran)
			require.Equal(t, tilgang.StateRevoked, h.state(old), "nothing is restored")
			require.Equal(t, tilgang.StateActive, h.state(gid))
			require.True(t, h.account(emp, "noop").Enabled, "a new grant after a rehire has a usable account")
		})
	}
}

// A future joiner's account is created disabled, with an enable on the
// start date.
func TestFutureJoiner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		person func() tilgang.Person
	}{
		{"a new person", func() tilgang.Person {
			return employee("1547-5", mgr, tilgang.Date{Y: 2025, M: 4, D: 1}, tilgang.Date{})
		}},
		{"a rehire starting later", func() tilgang.Person {
			p := employee("1547-5", mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2021, M: 6, D: 30})
			p.Employments = append(p.Employments, tilgang.Employment{ID: "1547-5-2", Primary: true, Percent: 100, OrgUnit: "helse",
				Position: "sykepleier", Manager: mgr, Start: tilgang.Date{Y: 2025, M: 4, D: 1}})
			p.Employments[0].Primary = false
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			start := tilgang.Date{Y: 2025, M: 4, D: 1}.Start()
			require.Equal(t, engine.Accepted, h.hr(1, tc.person()))
			gid := h.granted("1547-5", mgr, "kasse", "bruker")
			ops := h.personOps("1547-5")
			require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER", "enable noop"}, kinds(ops))
			require.True(t, ops[0].Disabled, "created disabled")
			require.True(t, start.Equal(ops[2].DueAt), "enabled on the start date, not %s", ops[2].DueAt)
			require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER"}, kinds(h.run()))
			require.Equal(t, tilgang.StateActive, h.state(gid))
			a := h.account("1547-5", "noop")
			require.NotNil(t, a)
			require.False(t, a.Enabled)
			h.now = start.Add(-time.Second)
			require.Empty(t, h.run())
			h.now = start
			require.Equal(t, []string{"enable noop"}, kinds(h.run()))
			require.True(t, h.account("1547-5", "noop").Enabled)
			// A second grant on the same connector finds the account.
			g2 := h.granted("1547-5", mgr, "kasse", "manuell")
			require.Equal(t, []string{"ensure_account manual", "grant manual Kasse: manuell rolle"}, kinds(h.ops(g2)))
			require.False(t, h.ops(g2)[0].Disabled, "started: created enabled")
		})
	}
}

// The leaver cancels queued work of the person (a waiting manual task is
// cancelled and announced), disables every account, revokes live grants.
func TestLeaver(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	active := h.toActive(emp, mgr, "kasse", "bruker")
	shared := h.toActive(emp, mgr, "sak", "les")
	// A manual grant whose account task waits for an administrator.
	manual := h.granted(emp, mgr, "kasse", "manuell")
	require.Equal(t, []string{"ensure_account manual"}, kinds(h.run()))
	task := h.ops(manual)[0]
	require.Equal(t, ledger.OpWaiting, task.State)
	require.Len(t, h.eventsOf(tilgang.EvTaskManual, manual), 1)
	waitingApproval := h.granted(emp, mgr, "kasse", "leder")
	waitingTraining := h.granted(emp, mgr, "gerica", "bruker")
	// Work that has not started: a grant on a connector whose chain is blocked.
	h.fail = func(op ledger.Operation) error {
		if op.Entitlement == fellesA {
			return transient
		}
		return nil
	}
	_, rid, arkiv := h.request(emp, mgr, "arkiv", "leser")
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	h.run()
	require.Equal(t, tilgang.StateProvisioning, h.state(arkiv))
	h.fail = nil
	// Another person's work goes on untouched.
	other := h.granted(emp2, mgr, "kasse", "manuell")
	require.Equal(t, []string{"ensure_account manual"}, kinds(h.run()))

	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 9})))
	// The backdated leave ran with the HR record.

	require.True(t, h.person(emp).Left)
	// The waiting task is cancelled and announced.
	o, err := h.led.Operation(h.ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.OpCancelled, o.State)
	tc := h.eventsOf(tilgang.EvTaskCancelled, manual)
	require.Len(t, tc, 1)
	require.Equal(t, "1547-1", tc[0].Person)
	require.Equal(t, "the person has left", tc[0].Data["reason"])
	require.Equal(t, h.grant(manual).RequestID, tc[0].Data["request_id"])
	require.Equal(t, fmt.Sprint(task.ID), tc[0].Data["operation_id"])
	// Waiting grants are cancelled.
	require.Equal(t, tilgang.StateCancelled, h.state(waitingApproval))
	require.Equal(t, tilgang.StateCancelled, h.state(waitingTraining))
	// Queued work of the person is cancelled, except removals.
	for _, op := range h.personOps(emp, ledger.OpQueued) {
		require.Contains(t, []string{ledger.KindRevoke, ledger.KindDisable}, op.Kind, "queued after the leave: %v", kinds([]ledger.Operation{op}))
	}
	// The other person's task still waits.
	require.Equal(t, ledger.OpWaiting, h.ops(other)[0].State)

	ran := h.run()
	require.ElementsMatch(t, []string{"disable noop", "disable ad", "revoke noop KASSE-BRUKER",
		"revoke ad " + fellesA, "revoke ad " + fellesB, "revoke ad " + sakLes}, kinds(ran))
	for _, gid := range []string{active, shared} {
		require.Equal(t, tilgang.StateRevoked, h.state(gid))
		ev := h.eventsOf(tilgang.EvGrantRevoked, gid)
		require.Len(t, ev, 1)
		require.Equal(t, "leaver", ev[0].Data["cause"])
	}
	for _, gid := range []string{manual, arkiv} {
		require.True(t, h.state(gid).Final(), "%s is %s", gid, h.state(gid))
	}
	require.False(t, h.account(emp, "noop").Enabled)
	require.False(t, h.account(emp, "ad").Enabled)
	// Nothing of the person is left to do.
	require.Empty(t, h.personOps(emp, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting))
	require.Equal(t, tilgang.StateProvisioning, h.state(other))
}

// A future joiner's grant is cancelled before anything ran: the enable
// planned for the start date goes with the account that was never made, and
// a later grant makes the account.
func TestFutureJoinerCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	start := tilgang.Date{Y: 2025, M: 4, D: 1}
	require.Equal(t, engine.Accepted, h.hr(1, employee("1547-5", mgr, start, tilgang.Date{})))
	gid := h.granted("1547-5", mgr, "kasse", "bruker")
	require.Equal(t, engine.Accepted, h.operator(tilgang.TypeCancel, "1547-5", gid))
	h.now = start.Start()
	require.Empty(t, h.run(), "no enable of an account that was never made")
	require.Nil(t, h.account("1547-5", "noop"))
	g2 := h.granted("1547-5", mgr, "kasse", "bruker")
	require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER"}, kinds(h.ops(g2)))
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(g2))
	require.True(t, h.account("1547-5", "noop").Enabled)
}

// A leave that is running when a later version takes the end away finds
// itself superseded and does nothing.
func TestLeaveSupersededWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.toActive(emp, mgr, "kasse", "bruker")
	end := tilgang.Date{Y: 2025, M: 3, D: 20}
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, end)))
	h.now = end.End().Add(time.Minute)
	leave, ok := h.claim()
	require.True(t, ok)
	require.Equal(t, ledger.KindLeave, leave.Kind)
	h.now = end.End().Add(-time.Minute) // the new version was sent before the leave moment
	require.Equal(t, engine.Accepted, h.hr(3, employee(emp, mgr, since2020, tilgang.Date{})))
	h.now = end.End().Add(time.Minute)
	h.complete(leave)
	require.False(t, h.person(emp).Left)
	require.Equal(t, tilgang.StateActive, h.state(gid))
	require.Empty(t, h.audit("person.left"))
	require.Empty(t, h.run())
	o, err := h.led.Operation(h.ctx, leave.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.OpDone, o.State)
}

// A future joiner's account cannot be made; an operator retries after the
// start date: the account is made enabled, since the person has started.
func TestFutureJoinerAccountRetriedAfterStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	start := tilgang.Date{Y: 2025, M: 4, D: 1}
	require.Equal(t, engine.Accepted, h.hr(1, employee("1547-5", mgr, start, tilgang.Date{})))
	gid := h.granted("1547-5", mgr, "kasse", "bruker")
	h.fail = func(op ledger.Operation) error {
		if op.Kind == ledger.KindEnsureAccount {
			return permanent
		}
		return nil
	}
	h.run()
	require.Equal(t, tilgang.StateFailed, h.state(gid))
	h.now = start.Start().Add(time.Hour)
	h.run() // the enable of the start date finds no account
	require.Nil(t, h.account("1547-5", "noop"), "an enable makes no account")
	h.fail = nil
	require.Equal(t, engine.Accepted, h.operator(tilgang.TypeRetry, "1547-5", gid))
	require.Equal(t, []string{"ensure_account noop"}, kinds(h.run()))
	require.Equal(t, tilgang.StateActive, h.state(gid))
	a := h.account("1547-5", "noop")
	require.NotNil(t, a)
	require.True(t, a.Enabled, "the person has started")
}

// An account creation that was tried and waits to be tried again when the
// leave runs may have made the account: it is disabled, never left enabled.
func TestLeaverDisablesAccountBeingMade(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.granted(emp, mgr, "kasse", "bruker")
	ensure, ok := h.claim()
	require.True(t, ok)
	require.Equal(t, ledger.KindEnsureAccount, ensure.Kind)
	h.inTx(func(tx ledger.Tx) error { return h.eng.Resolved(tx, ensure, map[string]string{"username": "asov"}) })
	ensure.Target = map[string]string{"username": "asov"}
	h.failed(ensure, transient) // the call timed out: the account may exist
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})))
	h.advance(time.Hour)
	ran := h.run() // the backdated leave ran with the HR record; its disable runs now
	require.Contains(t, kinds(ran), "disable noop")
	for _, op := range ran {
		if op.Kind == ledger.KindDisable {
			require.Equal(t, "asov", op.Target["username"], "the disable finds what the creation resolved")
		}
	}
	require.True(t, h.state(gid).Final())
	require.Empty(t, h.personOps(emp, ledger.OpQueued, ledger.OpClaimed, ledger.OpWaiting))
}

// A change recorded ahead (a new unit and manager from a later date)
// applies on its date: before it the new manager is not yet the manager;
// when a newer version arrives after the date, before the change ran, the
// change is applied first, in the same transaction, and the new manager is
// the manager from then.
func TestFutureDatedMoverDueWhenANewVersionArrives(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	day := tilgang.Date{Y: 2025, M: 4, D: 1}
	p := employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 3, D: 31})
	p.Employments = append(p.Employments, tilgang.Employment{ID: emp + "-2", Primary: true, Percent: 100, OrgUnit: "oppvekst",
		Position: "rektor", Manager: mgrMgr, Start: day})
	require.Equal(t, engine.Accepted, h.hr(2, p))
	queued := h.personOps(emp, ledger.OpQueued)
	require.Equal(t, []string{engine.KindChange + " tilgang"}, kinds(queued))
	require.True(t, day.Start().Equal(queued[0].DueAt), "at 00:00 Oslo on the date: %s", queued[0].DueAt)
	out, _, _ := h.request(emp, mgrMgr, "kasse", "bruker")
	require.Equal(t, engine.DeniedOut, out, "not the manager before the date")
	require.Empty(t, h.audit("hr.change"))

	// The day after, before the change ran, a name change arrives.
	h.now = day.Start().Add(26 * time.Hour)
	p.FamilyName = "Nygift"
	require.Equal(t, engine.Accepted, h.hr(3, p))
	changes := h.audit("hr.change")
	require.Len(t, changes, 1, "applied first, once")
	require.Equal(t, mgr, changes[0].Details["manager.from"])
	require.Equal(t, mgrMgr, changes[0].Details["manager.to"])
	require.Empty(t, h.personOps(emp, ledger.OpQueued), "nothing more changes ahead")
	var moved []ledger.Event
	for _, e := range h.events() {
		if e.Kind == tilgang.EvPersonMoved {
			moved = append(moved, e)
		}
	}
	require.Len(t, moved, 1, "announced once")
	require.Equal(t, []any{mgr, mgrMgr}, moved[0].Data["managers"], "both managers are told")
	out, _, _ = h.request(emp, mgrMgr, "kasse", "bruker")
	require.Equal(t, engine.Accepted, out, "the manager from the date")
}
