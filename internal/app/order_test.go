package app_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// publishRaw sends the envelope's bytes with no Nats-Msg-Id, as a repeat
// after JetStream's duplicate window would arrive.
func publishRaw(t *testing.T, e *testenv.Env, env *envelope.Envelope) {
	t.Helper()
	m, err := client.Msg(env)
	require.NoError(t, err)
	m.Header.Del("Nats-Msg-Id")
	_, err = e.JS.PublishMsg(context.Background(), m)
	require.NoError(t, err)
}

// marker sends a message and waits until it is processed: intake applies
// messages in stream order, so everything before it is applied too.
func marker(t *testing.T, e *testenv.Env) {
	t.Helper()
	id := e.Send(tilgang.TypeRequest, "1547-3", "1547-3", envelope.Request{Action: "revoke", System: "kasse", Role: "bruker", Reason: "markør"})
	e.Wait("request.rejected", "1547-3", testenv.ForRequest(id))
}

func journal(t *testing.T, e *testenv.Env) []noop.Effect {
	effects, err := noop.ReadJournal(filepath.Join(e.Data, "noop.journal"))
	require.NoError(t, err)
	return effects
}

func TestDuplicatesHaveOneEffect(t *testing.T) {
	data := t.TempDir()
	policies := testenv.WriteCatalogue(t, testenv.Catalogue)
	e := testenv.Start(t, data, policies)
	e.Joiner(testenv.People()...)
	env, err := e.Sender.New(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "bruker"))
	require.NoError(t, err)
	id := e.SendEnv(env)
	e.Wait("grant.active", "1547-1", nil)

	// Within the window JetStream drops it (and Publish says so); without
	// Nats-Msg-Id (as after the window) the ledger's key does.
	_, err = client.Publish(context.Background(), e.JS, env)
	require.ErrorIs(t, err, client.ErrDuplicate)
	publishRaw(t, e, env)
	marker(t, e)
	e.Stop()

	// After a restart too.
	e = testenv.Start(t, data, policies)
	publishRaw(t, e, env)
	marker(t, e)
	accepted := 0
	for _, ev := range e.Events() {
		if ev.Kind == "request.accepted" && ev.Data["request_id"] == id {
			accepted++
		}
	}
	require.Equal(t, 1, accepted, "one request.accepted for the request")

	// The same key with another payload is a conflict, never applied.
	forged := *env
	forged.Data = nil
	require.NoError(t, forged.SetData(grant("kasse", "leder")))
	require.NoError(t, forged.Sign(e.Sender.Key))
	publishRaw(t, e, &forged)
	ev := e.Wait("request.rejected", "1547-1", testenv.ForRequest(id))
	require.Contains(t, ev.Data["reason"], "conflict")
	marker(t, e)
	e.Stop()
	require.Equal(t, []noop.Effect{{Op: "create", Person: "1547-1", Entitlement: "enabled"}, {Op: "grant", Person: "1547-1", Entitlement: "KASSE-BRUKER"}}, journal(t, e))
}

// TestApprovalAndLeaverInEitherOrder sends the last approval and a leaver
// for the same person in both orders, each twice (redelivered): the person
// ends with nothing active and nothing held at the target.
func TestApprovalAndLeaverInEitherOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		leaverFirst bool
	}{{"approval then leaver", false}, {"leaver then approval", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.Start(t, "", "")
			people := testenv.People()
			e.Joiner(people...)
			id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", grant("kasse", "leder"))
			gid := e.Wait("approval.pending", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
			e.Send(tilgang.TypeDecision, "1547-1", "1547-3", envelope.Decision{RequestID: id, Decision: "approve", Comment: "ok"})
			e.Wait("approval.pending", "1547-1", func(ev testenv.Event) bool { return ev.Data["grant_id"] == gid && ev.Data["stage"] == float64(2) })

			approve, err := e.Sender.New(tilgang.TypeDecision, "1547-1", "1547-20001", envelope.Decision{RequestID: id, Decision: "approve", Comment: "ok"})
			require.NoError(t, err)
			left := people[0]
			left.Employments = []tilgang.Employment{left.Employments[0]}
			left.Employments[0].End = tilgang.Date{Y: 2025, M: 12, D: 31}
			leaver, err := e.Sender.New(tilgang.TypeHRLeaver, "1547-1", "hr", envelope.HR{Version: 1 << 62, Person: left})
			require.NoError(t, err)
			order := []*envelope.Envelope{approve, leaver}
			if tc.leaverFirst {
				order = []*envelope.Envelope{leaver, approve}
			}
			for _, env := range append(order, order...) {
				publishRaw(t, e, env)
			}
			marker(t, e)
			// Whatever was provisioned is removed again: wait for the end.
			final := e.Wait("", "1547-1", func(ev testenv.Event) bool {
				return ev.Data["grant_id"] == gid && (ev.Kind == "grant.cancelled" || ev.Kind == "grant.revoked")
			})
			t.Logf("grant ended with %s", final.Kind)
			marker(t, e)
			e.Stop()
			members, enabled := map[string]bool{}, false
			for _, ef := range journal(t, e) {
				if ef.Person != "1547-1" {
					continue
				}
				switch ef.Op {
				case "create":
					enabled = ef.Entitlement == "enabled"
				case "enable", "disable":
					enabled = ef.Op == "enable"
				case "grant", "revoke":
					members[ef.Entitlement] = ef.Op == "grant"
				}
			}
			for ent, held := range members {
				require.False(t, held, "%s still held after the leave", ent)
			}
			require.False(t, enabled, "the account is not enabled after the leave")
		})
	}
}
