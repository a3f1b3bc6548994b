package engine_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// withPortal gives the harness's engine a principal "webportal" with
// on_behalf (and no on_behalf_of), and returns its key.
func (h *harness) withPortal() nkeys.KeyPair {
	h.t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(h.t, err)
	pub, err := kp.PublicKey()
	require.NoError(h.t, err)
	extra, err := principals.New([]principals.Principal{{ID: "webportal", Kind: principals.KindService, Key: pub,
		Capabilities: []string{tilgang.CapOnBehalf}}})
	require.NoError(h.t, err)
	ps, err := principals.Merge(h.eng.Principals(), extra)
	require.NoError(h.t, err)
	h.eng = engine.New(h.eng.Catalogue(), ps, testConnectors, func() time.Time { return h.now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return kp
}

// A principal holding only on_behalf may act for persons, never as a
// service principal: the hr, operator and auditor capabilities of a
// service count only when it signs for itself.
func TestOnBehalfActsForPersonsOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	portal := h.withPortal()
	gid := h.granted(emp, mgr, "arkiv", "arkivar")
	via := func(typ, person, actor string, data any) engine.Outcome {
		e := h.envelope(typ, person, actor, data)
		e.Via = "webportal"
		require.NoError(t, e.Sign(portal))
		return h.sendEnv(e)
	}
	moved := h.person(emp).Person
	moved.GivenName = "Flytta"
	tests := []struct {
		name   string
		send   func() engine.Outcome
		reason string
	}{
		{name: "an HR mover as hr", reason: `may not act on behalf of service principal "hr"`, send: func() engine.Outcome {
			return via(tilgang.TypeHRMover, emp, principals.HRID, envelope.HR{Version: 2, Person: moved})
		}},
		{name: "a cancel as the operator dev", reason: `may not act on behalf of service principal "dev"`, send: func() engine.Outcome {
			return via(tilgang.TypeCancel, emp, principals.DevID, envelope.Operator{GrantID: gid, Comment: "avbryt"})
		}},
	}
	for _, tc := range tests {
		rejected := len(h.audit("message.rejected"))
		require.Equal(t, engine.Rejected, tc.send(), tc.name)
		rows := h.audit("message.rejected")
		require.Len(t, rows, rejected+1, tc.name)
		require.Contains(t, rows[len(rows)-1].Text, tc.reason, tc.name)
	}
	require.Equal(t, tilgang.StatePendingApproval, h.state(gid), "the cancel was not applied")
	require.Equal(t, "Åse", h.person(emp).Person.GivenName, "the mover was not applied")

	// The control: the portal acts for a person.
	out := via(tilgang.TypeRequest, emp2, mgr, envelope.Request{Action: envelope.ActionGrant, System: "kasse", Role: "bruker", Reason: "ny"})
	require.Equal(t, engine.Accepted, out)
}
