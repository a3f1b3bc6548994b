package ad

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/reconcile/reconciletest"
)

// TestReconcileScenario runs the reconciliation acceptance scenario
// against the Samba AD DC through the worker.
func TestReconcileScenario(t *testing.T) {
	conn := admin(t)
	cleanupRun(t)
	main := makeGroup(t, conn, "Rek-Bruker-"+runID)
	deleteGroup(t, main)
	held := makeGroup(t, conn, "Rek-Held-"+runID)
	deleteGroup(t, held)
	c := openTest(t, func(c *Config) { c.PageSize = 50; c.RangeSize = 2 })
	reconciletest.Run(t, reconciletest.Target{Name: "ad", Conn: c, Main: main, Held: held, IDPrefix: "t" + runID + "-r",
		Duplicate: func(t *testing.T, p tilgang.Person) {
			name := "dup" + strings.ReplaceAll(p.ID, "-", "")
			if len(name) > 20 {
				name = name[len(name)-20:]
			}
			req := ldap.NewAddRequest("CN="+name+",OU=1547,OU=ROR,"+baseDN(t), nil)
			req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
			req.Attribute("sAMAccountName", []string{name})
			req.Attribute("employeeID", []string{p.ID})
			require.NoError(t, conn.Add(req))
		},
		SetEnabled: func(t *testing.T, p tilgang.Person, on bool) {
			e := accountOf(t, conn, p)
			uac, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
			require.NoError(t, err)
			if on {
				uac &^= uacDisabled
			} else {
				uac |= uacDisabled
			}
			mod := ldap.NewModifyRequest(e.DN, nil)
			mod.Replace("userAccountControl", []string{strconv.Itoa(uac)})
			require.NoError(t, conn.Modify(mod))
		},
		Member: func(t *testing.T, p tilgang.Person, ent string) bool {
			return isMemberAt(t, conn, ent, accountOf(t, conn, p).DN)
		},
		Enabled: func(t *testing.T, p tilgang.Person) bool { return !uacDisabledAt(t, accountOf(t, conn, p)) },
	})
}

// EachAccount pages (page_size at a time) and yields every account with
// the correlation attribute once, with its state; EachMember reads ranges.
func TestEachAccountAndMember(t *testing.T) {
	conn := admin(t)
	cleanupRun(t)
	group := makeGroup(t, conn, "Rek-Les-"+runID)
	deleteGroup(t, group)
	c := openTest(t, func(c *Config) { c.PageSize = 2; c.RangeSize = 2 })
	ctx := context.Background()
	var made []connectors.Account
	for i := 0; i < 5; i++ {
		p := person("Side", "Lese", "1547")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		ref, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(t, err)
		a := connectors.Account{Person: p, Ref: ref}
		require.NoError(t, c.Grant(ctx, a, group))
		made = append(made, a)
	}
	// Disabled by an administrator (the flag alone: the connector's
	// Disable also takes a leaver out of the groups).
	mod := ldap.NewModifyRequest(made[0].Ref[RefDN], nil)
	mod.Replace("userAccountControl", []string{strconv.Itoa(0x200 | uacDisabled)})
	require.NoError(t, conn.Modify(mod))
	seen := map[string]int{}
	state := map[string]bool{}
	require.NoError(t, c.EachAccount(ctx, func(a connectors.TargetAccount) error {
		seen[a.Person]++
		state[a.Person] = a.Enabled
		require.Equal(t, strings.ToLower(a.Ref[RefDN]), a.Key)
		return nil
	}))
	for i, a := range made {
		require.Equal(t, 1, seen[a.Person.ID], "listed once: %s", a.Person.ID)
		require.Equal(t, i != 0, state[a.Person.ID])
	}
	members := map[string]bool{}
	before := rangeRequests.Load()
	require.NoError(t, c.EachMember(ctx, group, func(m connectors.Member) error {
		members[m.Key] = true
		return nil
	}))
	require.Len(t, members, 5)
	require.GreaterOrEqual(t, rangeRequests.Load()-before, int64(3), "several ranges")
	for _, a := range made {
		require.True(t, members[strings.ToLower(a.Ref[RefDN])])
	}
}
