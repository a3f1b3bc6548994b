package ad

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
)

func TestLastLogon(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return &v
	}
	for _, tc := range []struct {
		name string
		in   string
		want *time.Time
		bad  bool
	}{
		{name: "absent", in: ""},
		{name: "never", in: "0"},
		{name: "AD's never", in: "9223372036854775807"},
		{name: "the Unix epoch", in: "116444736000000000", want: at("1970-01-01T00:00:00Z")},
		{name: "a day in 2020", in: "132223104000000000", want: at("2020-01-01T00:00:00Z")},
		{name: "with 100 ns", in: "132223104000000001", want: at("2020-01-01T00:00:00.0000001Z")},
		{name: "not a number", in: "yesterday", bad: true},
		{name: "negative", in: "-1", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lastLogon(tc.in)
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tc.want == nil {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.True(t, tc.want.Equal(*got), "%s: got %s", tc.in, got)
		})
	}
}

// An account that signs in (an LDAP simple bind as itself) gets a
// lastLogonTimestamp from the DC, which EachAccount returns; one that never
// signed in returns none. The DC writes the first one at once: the
// sync-interval check only holds back an update of one already set.
func TestEachAccountLastSignIn(t *testing.T) {
	conn := admin(t)
	cleanupRun(t)
	ctx := context.Background()
	mk := func(name string) (dn, upn, id string) {
		p := person("Logg", "Inn", "1547")
		dn = "CN=" + name + ",OU=1547,OU=ROR," + baseDN(t)
		upn = name + "@ror.test"
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{name})
		req.Attribute("userPrincipalName", []string{upn})
		req.Attribute("employeeID", []string{p.ID})
		req.Attribute("unicodePwd", []string{encodePassword("Logg-inn-" + runID + "-1")})
		req.Attribute("userAccountControl", []string{strconv.Itoa(0x200)})
		require.NoError(t, conn.Add(req))
		return dn, upn, p.ID
	}
	signer, signerUPN, signerID := mk("li" + runID + "a")
	_, _, neverID := mk("li" + runID + "b")
	require.Empty(t, entry(t, conn, signer, "lastLogonTimestamp").GetAttributeValue("lastLogonTimestamp"), "no sign-in yet")

	before := time.Now().Add(-2 * time.Second)
	require.NoError(t, bindAs(t, signerUPN, "Logg-inn-"+runID+"-1"))
	after := time.Now().Add(2 * time.Second)
	first := entry(t, conn, signer, "lastLogonTimestamp").GetAttributeValue("lastLogonTimestamp")
	require.NotEmpty(t, first, "the DC recorded the bind")
	// A second logon within msDS-LogonTimeSyncInterval (14 days less up to
	// 5) leaves it as it was: the value lags the real last sign-in.
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, bindAs(t, signerUPN, "Logg-inn-"+runID+"-1"))
	require.Equal(t, first, entry(t, conn, signer, "lastLogonTimestamp").GetAttributeValue("lastLogonTimestamp"))

	c := openTest(t, func(c *Config) { c.PageSize = 3 })
	got := map[string]*time.Time{}
	require.NoError(t, c.EachAccount(ctx, func(a connectors.TargetAccount) error {
		got[a.Person] = a.LastSignIn
		return nil
	}))
	require.Contains(t, got, signerID)
	require.Contains(t, got, neverID)
	require.Nil(t, got[neverID], "never signed in")
	last := got[signerID]
	require.NotNil(t, last, "signed in")
	require.True(t, last.After(before) && last.Before(after), "signed in at %s, between %s and %s", last, before, after)
}

// Reading lastLogonTimestamp costs no request: EachAccount sends as many
// paged searches as a read of the same accounts without it.
func TestEachAccountLastSignInNoExtraRequests(t *testing.T) {
	cleanupRun(t)
	ctx := context.Background()
	c := openTest(t, func(c *Config) { c.PageSize = 2 })
	for i := 0; i < 5; i++ {
		p := person("Telle", "Sider", "1547")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(t, err)
	}
	before := pageRequests.Load()
	n := 0
	require.NoError(t, c.EachAccount(ctx, func(connectors.TargetAccount) error { n++; return nil }))
	with := pageRequests.Load() - before

	attr := c.cfg.CorrelateAttr
	plain := 0
	before = pageRequests.Load()
	require.NoError(t, c.pool.do(ctx, func(conn *ldap.Conn) error {
		return c.eachPage(ctx, conn, "(&(objectClass=user)(!(objectClass=computer))("+attr+"=*))",
			[]string{attr, "sAMAccountName", "userPrincipalName", "objectGUID", "userAccountControl"},
			func(*ldap.Entry) error { plain++; return nil })
	}))
	without := pageRequests.Load() - before
	require.Equal(t, plain, n)
	require.GreaterOrEqual(t, n, 5)
	require.GreaterOrEqual(t, with, int64(n/2), "pages of two")
	require.Equal(t, without, with, "the same searches with and without lastLogonTimestamp")
}
