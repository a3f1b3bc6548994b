package entra

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/graphemu"
)

// tenant fills the emulator with n users carrying an employeeId (every
// seventh disabled), a few without one, and a group holding every user
// and a nested group; it returns the user ids by employeeId and the group.
func tenant(e *env, n int) (map[string]string, string) {
	ids := map[string]string{}
	g := e.emu.AddGroup("Alle", false)
	e.emu.AddMembersDirect(g, e.emu.AddGroup("Nested", false))
	for i := range n {
		emp := fmt.Sprintf("e%05d", i)
		id := e.emu.AddUser(map[string]any{"userPrincipalName": "u" + emp + "@ror.test", "employeeId": emp, "accountEnabled": i%7 != 0})
		ids[emp] = id
		e.emu.AddMembersDirect(g, id)
	}
	for i := range 3 {
		e.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("guest%d@ror.test", i)})
	}
	return ids, g
}

func TestEachAccountPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ids, _ := tenant(e, 2100)
	before := e.emu.Requests()
	seen := map[string]connectors.TargetAccount{}
	require.NoError(t, e.c.EachAccount(t.Context(), func(a connectors.TargetAccount) error {
		require.NotContains(t, seen, a.Key, "listed once")
		seen[a.Key] = a
		return nil
	}))
	require.Len(t, seen, len(ids), "every account with an employeeId, none without")
	for emp, id := range ids {
		a := seen[id]
		require.Equal(t, emp, a.Person)
		var i int
		fmt.Sscanf(emp, "e%05d", &i)
		require.Equal(t, i%7 != 0, a.Enabled, emp)
		require.Equal(t, "u"+emp+"@ror.test", a.Ref[RefUPN])
		require.Equal(t, id, a.Ref[RefID])
	}
	require.Equal(t, 3, e.emu.Requests()-before, "999 a page")
}

func TestEachMemberPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ids, g := tenant(e, 1500)
	guest := e.emu.AddUser(map[string]any{"userPrincipalName": "gjest@ror.test"})
	e.emu.AddMembersDirect(g, guest)
	users := 0
	others := 0
	keys := map[string]bool{}
	require.NoError(t, e.c.EachMember(t.Context(), "Alle", func(m connectors.Member) error {
		require.False(t, keys[m.Key], "listed once")
		keys[m.Key] = true
		if m.Ref == nil {
			users++ // an account, named by EachAccount
		} else if m.Key == guest {
			require.Equal(t, connectors.Ref{RefID: guest, RefUPN: "gjest@ror.test"}, m.Ref, "a user without an employeeId, named")
			others++
		} else {
			require.Equal(t, "#microsoft.graph.group", m.Ref["@odata.type"])
			others++
		}
		return nil
	}))
	require.Equal(t, len(ids), users)
	require.Equal(t, 2, others)
	for _, id := range ids {
		require.True(t, keys[id], "the member key is the account key")
	}

	// By object id too; a group that does not exist is NotFound.
	n := 0
	require.NoError(t, e.c.EachMember(t.Context(), g, func(connectors.Member) error { n++; return nil }))
	require.Equal(t, len(ids)+2, n)
	err := e.c.EachMember(t.Context(), "Nobody", func(connectors.Member) error { return nil })
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(err), "%v", err)
}

// A read that fails halfway or ends early is an error after the items
// already passed, never a shorter listing that looks complete.
func TestReadFailsHalfway(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{"error", "cut", "short"} {
		for _, what := range []string{"accounts", "members"} {
			t.Run(fault+"/"+what, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.MaxRetries = 1 })
				ids, _ := tenant(e, 2500)
				e.emu.SetFaults(graphemu.Faults{BreakPage: 2, PageFault: fault})
				n := 0
				var err error
				if what == "accounts" {
					err = e.c.EachAccount(t.Context(), func(connectors.TargetAccount) error { n++; return nil })
				} else {
					err = e.c.EachMember(t.Context(), "Alle", func(connectors.Member) error { n++; return nil })
				}
				require.Error(t, err)
				require.Less(t, n, len(ids))
				require.Equal(t, 2*999, n, "the pages before the broken one")
				require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
				if fault == "short" {
					require.ErrorIs(t, err, connectors.ErrShortRead)
				}
			})
		}
	}
}

// The caller's own error stops the read and comes back unchanged.
func TestReadStopsOnCallersError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	tenant(e, 1200)
	stop := errors.New("enough")
	n := 0
	err := e.c.EachAccount(t.Context(), func(connectors.TargetAccount) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	require.Same(t, stop, err)
	require.Equal(t, 10, n)
	err = e.c.EachMember(t.Context(), "Alle", func(connectors.Member) error { return stop })
	require.Same(t, stop, err)
}

// With sign_in_activity each account carries its last successful sign-in:
// an interactive or a non-interactive one, never a failed attempt, and none
// for an account that never signed in. Graph serves 120 users a page when
// signInActivity is selected, so the read takes ceil(n/120) requests, one
// a page and none per user; without the setting the same tenant takes one.
func TestEachAccountSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.SignInActivity = true })
	ids, _ := tenant(e, 250)
	interactive := time.Date(2026, 10, 1, 7, 0, 0, 0, time.UTC)
	token := time.Date(2026, 11, 2, 9, 15, 0, 0, time.UTC)
	require.True(t, e.emu.SignedInAt(ids["e00001"], interactive))
	require.True(t, e.emu.NonInteractiveSignInAt(ids["e00002"], token))
	require.True(t, e.emu.SignedInAt(ids["e00003"], interactive))
	require.True(t, e.emu.SignInFailedAt(ids["e00003"], token), "a later failed attempt")
	require.True(t, e.emu.SignInFailedAt(ids["e00004"], token), "only ever failed")

	read := func(c *Connector) (map[string]*time.Time, int) {
		before := e.emu.Requests()
		got := map[string]*time.Time{}
		require.NoError(t, c.EachAccount(t.Context(), func(a connectors.TargetAccount) error {
			got[a.Person] = a.LastSignIn
			return nil
		}))
		require.Len(t, got, len(ids))
		return got, e.emu.Requests() - before
	}
	got, n := read(e.c)
	require.Equal(t, 3, n, "250 users at 120 a page")
	require.Equal(t, interactive, tdef(got["e00001"]))
	require.Equal(t, token, tdef(got["e00002"]), "a non-interactive sign-in counts")
	require.Equal(t, interactive, tdef(got["e00003"]), "a failed attempt does not")
	require.Nil(t, got["e00004"], "no sign-in ever succeeded")
	require.Nil(t, got["e00000"], "never signed in")

	plain := newEnvOn(t, e, nil)
	got, n = read(plain)
	require.Equal(t, 1, n, "without sign_in_activity, 999 a page")
	require.Nil(t, got["e00001"], "not read")
}

// A tenant without the licence refuses the listing; the error says which
// setting asked for what, and the read without it still works.
func TestEachAccountSignInUnlicensed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.SignInActivity = true })
	tenant(e, 5)
	e.emu.SetWithoutPremium(true)
	n := 0
	err := e.c.EachAccount(t.Context(), func(connectors.TargetAccount) error { n++; return nil })
	require.Error(t, err)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)
	require.Contains(t, err.Error(), "sign_in_activity")
	require.Contains(t, err.Error(), "AuditLog.Read.All")
	require.Zero(t, n)
	require.NoError(t, newEnvOn(t, e, nil).EachAccount(t.Context(), func(connectors.TargetAccount) error { n++; return nil }))
	require.Equal(t, 5, n)
}

// newEnvOn opens another instance on e's emulator.
func newEnvOn(t testing.TB, e *env, mod func(*Config)) *Connector {
	t.Helper()
	cfg := e.c.cfg
	cfg.SignInActivity = false
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open("entra-2", cfg, nil)
	require.NoError(t, err)
	return c
}

func tdef(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
