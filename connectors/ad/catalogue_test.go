package ad

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
)

// adEntitlementRE finds an ad entitlement line of the catalogue, written
// or (while noop stands in for ad) in a comment: `ad: ["CN=...", ...]`.
var (
	adEntitlementRE = regexp.MustCompile(`\bad:\s*\[([^\]]*)\]`)
	quotedRE        = regexp.MustCompile(`"([^"]*)"`)
)

// catalogueGroups is every AD group DN the example catalogue names
// (policies/*.yaml and policies/README.md), with where it is named.
func catalogueGroups(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "..", "policies")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	files = append(files, filepath.Join(dir, "README.md"))
	out := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range adEntitlementRE.FindAllStringSubmatch(line, -1) {
				for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
					if _, ok := out[q[1]]; !ok {
						out[q[1]] = f + ":" + strconv.Itoa(i+1)
					}
				}
			}
		}
	}
	return out
}

// Every AD group the example catalogue names exists in the test DC that
// deploy/samba-testenv.sh makes, as a group under base_dn, so the two
// cannot drift apart.
func TestCatalogueGroupsExist(t *testing.T) {
	groups := catalogueGroups(t)
	require.NotEmpty(t, groups, "no ad entitlements found in policies/: the scan is broken")
	c := openTest(t, nil)
	conn := admin(t)
	for _, dn := range slices.Sorted(maps.Keys(groups)) {
		at := groups[dn]
		_, err := c.group(dn)
		require.NoError(t, err, "%s: %s", at, dn)
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, 0, false, "(objectClass=group)", []string{"1.1"}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Errorf("%s names %s, which the test DC does not have (deploy/samba-testenv.sh creates the catalogue's groups; run its start again)", at, dn)
			continue
		}
		require.NoError(t, err, dn)
		require.Len(t, res.Entries, 1, "%s: %s is not a group", at, dn)
	}
}
