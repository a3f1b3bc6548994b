package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/ad"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// sambaEnv is what deploy/samba-testenv.sh wrote; without it the
// benchmark skips, except under CI=true.
func sambaEnv(b testing.TB) map[string]string {
	path := os.Getenv("TILGANG_AD_ENV_FILE")
	if path == "" {
		path = "/var/tmp/tilgang-samba/env"
	}
	f, err := os.Open(path)
	if err != nil {
		msg := fmt.Sprintf("no Samba AD test environment (%v); start one with: bash deploy/samba-testenv.sh start", err)
		if os.Getenv("CI") == "true" {
			b.Fatal(msg)
		}
		b.Skip(msg)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

func adminLDAP(b testing.TB, env map[string]string) *ldap.Conn {
	pem, err := os.ReadFile(env["TILGANG_AD_CA_FILE"])
	require.NoError(b, err)
	pool := x509.NewCertPool()
	require.True(b, pool.AppendCertsFromPEM(pem))
	conn, err := ldap.DialURL(env["TILGANG_AD_URL"], ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	if err != nil {
		conn, err = ldap.DialURL(env["TILGANG_AD_URL"], ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	require.NoError(b, err)
	pw, err := os.ReadFile(env["TILGANG_AD_BIND_PASSWORD_FILE"])
	require.NoError(b, err)
	require.NoError(b, conn.Bind(env["TILGANG_AD_BIND_DN"], strings.TrimSpace(string(pw))))
	return conn
}

// add adds an entry unless it is there already.
func add(b testing.TB, conn *ldap.Conn, dn string, attrs map[string][]string) {
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := conn.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		require.NoError(b, err, dn)
	}
}

func adPassword(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	out := make([]byte, 2*len(u))
	for i, r := range u {
		out[2*i], out[2*i+1] = byte(r), byte(r>>8)
	}
	return string(out)
}

// timedAD is the ad connector with the calls the executor makes timed by
// kind: where the time goes.
type timedAD struct {
	*ad.Connector
	mu    sync.Mutex
	calls map[string]*callStat
	// tries counts the calls for each operation (kind, person,
	// entitlement): the calls beyond the first are retries.
	tries         map[string]int
	errors        int // calls that returned an error
	resolveFailed int // a failed resolve is the first call of an attempt that is repeated
}

type callStat struct {
	n, accounts int
	took        time.Duration
}

// try notes one call for the operation key, and whether it failed.
func (t *timedAD) try(key string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tries[key]++
	if err != nil {
		t.errors++
	}
}

// retried is how many calls repeated an earlier one's operation.
func (t *timedAD) retried() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.resolveFailed
	for _, c := range t.tries {
		n += c - 1
	}
	return n
}

func (t *timedAD) note(kind string, accounts int, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.calls[kind]
	if s == nil {
		s = &callStat{}
		t.calls[kind] = s
	}
	s.n++
	s.accounts += accounts
	s.took += time.Since(start)
}

func (t *timedAD) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	defer t.note("resolve", 1, time.Now())
	ref, err := t.Connector.Resolve(ctx, p, prior)
	if err != nil {
		t.mu.Lock()
		t.errors++
		t.resolveFailed++
		t.mu.Unlock()
	}
	return ref, err
}

func (t *timedAD) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	defer t.note("ensure_account", 1, time.Now())
	ref, cred, err := t.Connector.EnsureAccount(ctx, a)
	t.try("ensure_account "+a.Person.ID, err)
	return ref, cred, err
}

func (t *timedAD) Grant(ctx context.Context, a connectors.Account, ent string) error {
	defer t.note("grant", 1, time.Now())
	err := t.Connector.Grant(ctx, a, ent)
	t.try("grant "+a.Person.ID+" "+ent, err)
	return err
}

func (t *timedAD) GrantMany(ctx context.Context, as []connectors.Account, ent string) []error {
	defer t.note("grant (several at once)", len(as), time.Now())
	errs := t.Connector.GrantMany(ctx, as, ent)
	for i, a := range as {
		t.try("grant "+a.Person.ID+" "+ent, errs[i])
	}
	return errs
}

// report adds each kind's mean time of one call as a metric ("ms-resolve",
// "ms-ensure_account", "ms-grant", "ms-grant_many"): where the time goes,
// beside the wait for a turn.
func (t *timedAD) report(b *testing.B) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, s := range t.calls {
		name := strings.ReplaceAll(k, " (several at once)", "_many")
		b.ReportMetric(float64(s.took.Milliseconds())/float64(s.n), "ms-"+name)
	}
}

// scrape reads the named samples (name{labels} as served) from the
// worker's /metrics; a sample not served is 0.
func scrape(b *testing.B, addr string, names ...string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(b, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && slices.Contains(names, name) {
			out[name], err = strconv.ParseFloat(value, 64)
			require.NoError(b, err, sc.Text())
		}
	}
	require.NoError(b, sc.Err())
	return out
}

// String is the calls by kind: how many, for how many accounts, the mean
// time of one (the pool's wait for a connection included).
func (t *timedAD) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for k, s := range t.calls {
		out = append(out, fmt.Sprintf("%s: %d calls for %d accounts, %s each", k, s.n, s.accounts, (s.took/time.Duration(s.n)).Round(time.Millisecond)))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// BenchmarkSchoolYear: the school year's joiners (TILGANG_BENCH_JOINERS,
// default 2,000), each with three birthright roles, from `hr sync` of one
// snapshot to every grant active in a real Samba AD DC; beside it, in the
// same run, a plain go-ldap loop making the same accounts (with a
// password) and memberships, one after another (README "Measured").
func BenchmarkSchoolYear(b *testing.B) {
	env := sambaEnv(b)
	n := 2000
	if s := os.Getenv("TILGANG_BENCH_JOINERS"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	base := env["TILGANG_AD_BASE_DN"]
	conn := adminLDAP(b, env)
	defer func() { conn.Close() }()
	add(b, conn, "OU=ROR,"+base, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	add(b, conn, "OU=Groups,"+base, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	groups := []string{}
	for _, g := range []string{"A", "B", "C"} {
		dn := "CN=BENCH-Skule-" + g + ",OU=Groups," + base
		add(b, conn, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"BENCH-Skule-" + g}})
		groups = append(groups, dn)
	}
	catalogue := map[string]string{"skule.yaml": fmt.Sprintf(`system: skule
name: Skule
owner: Oppvekst
administrators: [1547-20001]
connectors: [ad]
roles:
  - id: elevadmin
    entitlements: {ad: [%q]}
    requestable_by: [hr]
    approval: []
  - id: laeremiddel
    entitlements: {ad: [%q]}
    requestable_by: [hr]
    approval: []
  - id: timeplan
    entitlements: {ad: [%q]}
    requestable_by: [hr]
    approval: []
birthright:
  - when: 'person.position == "lærer"'
    roles: [elevadmin, laeremiddel, timeplan]
`, groups[0], groups[1], groups[2])}

	for range b.N {
		rb := make([]byte, 3)
		_, _ = rand.Read(rb)
		run := hex.EncodeToString(rb)
		muni := "1547"
		add(b, conn, "OU="+muni+",OU=ROR,"+base, map[string][]string{"objectClass": {"top", "organizationalUnit"}})

		adc, err := ad.Open("ad", ad.Config{URL: env["TILGANG_AD_URL"], CAFile: env["TILGANG_AD_CA_FILE"],
			BindDN: env["TILGANG_AD_BIND_DN"], BindPasswordFile: env["TILGANG_AD_BIND_PASSWORD_FILE"], BaseDN: base,
			UserOU: "OU={municipality},OU=ROR," + base, UPNSuffix: "ror.test", UsernamePattern: "{id}",
			Leaver: ad.LeaverConfig{OU: "OU=Deaktivert," + base}, PoolSize: 8}, nil)
		require.NoError(b, err)
		timed := &timedAD{Connector: adc, calls: map[string]*callStat{}, tries: map[string]int{}}
		e := testenv.StartWorker(b, connectors.Set{"ad": timed}, catalogue)
		kp, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.HRSeedFile))
		require.NoError(b, err)
		dk, err := principals.LoadSeed(filepath.Join(e.Data, "keys", principals.DevSeedFile))
		require.NoError(b, err)
		hr := &api.Client{NC: e.NC, Key: kp, Actor: principals.HRID, Timeout: 30 * time.Second}
		dev := &api.Client{NC: e.NC, Key: dk, Actor: principals.DevID, Timeout: 30 * time.Second}

		people := make([]tilgang.Person, n)
		for i := range people {
			id := fmt.Sprintf("s%s%05d", run, i)
			people[i] = tilgang.Person{ID: id, GivenName: "Lærar", FamilyName: fmt.Sprintf("Nummer %d", i), Municipality: muni,
				Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "oppvekst/skule",
					Position: "lærer", Start: tilgang.DateOf(time.Now().AddDate(0, 0, -1))}}}
		}
		snap, err := json.Marshal(people)
		require.NoError(b, err)
		src, err := (&hrsource.JSONConfig{}).Open()
		require.NoError(b, err)

		b.ResetTimer()
		start := time.Now()
		rep, err := hrsync.Run(context.Background(), hrsync.Options{Name: "skule-" + run, Source: src,
			Input: hrsource.Input{File: strings.NewReader(string(snap))}, Wait: 30 * time.Minute,
			NC: e.NC, Client: hr, Key: kp, Actor: principals.HRID})
		require.NoError(b, err)
		require.Equal(b, n, rep.Accepted)
		accepted := time.Since(start)
		want := 3 * n
		var active, failed int
		for {
			gs, err := dev.GrantsAll(context.Background(), api.GrantsArgs{System: "skule"})
			require.NoError(b, err)
			active, failed = 0, 0
			for _, g := range gs {
				if !strings.HasPrefix(g.Person, "s"+run) {
					continue
				}
				switch g.State {
				case string(tilgang.StateActive):
					active++
				case string(tilgang.StateFailed):
					failed++
				}
			}
			if active+failed == want {
				break
			}
			require.Less(b, time.Since(start), 60*time.Minute, "%d of %d grants active, %d failed", active, want, failed)
			time.Sleep(time.Second)
		}
		synced := time.Since(start)
		b.Logf("%d joiners x 3 birthright roles: tilgang %s (%s until every event was accepted), %.1f joiners/s",
			n, synced.Round(time.Millisecond), accepted.Round(time.Millisecond), float64(n)/synced.Seconds())
		b.Logf("connector calls: %s", timed)
		const waitSum, waitCount, notStarted = `tilgang_connector_wait_seconds_sum{connector="ad"}`,
			`tilgang_connector_wait_seconds_count{connector="ad"}`, `tilgang_connector_not_started_total{connector="ad"}`
		m := scrape(b, e.HTTP, waitSum, waitCount, notStarted)
		b.Logf("turns at the instance (pool_size 8): %.0f calls waited %.1f s in all, %.0f ms on average; %.0f operations went back to the queue unstarted",
			m[waitCount], m[waitSum], 1000*m[waitSum]/max(m[waitCount], 1), m[notStarted])
		b.StopTimer()
		e.Stop()
		adc.Close()
		// What failed for good, from the worker's ledger.
		store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(e.Data, "ledger.db"))
		require.NoError(b, err)
		st, err := store.Stats(context.Background())
		require.NoError(b, err)
		store.Close()
		failedOps := st.OpsByState[ledger.OpFailed]
		b.Logf("retried calls %d, calls that failed %d, operations failed %d, grants failed %d",
			timed.retried(), timed.errors, failedOps, failed)

		// The plain loop: the same accounts and memberships, one by one, on
		// a connection of its own (the DC closes one idle as long as the
		// first part may take).
		conn.Close()
		conn = adminLDAP(b, env)
		loopStart := time.Now()
		for i := range n {
			sam := fmt.Sprintf("r%s%05d", run, i)
			dn := fmt.Sprintf("CN=%s,OU=%s,OU=ROR,%s", sam, muni, base)
			req := ldap.NewAddRequest(dn, nil)
			req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
			req.Attribute("sAMAccountName", []string{sam})
			req.Attribute("userPrincipalName", []string{sam + "@ror.test"})
			req.Attribute("employeeID", []string{sam})
			req.Attribute("givenName", []string{"Lærar"})
			req.Attribute("sn", []string{fmt.Sprintf("Nummer %d", i)})
			req.Attribute("unicodePwd", []string{adPassword("Pw-" + run + "-" + strconv.Itoa(i) + "-Xy9!")})
			req.Attribute("pwdLastSet", []string{"0"})
			req.Attribute("userAccountControl", []string{"512"})
			require.NoError(b, conn.Add(req), dn)
			for _, g := range groups {
				mod := ldap.NewModifyRequest(g, nil)
				mod.Add("member", []string{dn})
				require.NoError(b, conn.Modify(mod))
			}
		}
		loop := time.Since(loopStart)
		b.Logf("%d joiners x 3 birthright roles: tilgang %s (%s until every event was accepted), %.1f joiners/s; plain go-ldap loop %s, %.1f joiners/s; ratio %.2f",
			n, synced.Round(time.Millisecond), accepted.Round(time.Millisecond), float64(n)/synced.Seconds(),
			loop.Round(time.Millisecond), float64(n)/loop.Seconds(), synced.Seconds()/loop.Seconds())
		b.ReportMetric(synced.Seconds(), "s-tilgang")
		b.ReportMetric(loop.Seconds(), "s-ldap-loop")
		b.ReportMetric(synced.Seconds()/loop.Seconds(), "ratio")
		b.ReportMetric(float64(timed.retried()), "retried-calls")
		b.ReportMetric(float64(failedOps), "failed-ops")
		b.ReportMetric(float64(failed), "failed-grants")
		b.ReportMetric(1000*m[waitSum]/max(m[waitCount], 1), "ms-turn-wait")
		b.ReportMetric(m[waitSum], "s-turn-wait-sum")
		b.ReportMetric(m[notStarted], "not-started")
		timed.report(b)
	}
}
