package ad

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// A mover to another municipality: EnsureAccount moves the account from
// the old municipality's OU to the new one's with ModifyDN, keeping its
// groups, objectGUID and sAMAccountName; a second call changes nothing.
// A leaver's account in leaver.ou and an account an administrator placed
// outside the user OUs stay where they are.
func TestMoverChangesOU(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	base := baseDN(t)
	g := makeGroup(t, conn, "tilgang-test-mv-"+runID)
	deleteGroup(t, g)

	p := person("Mona", "Flytter", "1547")
	a := ensure(t, c, p, false)
	require.NoError(t, c.Grant(ctx, a, g))
	before := accountOf(t, conn, p)
	require.True(t, strings.HasSuffix(before.DN, ",OU=1547,OU=ROR,"+base), before.DN)

	p.Municipality = "1506"
	a.Person = p
	for i := range 2 {
		ref, cred, err := c.EnsureAccount(ctx, a)
		require.NoError(t, err, "ensure %d", i+1)
		require.Nil(t, cred, "a move issues no password")
		e := accountOf(t, conn, p)
		require.Equal(t, "CN=Mona Flytter,OU=1506,OU=ROR,"+base, e.DN, "ensure %d", i+1)
		require.Equal(t, e.DN, ref[RefDN])
		require.Equal(t, a.Ref[RefGUID], ref[RefGUID], "the same account")
		require.Equal(t, before.GetAttributeValue("sAMAccountName"), e.GetAttributeValue("sAMAccountName"))
		require.True(t, isMemberAt(t, conn, g, e.DN), "the group follows the move")
		a.Ref = ref
	}
	require.Len(t, search(t, conn, eq("employeeID", p.ID), "1.1"), 1, "one account")

	// A stale stored Ref (the move's result lost in a crash) still finds it.
	a.Ref[RefDN] = before.DN
	p.Municipality = "1535"
	a.Person = p
	ref, _, err := c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "CN=Mona Flytter,OU=1535,OU=ROR,"+base, ref[RefDN])

	// Two people of the same name: the second moved gets the sAMAccountName in its CN.
	q := person("Mona", "Flytter", "1506")
	b := ensure(t, c, q, false)
	require.Equal(t, "CN=Mona Flytter,OU=1506,OU=ROR,"+base, b.Ref[RefDN])
	q.Municipality = "1535"
	b.Person = q
	ref, _, err = c.EnsureAccount(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "CN=Mona Flytter ("+b.Ref[RefSAM]+"),OU=1535,OU=ROR,"+base, ref[RefDN])

	// A leaver's account stays in leaver.ou when HR changes the municipality.
	require.NoError(t, c.Disable(ctx, a))
	p.Municipality = "1547"
	a.Person = p
	ref, _, err = c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(ref[RefDN], ",OU=Deaktivert,"+base), ref[RefDN])

	// An account outside the user OUs (CN=Users) is adopted where it is.
	r := person("Hand", "Laget", "1547")
	dn := "CN=Hand Laget " + runID + ",CN=Users," + base
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	add.Attribute("sAMAccountName", []string{"hl" + runID})
	add.Attribute("employeeID", []string{r.ID})
	require.NoError(t, conn.Add(add))
	found, err := c.Resolve(ctx, r, nil)
	require.NoError(t, err)
	ref, _, err = c.EnsureAccount(ctx, connectors.Account{Person: r, Ref: found})
	require.NoError(t, err)
	require.Equal(t, dn, ref[RefDN])
}

func TestIsUserOU(t *testing.T) {
	c := &Connector{cfg: Config{UserOU: "OU={municipality},OU=ROR,DC=ror,DC=test",
		UserOUs: map[string]string{"1547": "OU=Aukra,OU=Kommuner,DC=ror,DC=test"}}}
	for _, tc := range []struct {
		name, dn string
		want     bool
	}{
		{"pattern", "OU=1506,OU=ROR,DC=ror,DC=test", true},
		{"pattern, other case", "ou=1506,ou=ror,dc=ROR,dc=test", true},
		{"user_ous", "OU=Aukra,OU=Kommuner,DC=ror,DC=test", true},
		{"leaver ou", "OU=Deaktivert,DC=ror,DC=test", false},
		{"deeper", "OU=x,OU=1506,OU=ROR,DC=ror,DC=test", false},
		{"the parent", "OU=ROR,DC=ror,DC=test", false},
		{"users", "CN=Users,DC=ror,DC=test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ldap.ParseDN(tc.dn)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.isUserOU(d))
		})
	}
}

// Many joiners of one name provisioned at once: each Resolve sees the same
// free name, and the losers of each race take the next one when their add
// fails. Every person ends with one account and a distinct username.
func TestConcurrentJoinersOfOneName(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, func(cfg *Config) { cfg.PoolSize = 8 })
	conn := admin(t)
	cleanupRun(t)
	const n = 8
	var ps []tilgang.Person
	var refs []connectors.Ref
	for range n {
		p := person("Kari", "Samtidig", "1557")
		ref, err := c.Resolve(ctx, p, nil) // all before any is created: the same name
		require.NoError(t, err)
		ps, refs = append(ps, p), append(refs, ref)
	}
	require.Equal(t, refs[0][RefSAM], refs[n-1][RefSAM])
	var wg sync.WaitGroup
	errs := make([]error, n)
	got := make([]connectors.Ref, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cred *connectors.Credential
			got[i], cred, errs[i] = c.EnsureAccount(ctx, connectors.Account{Person: ps[i], Ref: refs[i]})
			if errs[i] == nil && cred == nil {
				errs[i] = fmt.Errorf("no credential for a new account")
			}
		}()
	}
	wg.Wait()
	sams := map[string]bool{}
	for i := range n {
		require.NoError(t, errs[i], ps[i].ID)
		require.Len(t, search(t, conn, eq("employeeID", ps[i].ID), "1.1"), 1, "one account for %s", ps[i].ID)
		require.Equal(t, got[i][RefSAM], accountOf(t, conn, ps[i]).GetAttributeValue("sAMAccountName"))
		sams[got[i][RefSAM]] = true
	}
	require.Len(t, sams, n, "distinct usernames: %v", sams)
}
