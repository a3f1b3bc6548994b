package engine_test

// The rows of DESIGN.md's transition table ("Grants, requests and their
// states"), each driven through messages and operation results.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// (none) -> pending_approval / pending_training / provisioning / denied.
func TestNewGrantRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, person, actor, system, role string
		out                               engine.Outcome
		state                             tilgang.GrantState
		event                             string // beside request.accepted or in place of it
		reason                            string // of a denial
	}{
		{name: "no approval, no training: provisioning", person: emp, actor: mgr, system: "kasse", role: "bruker",
			out: engine.Accepted, state: tilgang.StateProvisioning},
		{name: "approval stages: pending_approval", person: emp, actor: mgr, system: "kasse", role: "leder",
			out: engine.Accepted, state: tilgang.StatePendingApproval, event: tilgang.EvApprovalPending},
		{name: "training without approval: pending_training", person: emp, actor: mgr, system: "gerica", role: "bruker",
			out: engine.Accepted, state: tilgang.StatePendingTraining, event: tilgang.EvTrainingPending},
		{name: "hr may request what hr may", person: emp, actor: "hr", system: "kasse", role: "bruker",
			out: engine.Accepted, state: tilgang.StateProvisioning},
		{name: "self may request what self may", person: emp, actor: emp, system: "kasse", role: "bruker",
			out: engine.Accepted, state: tilgang.StateProvisioning},
		{name: "not requestable by a colleague: denied", person: emp, actor: emp2, system: "kasse", role: "bruker",
			out: engine.DeniedOut, state: tilgang.StateDenied, event: tilgang.EvGrantDenied, reason: "requestable by"},
		{name: "not requestable by self: denied", person: emp, actor: emp, system: "kasse", role: "leder",
			out: engine.DeniedOut, state: tilgang.StateDenied, event: tilgang.EvGrantDenied, reason: "requestable by"},
		{name: "not requestable by hr: denied", person: emp, actor: "hr", system: "kasse", role: "manuell",
			out: engine.DeniedOut, state: tilgang.StateDenied, event: tilgang.EvGrantDenied, reason: "requestable by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			out, rid, gid := h.request(tc.person, tc.actor, tc.system, tc.role)
			require.Equal(t, tc.out, out)
			require.NotEmpty(t, gid)
			g := h.grant(gid)
			require.Equal(t, tc.state, g.State)
			require.Equal(t, rid, g.RequestID)
			require.Equal(t, tc.actor, g.Requester)
			// One chained transition from nothing straight to the state the
			// policy decided: a grant without approval stages never was
			// pending approval.
			require.Equal(t, []string{">" + string(tc.state)}, h.transitions(gid))
			if tc.state == tilgang.StateDenied {
				require.Equal(t, "denied", h.request1(rid).Outcome)
				require.Empty(t, h.eventsOf(tilgang.EvRequestAccepted, gid))
				ev := h.eventsOf(tc.event, gid)
				require.Len(t, ev, 1)
				require.Contains(t, ev[0].Data["reason"], tc.reason)
				require.Equal(t, rid, ev[0].Data["request_id"])
				require.Empty(t, h.ops(gid))
				return
			}
			require.Equal(t, "accepted", h.request1(rid).Outcome)
			require.Len(t, h.eventsOf(tilgang.EvRequestAccepted, gid), 1)
			if tc.event != "" {
				require.Len(t, h.eventsOf(tc.event, gid), 1)
			}
			if tc.state != tilgang.StateProvisioning {
				require.Empty(t, h.ops(gid), "nothing is provisioned before approval and training")
				return
			}
			require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER"}, kinds(h.ops(gid)))
			h.run()
			require.Equal(t, tilgang.StateActive, h.state(gid))
			require.Len(t, h.eventsOf(tilgang.EvGrantActive, gid), 1)
		})
	}
}

// Invalid requests are rejected, not denied, and make no grant.
func TestRequestRejected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, person, system, role, reason string
	}{
		{"unknown system", emp, "nosuch", "bruker", "unknown system"},
		{"unknown role", emp, "kasse", "nosuch", "has no role"},
		{"unknown person", "1547-99", "kasse", "bruker", "unknown person"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			out, rid, gid := h.request(tc.person, mgr, tc.system, tc.role)
			require.Equal(t, engine.Rejected, out)
			require.Empty(t, gid)
			require.Equal(t, "rejected", h.request1(rid).Outcome)
			ev := h.eventsOf(tilgang.EvRequestRejected, "")
			require.Len(t, ev, 1)
			require.Contains(t, ev[0].Data["reason"], tc.reason)
			require.Equal(t, tc.person, ev[0].Person)
			require.Len(t, h.audit("message.rejected"), 1)
			require.Empty(t, h.audit("grant.state"))
		})
	}
}

// pending_approval -> next stage -> provisioning, and -> pending_training.
func TestApprovalStages(t *testing.T) {
	t.Parallel()
	t.Run("manager then systemansvarlig then provisioning", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		_, rid, gid := h.request(emp, "hr", "arkiv", "arkivar")
		require.Equal(t, tilgang.StatePendingApproval, h.state(gid))
		require.Equal(t, mgr, h.grant(gid).StagePrincipal)
		require.Equal(t, engine.Accepted, h.decide(emp, mgr, rid, "approve"))
		g := h.grant(gid)
		require.Equal(t, tilgang.StatePendingApproval, g.State)
		require.Equal(t, 1, g.Stage)
		require.Empty(t, g.StagePrincipal, "a systemansvarlig stage is any administrator's")
		pend := h.eventsOf(tilgang.EvApprovalPending, gid)
		require.Len(t, pend, 2)
		require.Equal(t, []any{arkivA1, arkivA2}, pend[1].Data["approvers"])
		require.Equal(t, engine.Accepted, h.decide(emp, arkivA2, rid, "approve"))
		g = h.grant(gid)
		require.Equal(t, tilgang.StateProvisioning, g.State)
		require.Equal(t, []string{mgr, arkivA2}, g.Approvers)
		h.run()
		require.Equal(t, tilgang.StateActive, h.state(gid))
		require.Equal(t, []string{">pending_approval", "pending_approval>pending_approval", "pending_approval>provisioning",
			"provisioning>active"}, h.transitions(gid))
	})
	t.Run("approval then training", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		_, rid, gid := h.request(emp, mgr, "gerica", "kurs")
		require.Equal(t, engine.Accepted, h.decide(emp, gericaA, rid, "approve"))
		require.Equal(t, tilgang.StatePendingTraining, h.state(gid))
		require.Len(t, h.eventsOf(tilgang.EvTrainingPending, gid), 1)
		require.Empty(t, h.ops(gid))
		require.Equal(t, engine.Accepted, h.train(emp, gericaA, "gerica", "kurs"))
		require.Equal(t, tilgang.StateProvisioning, h.state(gid))
		h.run()
		require.Equal(t, tilgang.StateActive, h.state(gid))
	})
	t.Run("deny", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		_, rid, gid := h.request(emp, mgr, "kasse", "leder")
		require.Equal(t, engine.Accepted, h.decide(emp, mgrMgr, rid, "deny"))
		require.Equal(t, tilgang.StateDenied, h.state(gid))
		ev := h.eventsOf(tilgang.EvGrantDenied, gid)
		require.Len(t, ev, 1)
		require.Equal(t, "vurdert", ev[0].Data["reason"])
		require.Empty(t, h.ops(gid))
		require.Equal(t, []string{">pending_approval", "pending_approval>denied"}, h.transitions(gid))
		// Denied is final: a new request opens a new grant.
		_, _, again := h.request(emp, mgr, "kasse", "leder")
		require.NotEqual(t, gid, again)
	})
}

// pending_training -> provisioning by an administrator of the system only.
func TestTrainingConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.granted(emp, mgr, "gerica", "bruker")
	require.Equal(t, tilgang.StatePendingTraining, h.state(gid))
	for _, tc := range []struct{ name, actor string }{
		{"the manager", mgr},
		{"the person", emp},
		{"an administrator of another system", kasseA1},
		{"hr", "hr"},
	} {
		require.Equal(t, engine.Rejected, h.train(emp, tc.actor, "gerica", "bruker"), tc.name)
		require.Equal(t, tilgang.StatePendingTraining, h.state(gid), tc.name)
	}
	// Training for a role the person has no grant waiting for.
	require.Equal(t, engine.Rejected, h.train(emp2, gericaA, "gerica", "bruker"))
	require.Equal(t, engine.Accepted, h.train(emp, gericaA, "gerica", "bruker"))
	g := h.grant(gid)
	require.Equal(t, tilgang.StateProvisioning, g.State)
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gid))
	require.Equal(t, []string{">pending_training", "pending_training>provisioning", "provisioning>active"}, h.transitions(gid))
	last := h.audit("grant.state")
	require.Equal(t, gericaA, last[1].Actor, "the confirmation is chained with who confirmed")
	// A second confirmation has nothing to confirm.
	require.Equal(t, engine.Rejected, h.train(emp, gericaA, "gerica", "bruker"))
}

// provisioning -> failed, on a permanent error or when retryable errors
// exhaust MaxAttempts; failed -> provisioning -> active by an operator retry.
func TestProvisioningFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		attempts int // calls before the grant fails
	}{
		{"permanent error", permanent, 1},
		{"retryable errors until MaxAttempts", transient, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			gid := h.granted(emp, mgr, "kasse", "bruker")
			calls := 0
			h.fail = func(op ledger.Operation) error {
				if op.Kind != ledger.KindGrant {
					return nil
				}
				calls++
				return tc.err
			}
			var lastNext time.Time
			var waits []time.Duration
			for i := 0; i < 20 && h.state(gid) == tilgang.StateProvisioning; i++ {
				h.run()
				op := ofGrant(h.personOps(emp), gid)[1]
				require.Equal(t, ledger.KindGrant, op.Kind)
				if op.State == ledger.OpQueued {
					require.True(t, op.NextAt.After(h.now), "a retry waits")
					require.True(t, op.NextAt.After(lastNext), "backoff moves the next attempt forward")
					require.Equal(t, op.DueAt, ofGrant(h.personOps(emp), gid)[0].DueAt, "a retry keeps its place in the chain")
					waits = append(waits, op.NextAt.Sub(h.now))
					lastNext = op.NextAt
					// Not claimable before its time.
					require.Empty(t, h.run())
					h.now = op.NextAt
				}
			}
			require.Equal(t, tc.attempts, calls)
			for i := 1; i < len(waits); i++ {
				require.Greater(t, waits[i], waits[i-1], "backoff grows: %v", waits)
			}
			g := h.grant(gid)
			require.Equal(t, tilgang.StateFailed, g.State)
			ev := h.eventsOf(tilgang.EvGrantFailed, gid)
			require.Len(t, ev, 1)
			require.Contains(t, ev[0].Data["reason"], tc.err.Error())
			op := h.ops(gid)[1]
			require.Equal(t, ledger.OpFailed, op.State)
			require.Equal(t, tc.attempts, op.Attempts)

			// A failed grant is not cancelled by an operator: it has started.
			require.Equal(t, engine.Rejected, h.operator(tilgang.TypeCancel, emp, gid))
			h.fail = nil
			require.Equal(t, engine.Accepted, h.operator(tilgang.TypeRetry, emp, gid))
			require.Equal(t, tilgang.StateProvisioning, h.state(gid))
			h.run()
			require.Equal(t, tilgang.StateActive, h.state(gid))
			require.Equal(t, []string{">provisioning", "provisioning>failed", "failed>provisioning", "provisioning>active"}, h.transitions(gid))
			retry := h.audit("grant.state")
			require.Equal(t, "dev", retry[len(retry)-2].Actor)
			// Retrying an active grant is refused.
			require.Equal(t, engine.Rejected, h.operator(tilgang.TypeRetry, emp, gid))
		})
	}
}

// active -> revoking -> revoked; revoking -> revoke_failed -> (retry)
// revoking -> revoked.
func TestRevoke(t *testing.T) {
	t.Parallel()
	t.Run("revoked", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.toActive(emp, mgr, "kasse", "bruker")
		out, rid := h.revoke(emp, mgr, "kasse", "bruker")
		require.Equal(t, engine.Accepted, out)
		require.Equal(t, gid, h.request1(rid).GrantID)
		require.Equal(t, tilgang.StateRevoking, h.state(gid))
		require.Equal(t, []string{"revoke noop KASSE-BRUKER"}, kinds(h.run()))
		require.Equal(t, tilgang.StateRevoked, h.state(gid))
		ev := h.eventsOf(tilgang.EvGrantRevoked, gid)
		require.Len(t, ev, 1)
		require.Equal(t, "revoke", ev[0].Data["cause"])
		require.Equal(t, []string{">provisioning", "provisioning>active", "active>revoking", "revoking>revoked"}, h.transitions(gid))
	})
	t.Run("who may revoke", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.toActive(emp, mgr, "kasse", "bruker")
		for _, actor := range []string{emp, emp2, mgrMgr, gericaA} {
			out, _ := h.revoke(emp, actor, "kasse", "bruker")
			require.Equal(t, engine.Rejected, out, actor)
		}
		require.Equal(t, tilgang.StateActive, h.state(gid))
		for _, actor := range []string{kasseA1, "hr"} {
			g2 := h.toActive(emp2, mgr, "kasse", "bruker")
			out, _ := h.revoke(emp2, actor, "kasse", "bruker")
			require.Equal(t, engine.Accepted, out, actor)
			h.run()
			require.Equal(t, tilgang.StateRevoked, h.state(g2), actor)
		}
		// Nothing open to revoke.
		out, _ := h.revoke(emp2, mgr, "kasse", "bruker")
		require.Equal(t, engine.Rejected, out)
	})
	t.Run("revoke_failed then retried", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.toActive(emp, mgr, "kasse", "bruker")
		h.revoke(emp, mgr, "kasse", "bruker")
		h.fail = func(op ledger.Operation) error { return permanent }
		h.run()
		require.Equal(t, tilgang.StateRevokeFailed, h.state(gid))
		ev := h.eventsOf(tilgang.EvGrantRevokeFail, gid)
		require.Len(t, ev, 1)
		require.Contains(t, ev[0].Data["reason"], "access may remain")
		// Still open: it is not over until the access is gone.
		require.Equal(t, engine.Rejected, h.operator(tilgang.TypeCancel, emp, gid))
		h.fail = nil
		require.Equal(t, engine.Accepted, h.operator(tilgang.TypeRetry, emp, gid))
		require.Equal(t, tilgang.StateRevoking, h.state(gid))
		require.Equal(t, []string{"revoke noop KASSE-BRUKER"}, kinds(h.run()))
		require.Equal(t, tilgang.StateRevoked, h.state(gid))
		require.Equal(t, []string{">provisioning", "provisioning>active", "active>revoking", "revoking>revoke_failed",
			"revoke_failed>revoking", "revoking>revoked"}, h.transitions(gid))
	})
}

// provisioning -> active, then revoking: a revoke or a leaver while the
// grant's operations are in flight lets them finish, then revokes.
func TestEndWhileProvisioningInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		end   func(h *harness)
		cause string
	}{
		{"revoke", func(h *harness) {
			out, _ := h.revoke(emp, mgr, "kasse", "bruker")
			require.Equal(h.t, engine.Accepted, out)
		}, "revoke"},
		{"leaver", func(h *harness) {
			p := employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 3, D: 1})
			require.Equal(h.t, engine.Accepted, h.hr(2, p))
			// The backdated leave ran with the HR record; the claimed ensure is still in flight.
			require.True(h.t, h.person(emp).Left)
		}, "leaver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			gid := h.granted(emp, mgr, "kasse", "bruker")
			ensure, ok := h.claim()
			require.True(t, ok)
			require.Equal(t, ledger.KindEnsureAccount, ensure.Kind)
			tc.end(h)
			g := h.grant(gid)
			require.Equal(t, tilgang.StateProvisioning, g.State, "in-flight work is not cut off")
			require.True(t, g.RevokeAfter)
			h.done(ensure)
			h.run()
			require.Equal(t, tilgang.StateRevoked, h.state(gid))
			require.Equal(t, []string{">provisioning", "provisioning>active", "active>revoking", "revoking>revoked"}, h.transitions(gid))
			require.Len(t, h.eventsOf(tilgang.EvGrantActive, gid), 1)
			ev := h.eventsOf(tilgang.EvGrantRevoked, gid)
			require.Len(t, ev, 1)
			require.Equal(t, tc.cause, ev[0].Data["cause"])
			// Whatever was given is taken back.
			for _, op := range h.ops(gid) {
				require.NotEqual(t, ledger.OpQueued, op.State)
			}
		})
	}
}

// pending_approval, pending_training, provisioning not yet started ->
// cancelled, by a revoke, a leaver or an operator cancel.
func TestCancel(t *testing.T) {
	t.Parallel()
	waiting := []struct {
		name, system, role string
		state              tilgang.GrantState
	}{
		{"pending_approval", "kasse", "leder", tilgang.StatePendingApproval},
		{"pending_training", "gerica", "bruker", tilgang.StatePendingTraining},
		{"provisioning not started", "kasse", "bruker", tilgang.StateProvisioning},
	}
	ends := []struct {
		name  string
		end   func(h *harness, system, role, gid string)
		actor string
	}{
		{"revoke", func(h *harness, system, role, gid string) {
			out, _ := h.revoke(emp, mgr, system, role)
			require.Equal(h.t, engine.Accepted, out)
		}, mgr},
		{"leaver", func(h *harness, system, role, gid string) {
			p := employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 3, D: 1})
			require.Equal(h.t, engine.Accepted, h.hr(2, p)) // the backdated leave runs with it
		}, engine.Worker},
		{"operator cancel", func(h *harness, system, role, gid string) {
			require.Equal(h.t, engine.Accepted, h.operator(tilgang.TypeCancel, emp, gid))
		}, "dev"},
	}
	for _, w := range waiting {
		for _, e := range ends {
			t.Run(w.name+" by "+e.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t).join()
				gid := h.granted(emp, mgr, w.system, w.role)
				require.Equal(t, w.state, h.state(gid))
				e.end(h, w.system, w.role, gid)
				require.Equal(t, tilgang.StateCancelled, h.state(gid))
				require.Equal(t, []string{">" + string(w.state), string(w.state) + ">cancelled"}, h.transitions(gid))
				var last ledger.AuditEntry
				for _, a := range h.audit("grant.state") {
					if a.GrantID == gid {
						last = a
					}
				}
				require.Equal(t, e.actor, last.Actor)
				require.Len(t, h.eventsOf(tilgang.EvGrantCancelled, gid), 1)
				// Nothing of it ever runs.
				for _, op := range h.run() {
					require.NotEqual(t, gid, op.GrantID, "operation of a cancelled grant ran: %v", kinds([]ledger.Operation{op}))
				}
				for _, op := range h.ops(gid) {
					require.Equal(t, ledger.OpCancelled, op.State)
				}
			})
		}
	}
}

// An operator cancel of a grant whose provisioning started is refused.
func TestCancelRefusedOnceStarted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(h *harness, gid string)
	}{
		{"an operation is in flight", func(h *harness, gid string) {
			_, ok := h.claim()
			require.True(h.t, ok)
		}},
		{"an operation is waiting to be retried", func(h *harness, gid string) {
			op, ok := h.claim()
			require.True(h.t, ok)
			h.failed(op, transient)
		}},
		{"an operation is done", func(h *harness, gid string) {
			op, ok := h.claim()
			require.True(h.t, ok)
			h.done(op)
		}},
		{"active", func(h *harness, gid string) { h.run() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			gid := h.granted(emp, mgr, "kasse", "bruker")
			tc.setup(h, gid)
			before := h.state(gid)
			require.Equal(t, engine.Rejected, h.operator(tilgang.TypeCancel, emp, gid))
			require.Equal(t, before, h.state(gid))
			require.Empty(t, h.eventsOf(tilgang.EvGrantCancelled, gid))
		})
	}
	t.Run("not an operator", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.granted(emp, mgr, "kasse", "leder")
		for _, actor := range []string{mgr, kasseA1, "hr"} {
			out, _ := h.send(tilgang.TypeCancel, emp, actor, map[string]string{"grant_id": gid, "comment": "x"})
			require.Equal(t, engine.Rejected, out, actor)
		}
		// The grant must be the person's of the subject.
		require.Equal(t, engine.Rejected, h.operator(tilgang.TypeCancel, emp2, gid))
		require.Equal(t, tilgang.StatePendingApproval, h.state(gid))
	})
}

// At most one open grant per (person, system, role): a second request is
// attached to the open grant.
func TestAttachToOpenGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, role string
		before     func(h *harness)
	}{
		{"pending_approval", "leder", func(*harness) {}},
		{"provisioning", "bruker", func(*harness) {}},
		{"active", "bruker", func(h *harness) { h.run() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			gid := h.granted(emp, mgr, "kasse", tc.role)
			tc.before(h)
			state := h.state(gid)
			opsBefore := len(h.ops(gid))
			out, rid, again := h.request(emp, mgr, "kasse", tc.role)
			require.Equal(t, engine.Accepted, out)
			require.Equal(t, gid, again)
			require.Equal(t, "attached", h.request1(rid).Outcome)
			require.Equal(t, state, h.state(gid))
			require.Len(t, h.ops(gid), opsBefore, "an attached request plans nothing")
			ev := h.eventsOf(tilgang.EvRequestAccepted, gid)
			require.Len(t, ev, 2)
			require.Equal(t, rid, ev[1].Data["request_id"])
			require.Equal(t, true, ev[1].Data["attached"])
			g, err := h.led.Grants(h.ctx, ledger.GrantFilter{Person: emp})
			require.NoError(t, err)
			require.Len(t, g, 1)
		})
	}
	t.Run("after the grant is final, a new one", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		gid := h.toActive(emp, mgr, "kasse", "bruker")
		h.revoke(emp, mgr, "kasse", "bruker")
		h.run()
		again := h.toActive(emp, mgr, "kasse", "bruker")
		require.NotEqual(t, gid, again)
	})
}

// Two grants are queued on one connector and the account is made by the
// first one's operations; cancelling the first leaves the second its
// account.
func TestCancelKeepsTheAccountOthersWaitFor(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	first := h.granted(emp, mgr, "kasse", "bruker")
	second := h.toActive0(emp, mgr, "gerica", "bruker")
	require.Equal(t, []string{"grant noop GERICA-BRUKER"}, kinds(h.ops(second)), "the account is already being made")
	require.Equal(t, engine.Accepted, h.operator(tilgang.TypeCancel, emp, first))
	require.Equal(t, tilgang.StateCancelled, h.state(first))
	ran := h.run()
	require.Equal(t, []string{"ensure_account noop", "grant noop GERICA-BRUKER"}, kinds(ran))
	require.Equal(t, tilgang.StateActive, h.state(second))
	require.NotNil(t, h.account(emp, "noop"), "the second grant was given on an account that exists")
	for _, op := range ran {
		require.NotEqual(t, first, op.GrantID, "nothing of the cancelled grant runs")
	}
}

// toActive0 requests a role that needs training and confirms it, without
// running anything.
func (h *harness) toActive0(person, actor, system, role string) string {
	h.t.Helper()
	gid := h.granted(person, actor, system, role)
	require.Equal(h.t, engine.Accepted, h.train(person, gericaA, system, role))
	require.Equal(h.t, tilgang.StateProvisioning, h.state(gid))
	return gid
}

// An executor whose claim lapsed and was taken over cannot record its
// result: the fencing token no longer matches.
func TestLostClaimIsFenced(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.granted(emp, mgr, "kasse", "bruker")
	first, ok := h.claim()
	require.True(t, ok)
	h.advance(31 * time.Second)
	second, ok := h.claim()
	require.True(t, ok)
	require.Equal(t, first.ID, second.ID)
	require.Greater(t, second.Token, first.Token)
	tx, err := h.led.Begin(h.ctx)
	require.NoError(t, err)
	err = h.eng.Done(tx, first, nil)
	require.Error(t, err)
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(err))
	require.NoError(t, tx.Rollback())
	h.done(second)
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gid))
}

// Every transition is one chained row with actor, via, worker time, reason
// and the catalogue version (and file hash) that decided it; events name
// the request and the grant where they exist.
func TestTransitionRecords(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	_, rid, gid := h.request(emp, "hr", "arkiv", "arkivar")
	h.advance(time.Minute)
	require.Equal(t, engine.Accepted, h.decide(emp, mgr, rid, "approve"))
	h.advance(time.Minute)
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA2, rid, "approve"))
	h.advance(time.Minute)
	h.run()
	h.granted(emp, mgr, "kasse", "manuell")
	h.run()
	h.revoke(emp, mgr, "arkiv", "arkivar")
	h.run()
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})))
	h.run()

	sys, ok := h.eng.Catalogue().System("arkiv")
	require.True(t, ok)
	rows := 0
	for _, a := range h.audit("grant.state") {
		if a.GrantID != gid {
			continue
		}
		rows++
		require.Equal(t, h.eng.Catalogue().Version, a.Catalogue)
		require.Equal(t, sys.FileHash, a.FileHash)
		require.Equal(t, "arkiv", a.System)
		require.Equal(t, "arkivar", a.Role)
		require.Equal(t, emp, a.Person)
		require.NotEmpty(t, a.Actor)
		if a.Actor != engine.Worker {
			require.Equal(t, "dev", a.Via, "%s>%s", a.From, a.To)
		}
		require.False(t, a.At.IsZero())
	}
	require.Equal(t, 6, rows)
	first := h.audit("grant.state")[0]
	require.Equal(t, "hr", first.Actor)
	require.Equal(t, "trenger tilgang i tjenesten", first.Text, "the reason is kept beside the chain")
	require.True(t, first.At.Equal(t0))
	approved := h.transitions(gid)
	require.Equal(t, "pending_approval>pending_approval", approved[1])

	for _, ev := range h.events() {
		if ev.Kind == tilgang.EvRequestRejected {
			require.NotEmpty(t, ev.Data["reason"])
		}
		if _, ok := ev.Data["grant_id"]; ok {
			require.NotEmpty(t, ev.Data["request_id"], "%s %v", ev.Kind, ev.Data)
		}
		require.NotEmpty(t, ev.Person)
		require.False(t, ev.At.IsZero())
	}
}

// A failed grant may hold part of what it was to give: a revoke revokes it
// as it does an active one (failed -> revoking -> revoked).
func TestFailedGrantIsRevoked(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	gid := h.granted(emp, mgr, "kasse", "bruker")
	h.fail = func(op ledger.Operation) error {
		if op.Kind == ledger.KindGrant {
			return permanent
		}
		return nil
	}
	h.run()
	require.Equal(t, tilgang.StateFailed, h.state(gid))
	h.fail = nil
	out, _ := h.revoke(emp, mgr, "kasse", "bruker")
	require.Equal(t, engine.Accepted, out)
	require.Equal(t, tilgang.StateRevoking, h.state(gid))
	require.Equal(t, []string{"revoke noop KASSE-BRUKER"}, kinds(h.run()))
	require.Equal(t, tilgang.StateRevoked, h.state(gid))
	require.Equal(t, []string{">provisioning", "provisioning>failed", "failed>revoking", "revoking>revoked"}, h.transitions(gid))
}
