package ad

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/reconcile"
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

// cutProxy forwards TCP to the DC and, once armed, cuts the connection
// after the DC has sent after bytes more.
type cutProxy struct {
	addr  string
	after atomic.Int64 // 0: never cut
	sent  atomic.Int64 // by the DC on the newest connection
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	p := &cutProxy{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				buf := make([]byte, 4096)
				sent := int64(0)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						sent += int64(n)
						p.sent.Store(sent)
						if a := p.after.Load(); a > 0 && sent > a {
							return // cut: both ends closed
						}
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// A paged read whose connection is cut halfway is an error, never a short
// list, and reconciliation reports no findings from it.
func TestEachAccountConnectionCut(t *testing.T) {
	u, err := url.Parse(testEnv(t)["TILGANG_AD_URL"])
	require.NoError(t, err)
	px := newCutProxy(t, u.Host)
	// An OU of its own, so the listing is this test's accounts only.
	conn := admin(t)
	ou := "OU=RekCut" + runID + ",OU=ROR," + baseDN(t)
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"top", "organizationalUnit"})
	require.NoError(t, conn.Add(add))
	t.Cleanup(func() { _ = admin(t).Del(ldap.NewDelRequest(ou, nil)) })
	cleanupRun(t) // the accounts first (cleanups run last to first), then the OU
	cfg := func(c *Config) {
		c.URL = "ldaps://" + px.addr
		c.ServerName = u.Hostname()
		c.PageSize = 2
		c.BaseDN, c.UserOU, c.Leaver = ou, ou, LeaverConfig{}
	}
	c := openTest(t, cfg)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		p := person("Kutt", "Lese", "1547")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(t, err)
	}
	// The bytes of a whole read on a fresh connection (handshake and bind
	// included), to cut at two thirds of.
	fresh := openTest(t, cfg)
	whole := 0
	require.NoError(t, fresh.EachAccount(ctx, func(connectors.TargetAccount) error { whole++; return nil }))
	require.Equal(t, 12, whole)
	bytes := px.sent.Load()

	// Cut after a few pages' worth, on a fresh instance's first
	// connection (a connection lost on its first use is not retried).
	c2 := openTest(t, cfg)
	px.after.Store(bytes * 2 / 3)
	got := 0
	err = c2.EachAccount(ctx, func(connectors.TargetAccount) error { got++; return nil })
	require.Error(t, err, "a cut read is an error")
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
	require.Less(t, got, whole, "it was cut halfway")
	require.Greater(t, got, 0, "after some pages")
	t.Logf("cut after %d of %d accounts: %v", got, whole, err)

	rep, err := reconcile.Compare(ctx, "sys", c2, reconcile.Desired{Connector: "ad"}, reconcile.DefaultSettings)
	require.Error(t, err)
	require.Contains(t, err.Error(), "read the accounts of ad")
	require.Empty(t, rep.Findings)
}
