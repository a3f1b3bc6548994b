package engine_test

// DESIGN.md invariant 4: an entitlement is removed only when no other live
// grant of the person needs it. sak/les and arkiv/leser share two AD groups.

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// bothShared gives emp sak/les and arkiv/leser, both active.
func bothShared(h *harness) (sak, arkiv string) {
	h.t.Helper()
	sak = h.toActive(emp, mgr, "sak", "les")
	_, rid, arkiv := h.request(emp, mgr, "arkiv", "leser")
	require.Equal(h.t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	h.run()
	require.Equal(h.t, tilgang.StateActive, h.state(arkiv))
	return sak, arkiv
}

func revokes(ops []ledger.Operation) []string {
	var out []string
	for _, op := range ops {
		if op.Kind == ledger.KindRevoke {
			out = append(out, op.Entitlement)
		}
	}
	slices.Sort(out)
	return out
}

func TestSharedEntitlements(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		first, second         string // system/role revoked first, then second
		firstRevokes, lastRev []string
	}{
		{"the smaller grant first", "arkiv/leser", "sak/les", nil, []string{fellesA, fellesB, sakLes}},
		{"the larger grant first", "sak/les", "arkiv/leser", []string{sakLes}, []string{fellesA, fellesB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			sak, arkiv := bothShared(h)
			ids := map[string]string{"sak/les": sak, "arkiv/leser": arkiv}
			end := func(sr string) {
				system, role, _ := strings.Cut(sr, "/")
				out, _ := h.revoke(emp, mgr, system, role)
				require.Equal(t, engine.Accepted, out)
			}
			end(tc.first)
			require.Equal(t, tc.firstRevokes, revokes(h.ops(ids[tc.first])), "revoking %s plans only what nobody else needs", tc.first)
			ran := h.run()
			require.Equal(t, tc.firstRevokes, revokes(ran))
			require.Equal(t, tilgang.StateRevoked, h.state(ids[tc.first]))
			require.Equal(t, tilgang.StateActive, h.state(ids[tc.second]))

			end(tc.second)
			require.Equal(t, tc.lastRev, revokes(h.ops(ids[tc.second])))
			h.run()
			require.Equal(t, tilgang.StateRevoked, h.state(ids[tc.second]))
		})
	}
}

// A grant still provisioning counts as needing its entitlements.
func TestSharedWithProvisioningGrant(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	sak := h.toActive(emp, mgr, "sak", "les")
	_, rid, arkiv := h.request(emp, mgr, "arkiv", "leser")
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	require.Equal(t, tilgang.StateProvisioning, h.state(arkiv))
	h.revoke(emp, mgr, "sak", "les")
	require.Equal(t, []string{sakLes}, revokes(h.ops(sak)))
	h.run()
	require.Equal(t, tilgang.StateRevoked, h.state(sak))
	require.Equal(t, tilgang.StateActive, h.state(arkiv))
}

// A leaver ends both grants in one go: each shared group is revoked once.
func TestSharedEntitlementsLeaver(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	sak, arkiv := bothShared(h)
	require.Equal(t, engine.Accepted, h.hr(2, employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 3, D: 1})))
	ran := h.run()
	require.Equal(t, []string{fellesA, fellesB, sakLes}, revokes(ran))
	require.Equal(t, tilgang.StateRevoked, h.state(sak))
	require.Equal(t, tilgang.StateRevoked, h.state(arkiv))
}

// A grant that counted as needing the shared groups is cancelled before its
// provisioning started: the groups the revoked grant left in place for it
// are removed then, since nobody needs them any more.
func TestSharedEntitlementsCancelledGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(h *harness, arkiv string)
	}{
		{"operator cancel", func(h *harness, arkiv string) {
			require.Equal(h.t, engine.Accepted, h.operator(tilgang.TypeCancel, emp, arkiv))
		}},
		{"revoke", func(h *harness, arkiv string) {
			out, _ := h.revoke(emp, mgr, "arkiv", "leser")
			require.Equal(h.t, engine.Accepted, out)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t).join()
			sak := h.toActive(emp, mgr, "sak", "les")
			_, rid, arkiv := h.request(emp, mgr, "arkiv", "leser")
			require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
			require.Equal(t, tilgang.StateProvisioning, h.state(arkiv))
			h.revoke(emp, mgr, "sak", "les")
			require.Equal(t, []string{sakLes}, revokes(h.ops(sak)), "arkiv/leser is live and needs the shared groups")
			tc.end(h, arkiv)
			require.Equal(t, tilgang.StateCancelled, h.state(arkiv))
			ran := h.run()
			require.Equal(t, []string{fellesA, fellesB, sakLes}, revokes(ran), "every group sak/les gave is gone: %v", kinds(ran))
			for _, op := range ran {
				require.NotEqual(t, ledger.KindGrant, op.Kind)
			}
			require.Equal(t, tilgang.StateRevoked, h.state(sak))
		})
	}
}
