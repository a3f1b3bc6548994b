package ad

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/connectortest"
)

func uacDisabledAt(t *testing.T, e *ldap.Entry) bool {
	n, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
	require.NoError(t, err)
	return n&uacDisabled != 0
}

func TestConnectorSuite(t *testing.T) {
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	group := makeGroup(t, conn, "tilgang-test-suite-"+runID)
	deleteGroup(t, group)
	connectortest.Run(t, connectortest.Target{
		Connector:   c,
		Person:      func(t *testing.T) tilgang.Person { return person("Kari", "Nordmann", "1547") },
		Entitlement: group,
		Member: func(t *testing.T, a connectors.Account, ent string) bool {
			return isMemberAt(t, conn, ent, accountOf(t, conn, a.Person).DN)
		},
		Enabled: func(t *testing.T, a connectors.Account) bool {
			return !uacDisabledAt(t, accountOf(t, conn, a.Person))
		},
	})
}

// Åse Øvergård-Bø gets aasove (å→aa, ø→o), and a second Åse Øvergård-Bø in the same
// municipality gets aasove2 and a CN of her own.
func TestNorwegianNameAndCollision(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	// Names are domain-wide: clear what an earlier, interrupted run left.
	for _, e := range search(t, conn, "(&(objectClass=user)(sAMAccountName=aasove*))", "1.1") {
		require.NoError(t, conn.Del(ldap.NewDelRequest(e.DN, nil)))
	}
	base := baseDN(t)

	p1 := person("Åse", "Øvergård-Bø", "1547")
	ref1, err := c.Resolve(ctx, p1, nil)
	require.NoError(t, err)
	require.Equal(t, connectors.Ref{RefSAM: "aasove", RefUPN: "aasove@ror.test",
		RefDN: "CN=Åse Øvergård-Bø,OU=1547,OU=ROR," + base}, ref1)
	got1, cred1, err := c.EnsureAccount(ctx, connectors.Account{Person: p1, Ref: ref1})
	require.NoError(t, err)
	require.NotNil(t, cred1, "a new account comes with an initial password")
	require.Equal(t, "aasove", cred1.Username)
	require.Equal(t, "aasove", got1[RefSAM])
	require.NotEmpty(t, got1[RefGUID])
	e := entry(t, conn, got1[RefDN], "givenName", "sn", "displayName", "employeeID", "userAccountControl", "department", "title", "mail", "userPrincipalName")
	require.Equal(t, "Åse", e.GetAttributeValue("givenName"))
	require.Equal(t, "Øvergård-Bø", e.GetAttributeValue("sn"))
	require.Equal(t, "Åse Øvergård-Bø", e.GetAttributeValue("displayName"))
	require.Equal(t, p1.ID, e.GetAttributeValue("employeeID"))
	require.Equal(t, "512", e.GetAttributeValue("userAccountControl"))
	require.Equal(t, "helse/hjemmetjenesten", e.GetAttributeValue("department"))
	require.Equal(t, "sykepleier", e.GetAttributeValue("title"))
	require.Equal(t, "773", bindCode(t, "aasove@ror.test", string(cred1.Secret)), "the initial password is right and must be changed")

	p2 := person("Åse", "Øvergård-Bø", "1547")
	ref2, err := c.Resolve(ctx, p2, nil)
	require.NoError(t, err)
	require.Equal(t, "aasove2", ref2[RefSAM])
	require.Equal(t, "aasove2@ror.test", ref2[RefUPN])
	require.Equal(t, "CN=Åse Øvergård-Bø (aasove2),OU=1547,OU=ROR,"+base, ref2[RefDN])
	got2, cred2, err := c.EnsureAccount(ctx, connectors.Account{Person: p2, Ref: ref2})
	require.NoError(t, err)
	require.NotNil(t, cred2)
	require.NotEqual(t, got1[RefGUID], got2[RefGUID])
	require.Len(t, search(t, conn, "(&(objectClass=user)(sAMAccountName=aasove*))", "1.1"), 2)

	// A name change: names follow HR, the username stays.
	p1.FamilyName = "Nilsen"
	got1b, cred, err := c.EnsureAccount(ctx, connectors.Account{Person: p1, Ref: got1})
	require.NoError(t, err)
	require.Nil(t, cred)
	require.Equal(t, "aasove", got1b[RefSAM])
	e = entry(t, conn, got1b[RefDN], "sn", "displayName")
	require.Equal(t, "Nilsen", e.GetAttributeValue("sn"))
	require.Equal(t, "Åse Nilsen", e.GetAttributeValue("displayName"))
}

func TestGrantTwiceRevokeTwice(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	group := makeGroup(t, conn, "tilgang-test-gr-"+runID)
	deleteGroup(t, group)
	a := ensure(t, c, person("Ola", "Nordmann", "1506"), false)
	for i := range 2 {
		require.NoError(t, c.Grant(ctx, a, group), "grant %d", i+1)
		require.True(t, isMemberAt(t, conn, group, a.Ref[RefDN]))
	}
	for i := range 2 {
		require.NoError(t, c.Revoke(ctx, a, group), "revoke %d", i+1)
		require.False(t, isMemberAt(t, conn, group, a.Ref[RefDN]))
	}
	// Only those two answers are taken as done: a missing group is not.
	missing := "CN=tilgang-no-such-group,OU=Groups," + baseDN(t)
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(c.Grant(ctx, a, missing)))
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(c.Revoke(ctx, a, missing)))
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(c.Grant(ctx, a, "CN=Domain Admins,CN=Users,DC=other,DC=test")))
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(c.Grant(ctx, a, "not a dn")))
	// Granting to someone without an account is NotFound; revoking is done.
	nobody := connectors.Account{Person: person("Ingen", "Konto", "1506")}
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(c.Grant(ctx, nobody, group)))
	require.NoError(t, c.Revoke(ctx, nobody, group))
}

func ensure(t *testing.T, c *Connector, p tilgang.Person, disabled bool) connectors.Account {
	t.Helper()
	ref, err := c.Resolve(t.Context(), p, nil)
	require.NoError(t, err)
	a := connectors.Account{Person: p, Ref: ref, Disabled: disabled}
	got, _, err := c.EnsureAccount(t.Context(), a)
	require.NoError(t, err)
	a.Ref = got
	return a
}

// A leaver: disabled, out of every group, moved to OU=Deaktivert and
// marked, never deleted. A rehire comes back to the municipality's OU
// without the old groups.
func TestLeaverDisabledGroupsRemoved(t *testing.T) {
	ctx := t.Context()
	day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := openTest(t, func(cfg *Config) { cfg.Now = func() time.Time { return day } })
	conn := admin(t)
	cleanupRun(t)
	g1 := makeGroup(t, conn, "tilgang-test-l1-"+runID)
	g2 := makeGroup(t, conn, "tilgang-test-l2-"+runID)
	deleteGroup(t, g1)
	deleteGroup(t, g2)
	p := person("Per", "Sluttar", "1579")
	a := ensure(t, c, p, false)
	require.NoError(t, c.Grant(ctx, a, g1))
	require.NoError(t, c.Grant(ctx, a, g2))
	require.Len(t, accountOf(t, conn, p).GetAttributeValues("memberOf"), 2)

	for i := range 2 {
		require.NoError(t, c.Disable(ctx, a), "disable %d", i+1)
		e := accountOf(t, conn, p)
		require.True(t, uacDisabledAt(t, e))
		require.Empty(t, e.GetAttributeValues("memberOf"))
		require.True(t, strings.HasSuffix(e.DN, ",OU=Deaktivert,"+baseDN(t)), e.DN)
		require.Equal(t, "tilgang: disabled 2026-11-26", e.GetAttributeValue("description"))
	}
	require.False(t, isMemberAt(t, conn, g1, accountOf(t, conn, p).DN))
	// Revoking after the move still works (the stored DN is stale; the GUID is not).
	require.NoError(t, c.Revoke(ctx, a, g1))

	require.NoError(t, c.Enable(ctx, a))
	e := accountOf(t, conn, p)
	require.False(t, uacDisabledAt(t, e))
	require.True(t, strings.HasSuffix(e.DN, ",OU=1579,OU=ROR,"+baseDN(t)), e.DN)
	require.Empty(t, e.GetAttributeValue("description"))
	require.Empty(t, e.GetAttributeValues("memberOf"), "a rehire gets no old groups back")
}

// The leaver mark carries the Oslo calendar date: a leave at 00:00 Oslo
// time is 23:00 UTC (winter) or 22:00 UTC (summer) on the day before.
func TestLeaverMarkIsTheOsloDate(t *testing.T) {
	cleanupRun(t)
	conn := admin(t)
	for _, tc := range []struct {
		name string
		now  time.Time
		want string
	}{
		{"Winter", time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC), "tilgang: disabled 2026-11-26"},
		{"Summer", time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC), "tilgang: disabled 2026-07-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openTest(t, func(cfg *Config) { cfg.Now = func() time.Time { return tc.now } })
			p := person("Midt", "Natt", "1547")
			a := ensure(t, c, p, false)
			require.NoError(t, c.Disable(t.Context(), a))
			require.Equal(t, tc.want, accountOf(t, conn, p).GetAttributeValue("description"))
		})
	}
}

// 250 members read with range retrieval 100 at a time: the loop runs.
func TestListMembersRange(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, func(cfg *Config) { cfg.RangeSize = 100 })
	conn := admin(t)
	group := makeGroup(t, conn, "tilgang-test-range250")
	// Fixture users without passwords (Samba sets ~29 passwords a second),
	// kept between runs: a throw-away domain.
	var dns []string
	for i := range 250 {
		name := fmt.Sprintf("tilgang-range-%03d", i)
		dn := "CN=" + name + ",OU=1506,OU=ROR," + baseDN(t)
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{fmt.Sprintf("trange%03d", i)})
		if err := conn.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			require.NoError(t, err)
		}
		dns = append(dns, dn)
	}
	if len(entry(t, conn, group, "member").GetAttributeValues("member")) != 250 {
		mod := ldap.NewModifyRequest(group, nil)
		mod.Replace("member", dns)
		require.NoError(t, conn.Modify(mod))
	}
	before := rangeRequests.Load()
	refs, err := c.ListMembers(ctx, group)
	require.NoError(t, err)
	require.Len(t, refs, 250)
	require.GreaterOrEqual(t, rangeRequests.Load()-before, int64(3), "250 members at 100 a time take three requests")
	seen := map[string]bool{}
	for _, r := range refs {
		require.NotEmpty(t, r[RefSAM], "a user member has its name: %v", r)
		require.False(t, seen[r[RefDN]], "listed twice: %s", r[RefDN])
		seen[r[RefDN]] = true
	}
	for _, dn := range dns {
		require.True(t, seen[dn], "missing %s", dn)
	}
	empty := makeGroup(t, conn, "tilgang-test-empty-"+runID)
	deleteGroup(t, empty)
	refs, err = c.ListMembers(ctx, empty)
	require.NoError(t, err)
	require.Empty(t, refs)
}

// The process dies after the add and before the executor records the
// result: the retry (EnsureAccount with the Ref stored before the first
// call) adopts the account, with a fresh password, and there is one account.
func TestCrashBetweenCreateAndRecord(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	p := person("Kristin", "Krasj", "1535")
	stored, err := c.Resolve(ctx, p, nil) // stored by the executor before the first call
	require.NoError(t, err)
	first, cred1, err := c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: stored})
	require.NoError(t, err)
	require.NotNil(t, cred1)
	// ... crash: neither first nor cred1 was recorded. The retry:
	c2 := openTest(t, nil) // a new process
	again, err := c2.Resolve(ctx, p, stored)
	require.NoError(t, err)
	require.Equal(t, stored, again, "the stored target is used, not recomputed")
	second, cred2, err := c2.EnsureAccount(ctx, connectors.Account{Person: p, Ref: again})
	require.NoError(t, err)
	require.Equal(t, first, second, "the same account")
	require.Len(t, search(t, conn, eq("employeeID", p.ID), "1.1"), 1, "one account, not two")
	require.NotNil(t, cred2, "the lost password is replaced by one that is handed out")
	require.Equal(t, "773", bindCode(t, second[RefUPN], string(cred2.Secret)), "the fresh password is right and must be changed")
	// Samba (like AD for NTLM) still accepts the previous password for a
	// while after an administrator's reset, so cred1 is not checked here.
	// A later call with the recorded Ref issues nothing.
	_, cred3, err := c2.EnsureAccount(ctx, connectors.Account{Person: p, Ref: second})
	require.NoError(t, err)
	require.Nil(t, cred3)
	// And a fresh Resolve (a new operation) finds it by employeeID.
	fresh, err := c2.Resolve(ctx, p, nil)
	require.NoError(t, err)
	require.Equal(t, second, fresh)
}

// An initial password is for one logon: the person must change it then.
// A bind with it fails with AD's "must change password" (data 773), not
// "wrong password" (52e), for a new account and for one whose lost
// password was replaced on recovery.
func TestInitialPasswordMustBeChanged(t *testing.T) {
	ctx := t.Context()
	cleanupRun(t)
	t.Run("Fresh", func(t *testing.T) {
		c := openTest(t, nil)
		p := person("Eli", "Engang", "1547")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		got, cred, err := c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(t, err)
		require.NotNil(t, cred)
		require.Equal(t, "773", bindCode(t, got[RefUPN], string(cred.Secret)))
		require.Equal(t, "52e", bindCode(t, got[RefUPN], string(cred.Secret)+"x"))
	})
	t.Run("Recovered", func(t *testing.T) {
		c := openTest(t, nil)
		p := person("Eli", "Igjen", "1547")
		stored, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: stored})
		require.NoError(t, err)
		got, cred, err := openTest(t, nil).EnsureAccount(ctx, connectors.Account{Person: p, Ref: stored})
		require.NoError(t, err)
		require.NotNil(t, cred, "the recovery issues a fresh password")
		require.Equal(t, "773", bindCode(t, got[RefUPN], string(cred.Secret)))
		require.Equal(t, "52e", bindCode(t, got[RefUPN], string(cred.Secret)+"x"))
	})
}

// Values that would be LDAP injection if they were not escaped.
func TestHostileNames(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	base := baseDN(t)
	victim := ensure(t, c, person("Vera", "Offer", "1547"), false)

	t.Run("FilterValueCannotWidenTheSearch", func(t *testing.T) {
		for _, id := range []string{"*", "t" + runID + "-*", "*)(sAMAccountName=*", "x)(|(employeeID=*"} {
			p := person("Mallory", "Stjerne", "1547")
			p.ID = id
			ref, err := c.Resolve(ctx, p, nil)
			require.NoError(t, err, id)
			require.NotEqual(t, victim.Ref[RefSAM], ref[RefSAM], id)
			require.Empty(t, ref[RefGUID], "%s matched an existing account: %v", id, ref)
		}
		// A stored name of another person is not adopted either: never
		// recorded as ours, it was taken meanwhile, and a fresh one is used.
		p := person("Mallory", "Stjerne", "1547")
		ref, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: connectors.Ref{RefSAM: victim.Ref[RefSAM], RefDN: "CN=x,OU=1547,OU=ROR," + base}})
		require.NoError(t, err)
		require.NotEqual(t, victim.Ref[RefSAM], ref[RefSAM])
		require.NotEqual(t, victim.Ref[RefGUID], ref[RefGUID])
		require.Equal(t, "Vera", accountOf(t, conn, victim.Person).GetAttributeValue("givenName"), "the victim is untouched")
		// Once an account was recorded (objectGUID stored), a name that
		// another person's account answers to is a Conflict.
		q := person("Mallory", "Stjerne", "1547")
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: q, Ref: connectors.Ref{RefSAM: victim.Ref[RefSAM],
			RefGUID: "00112233445566778899aabbccddeeff", RefDN: "CN=x,OU=1547,OU=ROR," + base}})
		require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
	})
	t.Run("DNValueStaysOneRDN", func(t *testing.T) {
		p := person(`#Eve, OU=Groups`, `"Quote"+Plus\Back;<x> `, "1547")
		a := ensure(t, c, p, false)
		e := accountOf(t, conn, p)
		d, err := ldap.ParseDN(e.DN)
		require.NoError(t, err)
		require.Len(t, d.RDNs, 5, e.DN) // CN, OU=1547, OU=ROR, DC=ror, DC=test
		require.True(t, strings.HasSuffix(e.DN, ",OU=1547,OU=ROR,"+base), e.DN)
		require.Equal(t, `#Eve, OU=Groups`, e.GetAttributeValue("givenName"))
		require.Equal(t, `#Eve, OU=Groups "Quote"+Plus\Back;<x>`, e.GetAttributeValue("displayName"))
		require.Equal(t, "evequo", e.GetAttributeValue("sAMAccountName")[:6])
		require.NoError(t, c.Disable(ctx, a))
		require.NoError(t, c.Enable(ctx, a))
	})
	t.Run("MunicipalityCannotPickAnotherOU", func(t *testing.T) {
		p := person("Trond", "Triks", "1547,OU=Groups")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		require.Equal(t, `OU=1547\,OU\=Groups,OU=ROR,`+base, strings.SplitN(ref[RefDN], ",", 2)[1])
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.Equal(t, tilgang.NotFound, tilgang.KindOf(err), "%v", err)
		require.Empty(t, search(t, conn, eq("employeeID", p.ID), "1.1"))
	})
}

func TestErrors(t *testing.T) {
	ctx := t.Context()
	t.Run("WrongPasswordIsDenied", func(t *testing.T) {
		err := bindAs(t, "Administrator@ror.test", "wrong-Password-1")
		require.Equal(t, tilgang.Denied, tilgang.KindOf(err), "%v", err)
	})
	t.Run("NoServerIsUnavailable", func(t *testing.T) {
		c := openTest(t, func(cfg *Config) { cfg.URL = "ldaps://127.0.0.1:1"; cfg.DialTimeout = time.Second })
		_, err := c.Resolve(ctx, person("A", "B", "1547"), nil)
		require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
	})
	t.Run("UntrustedCertificateFails", func(t *testing.T) {
		c := openTest(t, func(cfg *Config) { cfg.CAFile = "" })
		_, err := c.Resolve(ctx, person("A", "B", "1547"), nil)
		require.Error(t, err)
		require.Contains(t, err.Error(), "certificate")
	})
	t.Run("CancelledContext", func(t *testing.T) {
		c := openTest(t, nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Resolve(cctx, person("A", "B", "1547"), nil)
		require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
	})
	t.Run("ShortPasswordIsInvalidWithTheServersMessage", func(t *testing.T) {
		conn := admin(t)
		cleanupRun(t)
		c := openTest(t, nil)
		a := ensure(t, c, person("Pål", "Passord", "1547"), false)
		mod := ldap.NewModifyRequest(a.Ref[RefDN], nil)
		mod.Replace("unicodePwd", []string{encodePassword("x")})
		err := classify(conn.Modify(mod), "ad: set password")
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%v", err)
		require.Contains(t, err.Error(), "Constraint")
	})
	t.Run("MissingOUIsNotFound", func(t *testing.T) {
		cleanupRun(t)
		c := openTest(t, nil)
		p := person("Oda", "Ouløs", "9999")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(t, err)
		_, _, err = c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.Equal(t, tilgang.NotFound, tilgang.KindOf(err), "%v", err)
	})
	t.Run("ReconnectAfterDroppedConnection", func(t *testing.T) {
		cleanupRun(t)
		c := openTest(t, nil)
		_, err := c.Resolve(ctx, person("A", "B", "1547"), nil)
		require.NoError(t, err)
		// Kill the pooled connections under the connector's feet.
		for range len(c.pool.idle) {
			conn := <-c.pool.idle
			conn.Close()
			c.pool.idle <- conn
		}
		_, err = c.Resolve(ctx, person("A", "B", "1547"), nil)
		require.NoError(t, err)
	})
}

// Samba behaviour the connector relies on, checked against the real DC so
// that a Samba upgrade that changes it is noticed.
func TestSambaMemberResultCodes(t *testing.T) {
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	group := makeGroup(t, conn, "tilgang-test-codes-"+runID)
	deleteGroup(t, group)
	a := ensure(t, c, person("Kode", "Sjekk", "1547"), false)
	mod := func(add bool, controls []ldap.Control) error {
		m := ldap.NewModifyRequest(group, controls)
		if add {
			m.Add("member", []string{a.Ref[RefDN]})
		} else {
			m.Delete("member", []string{a.Ref[RefDN]})
		}
		return conn.Modify(m)
	}
	ctl := []ldap.Control{permissive}
	require.NoError(t, mod(true, nil))
	code := func(err error) uint16 {
		var le *ldap.Error
		if err == nil {
			return 0
		}
		require.ErrorAs(t, err, &le)
		return le.ResultCode
	}
	t.Logf("add member already there: %d; with permissive modify: %d", code(mod(true, nil)), code(mod(true, ctl)))
	require.NoError(t, mod(false, nil))
	t.Logf("remove member not there: %d; with permissive modify: %d", code(mod(false, nil)), code(mod(false, ctl)))
}
