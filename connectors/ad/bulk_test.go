package ad

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Many accounts join a group in one modify; a modify the directory refuses
// whole (one account a member already, one gone) is done one by one, each
// account judged on its own; an account known only by name is granted as
// Grant does. RevokeMany likewise.
func TestGrantManyRevokeMany(t *testing.T) {
	ctx := t.Context()
	c := openTest(t, nil)
	conn := admin(t)
	cleanupRun(t)
	group := makeGroup(t, conn, "tilgang-test-many-"+runID)
	deleteGroup(t, group)
	var accts []connectors.Account
	for i := range 5 {
		accts = append(accts, ensure(t, c, person("Mange", string(rune('A'+i))+"sen", "1547"), false))
	}
	for _, a := range accts {
		require.Len(t, a.Ref[RefGUID], 32)
	}
	before := bulkModifies.Load()
	require.Equal(t, make([]error, 5), c.GrantMany(ctx, accts, group))
	require.Equal(t, int64(1), bulkModifies.Load()-before, "five members in one modify")
	for _, a := range accts {
		require.True(t, isMemberAt(t, conn, group, a.Ref[RefDN]), a.Person.ID)
	}

	// Again, with one more account, one known only by its name, and one
	// whose account is gone: the modify is refused whole (68 on Samba).
	extra := ensure(t, c, person("Mange", "Fsen", "1547"), false)
	byName := ensure(t, c, person("Mange", "Gsen", "1547"), false)
	delete(byName.Ref, RefGUID)
	gone := ensure(t, c, person("Mange", "Hsen", "1547"), false)
	require.NoError(t, conn.Del(ldap.NewDelRequest(gone.Ref[RefDN], nil)))
	all := append(append([]connectors.Account{}, accts...), extra, byName, gone)
	errs := c.GrantMany(ctx, all, group)
	require.Len(t, errs, len(all))
	for i, err := range errs[:len(all)-1] {
		require.NoError(t, err, all[i].Person.ID)
		require.True(t, isMemberAt(t, conn, group, all[i].Ref[RefDN]), all[i].Person.ID)
	}
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(errs[len(all)-1]), "%v", errs[len(all)-1])

	// Out again, with the one that is not a member: all done.
	errs = c.RevokeMany(ctx, all, group)
	require.Equal(t, make([]error, len(all)), errs)
	for _, a := range all[:len(all)-1] {
		require.False(t, isMemberAt(t, conn, group, a.Ref[RefDN]), a.Person.ID)
	}
	require.Equal(t, make([]error, 2), c.RevokeMany(ctx, accts[:2], group), "not members: done")

	// A group that is not there fails every account; one that is not a
	// group DN under base_dn as well, without a request.
	missing := "CN=tilgang-no-such-group,OU=Groups," + baseDN(t)
	for _, err := range c.GrantMany(ctx, accts[:2], missing) {
		require.Equal(t, tilgang.NotFound, tilgang.KindOf(err), "%v", err)
	}
	before = bulkModifies.Load()
	for _, err := range c.GrantMany(ctx, accts[:2], "not a dn") {
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%v", err)
	}
	require.Equal(t, before, bulkModifies.Load())
}
