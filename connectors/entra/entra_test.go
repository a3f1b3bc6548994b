package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/connectortest"
	"github.com/ror-ikt/tilgang/internal/graphemu"
)

const testSecret = "emu-secret"

// env is an emulator on a real port and a connector pointed at it.
type env struct {
	emu *graphemu.Server
	srv *httptest.Server
	c   *Connector
}

func newEnv(t testing.TB, faults graphemu.Faults, mod func(*Config)) *env {
	t.Helper()
	emu := graphemu.New(graphemu.Options{ClientID: "app", ClientSecret: testSecret, Domains: []string{"ror.test"}, Faults: faults, Seed: 7})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600))
	cfg := Config{Tenant: "ror-test", ClientID: "app", ClientSecretFile: secretFile,
		GraphURL: srv.URL + "/v1.0", AuthorityURL: srv.URL, UPNSuffix: "ror.test",
		MaxRetryWait: 5 * time.Second, ReplicationWait: 5 * time.Second, Timeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open("entra", cfg, nil)
	require.NoError(t, err)
	return &env{emu: emu, srv: srv, c: c}
}

var seq atomic.Int64

func person(given, family string) tilgang.Person {
	n := seq.Add(1)
	return tilgang.Person{ID: fmt.Sprintf("p%d-%d", time.Now().UnixNano()%1e6, n), GivenName: given, FamilyName: family, Municipality: "1547",
		Employments: []tilgang.Employment{{ID: "e1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier"}}}
}

func (e *env) ensure(t testing.TB, p tilgang.Person, disabled bool) (connectors.Account, *connectors.Credential) {
	t.Helper()
	ctx := t.Context()
	ref, err := e.c.Resolve(ctx, p, nil)
	require.NoError(t, err)
	a := connectors.Account{Person: p, Ref: ref, Disabled: disabled}
	got, cred, err := e.c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	a.Ref = got
	return a, cred
}

func (e *env) count(op string) int {
	n := 0
	for _, w := range e.emu.Writes() {
		if w.Op == op {
			n++
		}
	}
	return n
}

// exactlyOnce asserts no write was applied twice.
func (e *env) exactlyOnce(t testing.TB) {
	t.Helper()
	seen := map[graphemu.Write]int{}
	for _, w := range e.emu.Writes() {
		if w.Op == "user.update" {
			continue
		}
		seen[w]++
		require.Equal(t, 1, seen[w], "applied twice: %+v", w)
	}
}

func TestConnectorSuite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	g := e.emu.AddGroup("tilgang-suite", false)
	connectortest.Run(t, connectortest.Target{
		Connector:   e.c,
		Person:      func(t *testing.T) tilgang.Person { return person("Kari", "Nordmann") },
		Entitlement: g,
		Member: func(t *testing.T, a connectors.Account, ent string) bool {
			for _, m := range e.emu.Members(ent) {
				if m == a.Ref[RefID] {
					return true
				}
			}
			return false
		},
		Enabled: func(t *testing.T, a connectors.Account) bool {
			u, ok := e.emu.User(a.Ref[RefID])
			require.True(t, ok)
			return u["accountEnabled"] == true
		},
	})
	e.exactlyOnce(t)
}

func TestCreateIdempotentAndNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ctx := t.Context()
	p := person("Åse", "Øvergård-Bø")
	a, cred := e.ensure(t, p, false)
	require.NotNil(t, cred)
	require.Equal(t, "aase.overgaard-bo@ror.test", a.Ref[RefUPN])
	require.Equal(t, a.Ref[RefUPN], cred.Username)
	require.GreaterOrEqual(t, len(cred.Secret), 16)
	u, _ := e.emu.User(a.Ref[RefID])
	for k, v := range map[string]any{"employeeId": p.ID, "usageLocation": "NO", "department": "helse/hjemmetjenesten",
		"jobTitle": "sykepleier", "displayName": "Åse Øvergård-Bø", "accountEnabled": true, "mailNickname": "aase.overgaard-bo"} {
		require.Equal(t, v, u[k], k)
	}

	// A repeat, with and without the stored Ref, is the same user and no new
	// password. (A Ref with the resolved UPN but no object id is a create
	// whose result was lost: TestLostCreateResultStillYieldsCredential.)
	for _, ref := range []connectors.Ref{a.Ref, nil} {
		got, cred2, err := e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(t, err)
		require.Nil(t, cred2)
		require.Equal(t, a.Ref[RefID], got[RefID])
	}
	require.Equal(t, 1, e.count("user.create"))

	// A mover: new position, one PATCH of what changed.
	p.Employments[0].Position = "avdelingsleder"
	_, _, err := e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: a.Ref})
	require.NoError(t, err)
	u, _ = e.emu.User(a.Ref[RefID])
	require.Equal(t, "avdelingsleder", u["jobTitle"])
	w := e.emu.Writes()
	require.Equal(t, graphemu.Write{Op: "user.update", Target: a.Ref[RefID], Detail: "jobTitle"}, w[len(w)-1])

	// A namesake gets the next free UPN.
	b, _ := e.ensure(t, person("Åse", "Øvergård-Bø"), false)
	require.Equal(t, "aase.overgaard-bo2@ror.test", b.Ref[RefUPN])
}

// A create applied by Graph whose result was never recorded leaves a user
// nobody has the credential of. Here the create's response is dropped and
// its retry meets a Retry-After beyond max_retry_wait, so the attempt ends
// Throttled (equally a timeout, a crash or a lost claim). The next attempt,
// with the stored Ref that has the resolved UPN but no object id yet, finds
// the user by employeeId and hands out a fresh credential as the create
// would have, unless the person has signed in with the user meanwhile.
func TestLostCreateResultStillYieldsCredential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode string
		signedIn   bool
		secretLen  int // 0: no credential
	}{
		{name: "password", mode: "password", secretLen: 16},
		{name: "temporary access pass", mode: "temporary_access_pass", secretLen: 12},
		{name: "signed in meanwhile", mode: "password", signedIn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.InitialCredential = tc.mode })
			ctx := t.Context()
			p := person("Tapt", "Svar")
			ref, err := e.c.Resolve(ctx, p, nil)
			require.NoError(t, err)
			// Three requests pass: the look-ups by employeeId and by UPN, and
			// the create, applied and its response dropped. The retried
			// create is throttled for a minute.
			e.emu.SetFaults(graphemu.Faults{Budget: 3, Window: time.Minute, DropAfterWrite: 1})
			_, cred, err := e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
			require.Equal(t, tilgang.Throttled, tilgang.KindOf(err), "%v", err)
			require.Nil(t, cred)
			require.Equal(t, 1, e.count("user.create"), "Graph applied the create")
			e.emu.SetFaults(graphemu.Faults{})
			if tc.signedIn {
				require.True(t, e.emu.SignIn(ref[RefUPN]))
			}

			got, cred, err := e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
			require.NoError(t, err)
			u, ok := e.emu.User(ref[RefUPN])
			require.True(t, ok)
			require.Equal(t, u["id"], got[RefID])
			require.Equal(t, 1, e.count("user.create"))
			resets := 0
			for _, w := range e.emu.Writes() {
				if w.Op == "user.update" && strings.Contains(w.Detail, "passwordProfile") {
					resets++
				}
			}
			if tc.secretLen == 0 {
				require.Nil(t, cred, "a user signed in to keeps its password")
				require.Zero(t, resets)
				return
			}
			require.NotNil(t, cred, "the credential lost with the create's result is issued afresh")
			require.Equal(t, ref[RefUPN], cred.Username)
			require.Len(t, string(cred.Secret), tc.secretLen)
			require.Equal(t, 1, resets, "the password is reset once")
			if tc.mode == "temporary_access_pass" {
				require.Equal(t, 1, e.count("user.tap"))
			}

			// Recorded now (the object id in the Ref): a repeat issues nothing.
			_, cred, err = e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: got})
			require.NoError(t, err)
			require.Nil(t, cred)
		})
	}
}

func TestPermanentErrorCarriesGraphMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.UPNSuffix = "unverified.example" })
	ctx := t.Context()
	p := person("Ola", "Nordmann")
	ref, err := e.c.Resolve(ctx, p, nil)
	require.NoError(t, err)
	_, _, err = e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
	require.Error(t, err)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "You must use one of the verified domain names in your organization")
	require.Equal(t, 5, e.emu.Requests(), "a permanent error is not retried (4 lookups and one POST)")
}

func TestThrottledRunCompletesExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{Budget: 15, Window: time.Second}, func(c *Config) { c.Concurrency = 8; c.MaxRetries = 20 })
	g := e.emu.AddGroup("Hjemmetjenesten", false)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := t.Context()
			p := person("Kari", fmt.Sprintf("Throttle%d", i))
			ref, err := e.c.Resolve(ctx, p, nil)
			if err == nil {
				ref, _, err = e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
			}
			if err == nil {
				err = e.c.Grant(ctx, connectors.Account{Person: p, Ref: ref}, g)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, n, e.count("user.create"))
	require.Equal(t, n, e.count("member.add"))
	require.Len(t, e.emu.Members(g), n)
	e.exactlyOnce(t)
	require.Greater(t, e.emu.Requests(), 4*n, "some requests were throttled and retried")
}

func TestReplicationDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{ReplicationDelay: 1500 * time.Millisecond}, nil)
	ctx := t.Context()
	g := e.emu.AddGroup("Legevakt", false)
	a, cred := e.ensure(t, person("Per", "Replika"), false)
	require.NotNil(t, cred)
	start := time.Now()
	require.NoError(t, e.c.Grant(ctx, a, g), "a 404 right after the create is retried")
	require.NoError(t, e.c.Disable(ctx, a))
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Equal(t, []string{a.Ref[RefID]}, e.emu.Members(g))
	u, _ := e.emu.User(a.Ref[RefID])
	require.Equal(t, false, u["accountEnabled"])
	require.Equal(t, 1, e.count("user.create"))
	e.exactlyOnce(t)
}

func TestDroppedResponsesApplyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{DropAfterWrite: 0.5}, func(c *Config) { c.MaxRetries = 10 })
	ctx := t.Context()
	g := e.emu.AddGroup("Skole", false)
	for i := range 6 {
		a, cred := e.ensure(t, person("Lise", fmt.Sprintf("Drop%d", i)), false)
		require.NotNil(t, cred, "a new user's password is handed out, recovered or not")
		require.NoError(t, e.c.Grant(ctx, a, g))
		require.NoError(t, e.c.Revoke(ctx, a, g))
	}
	require.Equal(t, 6, e.count("user.create"))
	require.Equal(t, 6, e.count("member.add"))
	require.Equal(t, 6, e.count("member.remove"))
	e.exactlyOnce(t)
}

func TestOneRetryLayer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{Unavailable: 1}, func(c *Config) { c.MaxRetries = 2 })
	_, err := e.c.Resolve(t.Context(), person("Nils", "Feil"), nil)
	require.Error(t, err)
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "graph 503")
	require.Equal(t, 3, e.emu.Requests(), "one try and two retries: the SDK's RetryHandler is not stacked on ours")
}

func TestThrottledBeyondMaxWaitGoesToOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{Budget: 2, Window: time.Minute}, func(c *Config) { c.MaxRetryWait = time.Second })
	ctx := t.Context()
	_, err := e.c.Resolve(ctx, person("A", "B"), nil) // uses the budget
	require.NoError(t, err)
	_, err = e.c.Resolve(ctx, person("C", "D"), nil)
	require.Equal(t, tilgang.Throttled, tilgang.KindOf(err))
	require.Greater(t, tilgang.RetryAfterOf(err), 50*time.Second)
}

// A Retry-After within max_retry_wait but beyond the caller's deadline is
// handed back at once as Throttled with its RetryAfter, not slept into a
// bare deadline error that the outbox would retry with blind backoff.
func TestThrottledPastDeadlineKeepsRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{Budget: 2, Window: time.Minute}, func(c *Config) { c.MaxRetryWait = 2 * time.Minute })
	_, err := e.c.Resolve(t.Context(), person("A", "B"), nil) // uses the budget
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = e.c.Resolve(ctx, person("C", "D"), nil)
	require.Equal(t, tilgang.Throttled, tilgang.KindOf(err), "%v", err)
	require.Greater(t, tilgang.RetryAfterOf(err), 50*time.Second)
	require.Contains(t, err.Error(), "graph 429")
}

func TestSyncedFromAD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ctx := t.Context()
	p := person("Siri", "Synk")
	id := e.emu.AddUser(map[string]any{"userPrincipalName": "siri.synk@ror.test", "employeeId": p.ID,
		"displayName": "Siri Synk (AD)", "onPremisesSyncEnabled": true})
	ref, err := e.c.Resolve(ctx, p, nil)
	require.NoError(t, err)
	require.Equal(t, id, ref[RefID])
	got, cred, err := e.c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
	require.NoError(t, err, "a synced user is adopted")
	require.Nil(t, cred)
	require.Equal(t, "true", got[RefSynced])
	a := connectors.Account{Person: p, Ref: got}
	err = e.c.Disable(ctx, a)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "ad connector")

	sg := e.emu.AddGroup("GG-AD-Helse", true)
	err = e.c.Grant(ctx, a, "GG-AD-Helse")
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "ad connector")
	require.Empty(t, e.emu.Members(sg))
	require.Empty(t, e.emu.Writes())
	refs, err := e.c.ListMembers(ctx, "GG-AD-Helse")
	require.NoError(t, err, "reading a synced group is allowed")
	require.Empty(t, refs)

	// A tenant whose users come from AD: no cloud-only duplicate, wait for the sync.
	h := newEnv(t, graphemu.Faults{}, func(c *Config) { c.SyncedFromAD = true })
	q := person("Ny", "Ansatt")
	ref, err = h.c.Resolve(ctx, q, nil)
	require.NoError(t, err)
	_, _, err = h.c.EnsureAccount(ctx, connectors.Account{Person: q, Ref: ref})
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err))
	require.Empty(t, h.emu.Writes())
}

func TestListMembersPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	g := e.emu.AddGroup("Alle ansatte", false)
	want := map[string]bool{}
	for i := range 1234 {
		id := e.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("u%d@ror.test", i)})
		e.emu.AddMembersDirect(g, id)
		want[id] = true
	}
	refs, err := e.c.ListMembers(t.Context(), "Alle ansatte")
	require.NoError(t, err)
	require.Len(t, refs, 1234)
	for _, r := range refs {
		require.True(t, want[r[RefID]])
		require.NotEmpty(t, r[RefUPN])
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	t.Parallel()
	err := (&Config{GraphURL: "http://graph.example.com/v1.0", Concurrency: 100}).Validate()
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	for _, s := range []string{"tenant", "client_id", "client_secret_env", "plain http", "upn_suffix", "concurrency"} {
		require.Contains(t, err.Error(), s)
	}
	require.NotContains(t, Config{ClientSecretEnv: "X"}.String(), "X=")
}

func TestBadSecretIsDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	bad := filepath.Join(t.TempDir(), "s")
	require.NoError(t, os.WriteFile(bad, []byte("wrong"), 0o600))
	cfg := e.c.cfg
	cfg.ClientSecretFile = bad
	c, err := Open("entra", cfg, nil)
	require.NoError(t, err)
	_, err = c.Resolve(t.Context(), person("A", "B"), nil)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "AADSTS7000215")
	require.NotContains(t, err.Error(), "wrong")
}

func TestGrantManyAndRevokeManyPartialFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ctx := t.Context()
	g := e.emu.AddGroup("Barnehage", false)
	var accounts []connectors.Account
	for i := range 45 {
		id := e.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("bulk%d@ror.test", i)})
		accounts = append(accounts, connectors.Account{Person: person("B", fmt.Sprint(i)), Ref: connectors.Ref{RefID: id}})
	}
	e.emu.AddMembersDirect(g, accounts[3].Ref[RefID])                                // already a member: success
	accounts[30].Ref = connectors.Ref{RefID: "00000000-0000-0000-0000-00000000dead"} // no such user
	errs := e.c.GrantMany(ctx, accounts, g)
	for i, err := range errs {
		if i == 30 {
			require.Equal(t, tilgang.NotFound, tilgang.KindOf(err), "only the missing user fails")
			continue
		}
		require.NoError(t, err, "account %d", i)
	}
	require.Len(t, e.emu.Members(g), 44)
	require.Equal(t, 43, e.count("member.add"))
	e.exactlyOnce(t)

	errs = e.c.RevokeMany(ctx, append(accounts[:10:10], accounts[:5]...), g)
	for _, err := range errs {
		require.NoError(t, err, "a member already removed is success")
	}
	require.Len(t, e.emu.Members(g), 34)
	require.Equal(t, 10, e.count("member.remove"))
}

func TestBatchUnderThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{Budget: 12, Window: time.Second}, func(c *Config) { c.MaxRetries = 20 })
	ctx := t.Context()
	g := e.emu.AddGroup("Sykehjem", false)
	var accounts []connectors.Account
	for i := range 60 {
		id := e.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("t%d@ror.test", i)})
		accounts = append(accounts, connectors.Account{Person: person("T", fmt.Sprint(i)), Ref: connectors.Ref{RefID: id}})
	}
	// Every inner request counts against the budget, so batches of 20 are
	// partly answered 429 and the rest is sent again after Retry-After.
	for _, err := range e.c.RevokeMany(ctx, accounts, g) {
		require.NoError(t, err)
	}
	e.emu.AddMembersDirect(g, accounts[0].Ref[RefID]) // makes the odata.bind PATCH of the first 20 fail
	for _, err := range e.c.GrantMany(ctx, accounts, g) {
		require.NoError(t, err)
	}
	require.Len(t, e.emu.Members(g), 60)
	require.Equal(t, 59, e.count("member.add"))
	e.exactlyOnce(t)
}

func TestExpiredTokenIsRenewed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, nil)
	ctx := t.Context()
	_, err := e.c.Resolve(ctx, person("A", "B"), nil)
	require.NoError(t, err)
	e.emu.RevokeTokens()
	_, err = e.c.Resolve(ctx, person("C", "D"), nil)
	require.NoError(t, err, "a 401 fetches a fresh token once")
}

func selfSigned(t *testing.T) (der []byte, pemFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tilgang"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pemFile = filepath.Join(t.TempDir(), "entra.pem")
	b := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})...)
	require.NoError(t, os.WriteFile(pemFile, b, 0o600))
	return der, pemFile
}

func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	der, file := selfSigned(t)
	_, other := selfSigned(t)
	emu := graphemu.New(graphemu.Options{ClientID: "app", ClientCertificate: der})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := Config{Tenant: "ror-test", ClientID: "app", ClientCertFile: file, GraphURL: srv.URL + "/v1.0",
		AuthorityURL: srv.URL, UPNSuffix: "ror.test"}
	c, err := Open("entra", cfg, nil)
	require.NoError(t, err)
	_, err = c.Resolve(t.Context(), person("Cert", "Ifikat"), nil)
	require.NoError(t, err, "a token from a signed client assertion")

	cfg.ClientCertFile = other
	c, err = Open("entra", cfg, nil)
	require.NoError(t, err)
	_, err = c.Resolve(t.Context(), person("Cert", "Ifikat"), nil)
	require.Equal(t, tilgang.Denied, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "AADSTS700027")
}

// With initial_credential: temporary_access_pass a new user's person gets a
// Temporary Access Pass, made once, instead of the password.
func TestTemporaryAccessPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphemu.Faults{}, func(c *Config) { c.InitialCredential = "temporary_access_pass"; c.TAPLifetime = 8 * time.Hour })
	a, cred := e.ensure(t, person("Åse", "Øvergård-Bø"), false)
	require.NotNil(t, cred)
	require.Len(t, string(cred.Secret), 12, "a pass, not the 16-character password")
	require.Equal(t, 1, e.count("user.tap"))
	again, cred2, err := e.c.EnsureAccount(t.Context(), a)
	require.NoError(t, err)
	require.Equal(t, a.Ref, again)
	require.Nil(t, cred2, "an existing user gets no new pass")
	require.Equal(t, 1, e.count("user.tap"))
	require.Error(t, (&Config{Tenant: "t", ClientID: "c", ClientSecretEnv: "X", UPNSuffix: "ror.test", InitialCredential: "sms"}).Validate())
}

// A group deleted and made again under the same name gets a new id. The
// cached id then answers 404; the connector finds the group gone, forgets
// it and looks it up again within the same call, so each operation below
// succeeds at its first attempt against the new group. A revoke must not
// take the deleted group's 404 for "not a member".
func TestRecreatedGroupIsLookedUpAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		before, after bool // the account is a member of the new group
		do            func(t *testing.T, c *Connector, a connectors.Account, ent string)
	}{
		{name: "grant", before: false, after: true, do: func(t *testing.T, c *Connector, a connectors.Account, ent string) {
			require.NoError(t, c.Grant(t.Context(), a, ent))
		}},
		{name: "revoke", before: true, after: false, do: func(t *testing.T, c *Connector, a connectors.Account, ent string) {
			require.NoError(t, c.Revoke(t.Context(), a, ent))
		}},
		{name: "grant many", before: false, after: true, do: func(t *testing.T, c *Connector, a connectors.Account, ent string) {
			require.Equal(t, []error{nil}, c.GrantMany(t.Context(), []connectors.Account{a}, ent))
		}},
		{name: "revoke many", before: true, after: false, do: func(t *testing.T, c *Connector, a connectors.Account, ent string) {
			require.Equal(t, []error{nil}, c.RevokeMany(t.Context(), []connectors.Account{a}, ent))
		}},
		{name: "list members", before: true, after: true, do: func(t *testing.T, c *Connector, a connectors.Account, ent string) {
			refs, err := c.ListMembers(t.Context(), ent)
			require.NoError(t, err)
			require.Equal(t, []connectors.Ref{{RefID: a.Ref[RefID], RefUPN: a.Ref[RefUPN]}}, refs)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, graphemu.Faults{}, nil)
			const ent = "Hjemmetjenesten"
			old := e.emu.AddGroup(ent, false)
			a, _ := e.ensure(t, person("Gro", "Gruppe"), false)
			require.NoError(t, e.c.Grant(t.Context(), a, ent), "looks the group up and caches its id")
			require.Equal(t, []string{a.Ref[RefID]}, e.emu.Members(old))

			e.emu.DeleteGroup(old)
			renewed := e.emu.AddGroup(ent, false)
			if tc.before {
				e.emu.AddMembersDirect(renewed, a.Ref[RefID])
			}
			tc.do(t, e.c, a, ent)
			if tc.after {
				require.Equal(t, []string{a.Ref[RefID]}, e.emu.Members(renewed))
			} else {
				require.Empty(t, e.emu.Members(renewed))
			}
		})
	}
}
