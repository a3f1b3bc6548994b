package app_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

func grant(system, role string) envelope.Request {
	return envelope.Request{Action: "grant", System: system, Role: role, Reason: "trenger tilgang i tjenesten"}
}

func TestGrantWithoutApprovalBecomesActive(t *testing.T) {
	e := testenv.Start(t, "", "")
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	acc := e.Wait("request.accepted", "1547-1", testenv.ForRequest(id))
	gid := acc.Data["grant_id"].(string)
	e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))
	e.Stop()
	effects, err := noop.ReadJournal(filepath.Join(e.Data, "noop.journal"))
	require.NoError(t, err)
	require.Equal(t, []noop.Effect{{Op: "create", Person: "1547-1", Entitlement: "enabled"}, {Op: "grant", Person: "1547-1", Entitlement: "KASSE-BRUKER"}}, effects)
}

func TestTwoStageApproval(t *testing.T) {
	e := testenv.Start(t, "", "")
	e.Joiner(testenv.People()...)
	// The manager asks, so the manager stage goes one level up (1547-3).
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "leder"))
	p := e.Wait("approval.pending", "1547-1", testenv.ForRequest(id))
	require.Equal(t, []any{"1547-3"}, p.Data["approvers"])
	gid := p.Data["grant_id"].(string)

	decide := func(actor, decision string) string {
		return e.Send(tilgang.TypeDecision, "1547-1", actor, envelope.Decision{RequestID: id, Decision: decision, Comment: "ok"})
	}
	for _, tc := range []struct{ name, actor, why string }{
		{"requester may not approve", "1547-2", "requested"},
		{"administrator is not the manager stage", "1547-20001", "1547-3's to decide"},
		{"the person may not approve", "1547-1", "own grant"},
	} {
		r := decide(tc.actor, "approve")
		ev := e.Wait("request.rejected", "1547-1", testenv.ForRequest(r))
		require.Contains(t, ev.Data["reason"], tc.why, tc.name)
	}
	r := decide("1547-3", "approve")
	e.Wait("approval.pending", "1547-1", func(ev testenv.Event) bool { return ev.Data["grant_id"] == gid && ev.Data["stage"] == float64(2) })
	// The same principal may not approve two stages, even as an administrator.
	r = decide("1547-3", "approve")
	require.Contains(t, e.Wait("request.rejected", "1547-1", testenv.ForRequest(r)).Data["reason"], "already approved")
	decide("1547-20001", "approve")
	e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))
}

func TestDenyAndManualTask(t *testing.T) {
	e := testenv.Start(t, "", "")
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "leder"))
	e.Wait("approval.pending", "1547-1", testenv.ForRequest(id))
	e.Send(tilgang.TypeDecision, "1547-1", "1547-3", envelope.Decision{RequestID: id, Decision: "deny", Comment: "ikke nødvendig"})
	require.Equal(t, "ikke nødvendig", e.Wait("grant.denied", "1547-1", nil).Data["reason"])

	id = e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "manuell"))
	gid := e.Wait("request.accepted", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
	// The account first, then the role: two tasks, one after the other.
	for i := 0; i < 2; i++ {
		n := i
		task := e.Wait("task.manual", "1547-1", func(ev testenv.Event) bool {
			return ev.Data["grant_id"] == gid && ev.Data["kind"] == []string{"ensure_account", "grant"}[n]
		})
		opID := task.Data["operation_id"].(string)
		// Someone who is not an administrator may not complete it.
		r := e.Send(tilgang.TypeTask, "1547-1", "1547-2", envelope.Task{OperationID: opID, Outcome: "done", Comment: "gjort"})
		require.Contains(t, e.Wait("request.rejected", "1547-1", testenv.ForRequest(r)).Data["reason"], "not an administrator")
		e.Send(tilgang.TypeTask, "1547-1", "1547-20001", envelope.Task{OperationID: opID, Outcome: "done", Comment: "gjort"})
	}
	e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))
}

func TestLeaverRevokesEverything(t *testing.T) {
	e := testenv.Start(t, "", "")
	people := testenv.People()
	e.Joiner(people...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	gid := e.Wait("request.accepted", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
	e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))
	left := people[0]
	left.Employments[0].End = tilgang.Date{Y: 2025, M: 6, D: 30}
	e.Send(tilgang.TypeHRLeaver, "1547-1", "hr", envelope.HR{Version: 1 << 62, Person: left})
	e.Wait("grant.revoked", "1547-1", testenv.ForGrant(gid))
	// A grant request after the leave is refused.
	id = e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	require.Contains(t, e.Wait("grant.denied", "1547-1", testenv.ForRequest(id)).Data["reason"], "has left")
	e.Stop()
	effects, err := noop.ReadJournal(filepath.Join(e.Data, "noop.journal"))
	require.NoError(t, err)
	require.Equal(t, []noop.Effect{{Op: "create", Person: "1547-1", Entitlement: "enabled"}, {Op: "grant", Person: "1547-1", Entitlement: "KASSE-BRUKER"}, {Op: "revoke", Person: "1547-1", Entitlement: "KASSE-BRUKER"}, {Op: "disable", Person: "1547-1", Entitlement: ""}}, effects)
}

// TestAuditVerifyFindsDeletedNewestRows deletes the newest chain rows (and
// moves the head back, as a careful attacker would) while the worker is
// stopped: `audit verify` finds it through the anchor published before.
func TestAuditVerifyFindsDeletedNewestRows(t *testing.T) {
	data := t.TempDir()
	policies := testenv.WriteCatalogue(t, testenv.Catalogue)
	e := testenv.Start(t, data, policies)
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	e.Wait("grant.active", "1547-1", nil)
	rep := verify(t, e)
	require.True(t, rep.OK, rep.Problem)
	e.Stop() // anchors the head at shutdown

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "ledger.db"))
	require.NoError(t, err)
	var last int64
	require.NoError(t, db.QueryRow(`SELECT MAX(seq) FROM audit`).Scan(&last))
	_, err = db.Exec(`DELETE FROM audit WHERE seq > ?`, last-2)
	require.NoError(t, err)
	var seq int64
	var hash string
	require.NoError(t, db.QueryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash))
	_, err = db.Exec(`UPDATE audit_head SET seq = ?, hash = ?`, seq, hash)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	e = testenv.Start(t, data, policies)
	rep = verify(t, e)
	require.False(t, rep.OK)
	require.Equal(t, last-1, rep.BadSeq, rep.Problem)
	require.Contains(t, rep.Problem, "deleted")
	_ = id
}

func verify(t *testing.T, e *testenv.Env) ledger.VerifyReport {
	t.Helper()
	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: 10 * time.Second}
	var rep ledger.VerifyReport
	require.NoError(t, c.Call(context.Background(), "audit.verify", struct{}{}, &rep))
	return rep
}

// TestIntakeStartsAgainAfterItsConsumerIsDeleted: without a lease (tilgang
// dev) the intake starts itself again when JetStream stops delivering, here
// because an operator deleted the intake consumer, and applies what came
// meanwhile.
func TestIntakeStartsAgainAfterItsConsumerIsDeleted(t *testing.T) {
	e := testenv.Start(t, "", "")
	e.Joiner(testenv.People()...)
	first := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	e.Wait("request.accepted", "1547-1", testenv.ForRequest(first))
	require.NoError(t, e.JS.DeleteConsumer(t.Context(), streams.In, streams.Intake))
	second := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "manuell"))
	e.Wait("request.accepted", "1547-1", testenv.ForRequest(second))
	_, err := e.JS.Consumer(t.Context(), streams.In, streams.Intake)
	require.NoError(t, err, "the intake consumer is there again")
}

// dev's NATS server has no authentication: on any interface but loopback,
// anyone who reaches it reads the API replies and publishes as anyone.
func TestDevRefusesNonLoopbackNATSListen(t *testing.T) {
	policies := testenv.WriteCatalogue(t, testenv.Catalogue)
	port := testenv.FreePort(t)
	for _, host := range []string{"0.0.0.0", "", "::", "192.0.2.1", "example.org"} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			listen := net.JoinHostPort(host, strconv.Itoa(port))
			err := app.Dev(ctx, app.DevOptions{Data: t.TempDir(), Policies: policies, NATSListen: listen, HTTP: "127.0.0.1:0",
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(string, string) { cancel() }})
			require.Error(t, err)
			require.Contains(t, err.Error(), "--nats-listen")
			require.Contains(t, err.Error(), "loopback")
		})
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			listen := net.JoinHostPort(host, strconv.Itoa(testenv.FreePort(t)))
			var ready atomic.Bool
			err := app.Dev(ctx, app.DevOptions{Data: t.TempDir(), Policies: policies, NATSListen: listen, HTTP: "127.0.0.1:0",
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(string, string) { ready.Store(true); cancel() }})
			require.NoError(t, err)
			require.True(t, ready.Load())
		})
	}
}
