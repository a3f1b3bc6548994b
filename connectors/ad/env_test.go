package ad

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

const defaultEnvFile = "/var/tmp/tilgang-samba/env"

// testEnv is what deploy/samba-testenv.sh wrote. Without it the test
// skips, except under CI=true, where it fails: CI never skips Samba.
func testEnv(t testing.TB) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"TILGANG_AD_URL", "TILGANG_AD_CA_FILE", "TILGANG_AD_BIND_DN", "TILGANG_AD_BIND_UPN",
		"TILGANG_AD_BIND_PASSWORD", "TILGANG_AD_BIND_PASSWORD_FILE", "TILGANG_AD_BASE_DN"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	if env["TILGANG_AD_URL"] == "" {
		path := os.Getenv("TILGANG_AD_ENV_FILE")
		if path == "" {
			path = defaultEnvFile
		}
		f, err := os.Open(path)
		if err != nil {
			msg := fmt.Sprintf("no Samba AD test environment (%v); start one with: bash deploy/samba-testenv.sh start", err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

var runID = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

var personSeq atomic.Int64

// testConfig is the config the tests use against the Samba DC.
func testConfig(t testing.TB) Config {
	env := testEnv(t)
	cfg := Config{
		URL:             env["TILGANG_AD_URL"],
		CAFile:          env["TILGANG_AD_CA_FILE"],
		BindDN:          env["TILGANG_AD_BIND_DN"],
		BaseDN:          env["TILGANG_AD_BASE_DN"],
		UserOU:          "OU={municipality},OU=ROR," + env["TILGANG_AD_BASE_DN"],
		UPNSuffix:       "ror.test",
		UsernamePattern: "{given:3}{family:3}",
		Leaver:          LeaverConfig{OU: "OU=Deaktivert," + env["TILGANG_AD_BASE_DN"], MarkAttribute: "description"},
		PoolSize:        4,
		RangeSize:       100,
		// The DC is shared with other builds' tests: a bind can take
		// longer than the default 5 s there.
		DialTimeout: 30 * time.Second,
	}
	if f := env["TILGANG_AD_BIND_PASSWORD_FILE"]; f != "" {
		cfg.BindPasswordFile = f
	} else {
		t.Setenv("TILGANG_AD_BIND_PASSWORD", env["TILGANG_AD_BIND_PASSWORD"])
		cfg.BindPasswordEnv = "TILGANG_AD_BIND_PASSWORD"
	}
	return cfg
}

func openTest(t testing.TB, mod func(*Config)) *Connector {
	t.Helper()
	cfg := testConfig(t)
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open("ad-test", cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// admin is a plain go-ldap connection for reading the directory directly:
// tests check the DC, not the connector's word.
func admin(t testing.TB) *ldap.Conn {
	t.Helper()
	cfg := testConfig(t)
	c, err := Open("ad-admin", cfg, nil)
	require.NoError(t, err)
	conn, err := c.pool.dial(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); c.Close() })
	return conn
}

func baseDN(t testing.TB) string { return testEnv(t)["TILGANG_AD_BASE_DN"] }

// person is a fresh person of this run; its id carries the run id, so
// cleanup finds what the test made.
func person(given, family, municipality string) tilgang.Person {
	n := personSeq.Add(1)
	id := fmt.Sprintf("t%s-%d", runID, n)
	return tilgang.Person{ID: id, GivenName: given, FamilyName: family, Municipality: municipality,
		Email: fmt.Sprintf("%s@example.test", id),
		Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100,
			OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier", Start: mustDate("2024-08-01")}}}
}

// search is a subtree search under the base DN, straight to the DC.
func search(t testing.TB, conn *ldap.Conn, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(baseDN(t), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, attrs, nil), 500)
	require.NoError(t, err)
	return res.Entries
}

func entry(t testing.TB, conn *ldap.Conn, dn string, attrs ...string) *ldap.Entry {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", attrs, nil))
	require.NoError(t, err, dn)
	require.Len(t, res.Entries, 1)
	return res.Entries[0]
}

func accountOf(t testing.TB, conn *ldap.Conn, p tilgang.Person) *ldap.Entry {
	t.Helper()
	es := search(t, conn, eq("employeeID", p.ID), "userAccountControl", "memberOf", "sAMAccountName", "description", "displayName", "givenName", "sn")
	require.Len(t, es, 1, "exactly one account carries employeeID %s", p.ID)
	return es[0]
}

// cleanupRun deletes the accounts this run made, at the end of the test.
func cleanupRun(t testing.TB) {
	t.Cleanup(func() {
		cfg := testConfig(t)
		c, err := Open("ad-cleanup", cfg, nil)
		if err != nil {
			return
		}
		defer c.Close()
		conn, err := c.pool.dial(context.Background())
		if err != nil {
			return
		}
		defer conn.Close()
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(employeeID=t"+runID+"-*)", []string{"1.1"}, nil), 500)
		if err != nil {
			return
		}
		for _, e := range res.Entries {
			_ = conn.Del(ldap.NewDelRequest(e.DN, nil))
		}
	})
}

// makeGroup creates a security group under OU=Groups (or finds it).
func makeGroup(t testing.TB, conn *ldap.Conn, name string) string {
	t.Helper()
	dn := "CN=" + escapeRDN(name) + ",OU=Groups," + baseDN(t)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{name})
	if err := conn.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		require.NoError(t, err)
	}
	return dn
}

func deleteGroup(t testing.TB, dn string) {
	t.Cleanup(func() {
		conn := admin(t)
		_ = conn.Del(ldap.NewDelRequest(dn, nil))
	})
}

func isMemberAt(t testing.TB, conn *ldap.Conn, group, userDN string) bool {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, eq("member", userDN), []string{"1.1"}, nil))
	require.NoError(t, err)
	return len(res.Entries) == 1
}

func bindAs(t testing.TB, upn, password string) error {
	t.Helper()
	cfg := testConfig(t)
	cfg.BindDN = upn
	cfg.BindPasswordFile = ""
	t.Setenv("TILGANG_AD_TEST_USER_PW", password)
	cfg.BindPasswordEnv = "TILGANG_AD_TEST_USER_PW"
	c, err := Open("ad-user", cfg, nil)
	require.NoError(t, err)
	defer c.Close()
	conn, err := c.pool.dial(context.Background())
	if conn != nil {
		conn.Close()
	}
	return err
}

// bindCode is AD's sub-code of a refused bind, the "data NNN" in the
// server's message: 52e wrong password, 773 right password that must be
// changed first, 533 disabled account. "" when the bind succeeds.
func bindCode(t testing.TB, upn, password string) string {
	t.Helper()
	err := bindAs(t, upn, password)
	if err == nil {
		return ""
	}
	var le *ldap.Error
	require.ErrorAs(t, err, &le)
	require.EqualValues(t, ldap.LDAPResultInvalidCredentials, le.ResultCode, "%v", err)
	m := regexp.MustCompile(`data ([0-9a-f]+)`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, "no sub-code in %v", err)
	return m[1]
}

var _ = connectors.Ref{}

func mustDate(s string) tilgang.Date {
	d, err := tilgang.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}
