package engine_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
)

// restart is a worker restart: the ledger is closed and opened again from
// its file, under a new engine with the same catalogue and principals.
func (h *harness) restart() {
	h.t.Helper()
	require.NoError(h.t, h.led.Close())
	led, err := sqlledger.OpenSQLite(h.ctx, h.path)
	require.NoError(h.t, err)
	h.led = led
	h.eng = engine.New(h.eng.Catalogue(), h.eng.Principals(), testConnectors, func() time.Time { return h.now },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// requestUntil asks for a grant with an end date.
func (h *harness) requestUntil(person, actor, system, role string, until tilgang.Date) (engine.Outcome, string, string) {
	h.t.Helper()
	out, id := h.send(tilgang.TypeRequest, person, actor, envelope.Request{Action: envelope.ActionGrant, System: system, Role: role,
		Reason: "vikariat", ValidUntil: until})
	return out, id, h.request1(id).GrantID
}

func expiries(ops []ledger.Operation) []ledger.Operation {
	var out []ledger.Operation
	for _, op := range ops {
		if op.Kind == ledger.KindExpire {
			out = append(out, op)
		}
	}
	return out
}

func activeAudit(h *harness, gid string) ledger.AuditEntry {
	h.t.Helper()
	for _, a := range h.audit("grant.state") {
		if a.GrantID == gid && a.To == string(tilgang.StateActive) {
			return a
		}
	}
	h.t.Fatalf("grant %s never became active", gid)
	return ledger.AuditEntry{}
}

// lonn/attestant lasts 30 days by default: from t0 (2025-03-10) to the end
// of 2025-04-09 in Oslo. The expiry is an operation in the outbox; the
// worker restarts before it is due, and it still fires, once.
func TestExpiryFiresAfterRestartOnce(t *testing.T) {
	h := newHarness(t, policySystems).join()
	gid := h.toActive(emp, mgr, "lonn", "attestant")
	g := h.grant(gid)
	require.Equal(t, tilgang.Date{Y: 2025, M: 4, D: 9}, g.ValidUntil)
	exp := expiries(h.ops(gid))
	require.Len(t, exp, 1)
	require.Equal(t, ledger.Internal, exp[0].Connector)
	require.True(t, exp[0].DueAt.Equal(time.Date(2025, 4, 10, 0, 0, 0, 0, tilgang.Oslo)), "due %s", exp[0].DueAt)
	require.Equal(t, "2025-04-09", activeAudit(h, gid).Details["valid_until"])
	require.Equal(t, "30d", activeAudit(h, gid).Details["default_duration"])

	h.restart()
	h.now = time.Date(2025, 4, 9, 23, 59, 0, 0, tilgang.Oslo)
	require.Empty(t, h.run(), "not due before the end of the last Oslo day")
	require.Equal(t, tilgang.StateActive, h.state(gid))

	h.restart()
	h.now = time.Date(2025, 4, 10, 0, 0, 1, 0, tilgang.Oslo)
	ran := h.run()
	require.Equal(t, []string{"expire tilgang", "revoke noop LONN-ATTESTANT"}, kinds(ran))
	require.Equal(t, tilgang.StateExpired, h.state(gid))
	require.Len(t, h.eventsOf(tilgang.EvGrantExpired, gid), 1)
	require.Equal(t, []string{">provisioning", "provisioning>active", "active>revoking", "revoking>expired"}, h.transitions(gid))

	h.restart()
	h.advance(48 * time.Hour)
	require.Empty(t, h.run(), "an expiry runs once")
	require.Len(t, h.eventsOf(tilgang.EvGrantExpired, gid), 1)
	require.Len(t, h.audit("grant.expiring"), 1)
}

// lonn/fast: systemansvarlig approval, 10 days by default, at most 20.
// Approved three days late, it still gets its ten days from activation.
func TestApprovedLateGetsFullDuration(t *testing.T) {
	h := newHarness(t, policySystems).join()
	out, rid, gid := h.request(emp, mgr, "lonn", "fast")
	require.Equal(t, engine.Accepted, out)
	h.advance(3 * 24 * time.Hour) // 2025-03-13
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	h.run()
	require.Equal(t, tilgang.StateActive, h.state(gid))
	require.Equal(t, tilgang.Date{Y: 2025, M: 3, D: 23}, h.grant(gid).ValidUntil, "ten days from 13 March, not from 10 March")

	h.now = time.Date(2025, 3, 23, 23, 0, 0, 0, tilgang.Oslo)
	require.Empty(t, h.run())
	h.now = time.Date(2025, 3, 24, 0, 0, 0, 0, tilgang.Oslo)
	h.run()
	require.Equal(t, tilgang.StateExpired, h.state(gid))
}

// An end date beyond max_duration is shortened, counted from activation,
// and the audit says so with both dates; one inside it stands.
func TestMaxDurationShortensAndAuditSays(t *testing.T) {
	h := newHarness(t, policySystems).join()
	out, _, gid := h.requestUntil(emp, mgr, "lonn", "attestant", tilgang.Date{Y: 2026, M: 1, D: 1})
	require.Equal(t, engine.Accepted, out)
	h.run()
	require.Equal(t, tilgang.Date{Y: 2025, M: 6, D: 8}, h.grant(gid).ValidUntil) // 2025-03-10 + 90d
	a := activeAudit(h, gid)
	require.Equal(t, "2026-01-01", a.Details["requested_until"])
	require.Equal(t, "2025-06-08", a.Details["valid_until"])
	require.Contains(t, a.Text, "shortened from the requested 2026-01-01 by max_duration 90d")

	out, _, g2 := h.requestUntil(emp2, mgr, "lonn", "attestant", tilgang.Date{Y: 2025, M: 3, D: 31})
	require.Equal(t, engine.Accepted, out)
	h.run()
	require.Equal(t, tilgang.Date{Y: 2025, M: 3, D: 31}, h.grant(g2).ValidUntil)
	require.Empty(t, activeAudit(h, g2).Details["requested_until"])

	// An end date already past is refused at request.
	out, rid, _ := h.requestUntil(emp2, mgr, "lonn", "fast", tilgang.Date{Y: 2025, M: 3, D: 9})
	require.Equal(t, engine.DeniedOut, out)
	require.Contains(t, h.request1(rid).Why, "valid_until 2025-03-09 has passed")
}

// A grant revoked before its end cancels its expiry: it ends revoked.
func TestRevokedBeforeExpiryCancelsIt(t *testing.T) {
	h := newHarness(t, policySystems).join()
	gid := h.toActive(emp, mgr, "lonn", "attestant")
	out, _ := h.revoke(emp, mgr, "lonn", "attestant")
	require.Equal(t, engine.Accepted, out)
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(gid))
	require.Equal(t, ledger.OpCancelled, expiries(h.ops(gid))[0].State)
	h.advance(60 * 24 * time.Hour)
	require.Empty(t, h.run())
	require.Empty(t, h.eventsOf(tilgang.EvGrantExpired, ""))
}

// A role without durations gets no end and no expiry.
func TestNoDurationNoExpiry(t *testing.T) {
	h := newHarness(t, policySystems).join()
	gid := h.toActive(emp, mgr, "kasse", "bruker")
	require.True(t, h.grant(gid).ValidUntil.IsZero())
	require.Empty(t, expiries(h.ops(gid)))
}
