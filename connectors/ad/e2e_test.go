package ad

// End to end through the real worker: an embedded NATS server with
// JetStream, a SQLite ledger, app.Worker with this connector (instance
// "ad") and manual, signed messages in, and the directory read back with
// plain go-ldap searches, never through the connector. (This is an
// internal test of package ad importing internal/app: internal/app does
// not import connectors/ad, so there is no cycle.)

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// e2eEvent is an event out as received.
type e2eEvent struct {
	kind, person string
	data         map[string]any
}

// e2e is a worker with the ad connector on an embedded NATS server.
type e2e struct {
	t      *testing.T
	js     jetstream.JetStream
	sender *client.Sender
	admin  string // the system's administrator (systemansvarlig)
	mgr    string // the manager, who has a curve key
	mgrKey nkeys.KeyPair

	mu     sync.Mutex
	events []e2eEvent
	seen   map[string]int // kind -> count
	cond   *sync.Cond
}

// startE2E boots the worker with a catalogue of one system "adtest" whose
// roles give the groups (role i gives groups[i]), each approved by the
// administrator, with the initial password to the manager.
func startE2E(t *testing.T, groups []string) *e2e {
	t.Helper()
	cfg := testConfig(t)
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)

	x := &e2e{t: t, admin: fmt.Sprintf("t%s-adm", runID), mgr: fmt.Sprintf("t%s-mgr", runID), seen: map[string]int{}}
	x.cond = sync.NewCond(&x.mu)

	// Principals: dev (signs for the actors here) and hr, plus the manager
	// with a curve key that initial passwords are sealed to.
	dev, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	mgrSign, err := nkeys.CreateUser()
	require.NoError(t, err)
	mgrPub, err := mgrSign.PublicKey()
	require.NoError(t, err)
	x.mgrKey, err = nkeys.CreateCurveKeys()
	require.NoError(t, err)
	mgrCurve, err := x.mgrKey.PublicKey()
	require.NoError(t, err)
	ps, err := principals.New(append(dev.All(), principals.Principal{ID: x.mgr, Kind: principals.KindPerson, Key: mgrPub, CurveKey: mgrCurve}))
	require.NoError(t, err)
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	x.sender = &client.Sender{Key: key, Via: principals.DevID, Source: "ad-e2e"}
	wk, err := principals.EnsureWorkerKey(dir)
	require.NoError(t, err)

	var roles strings.Builder
	for i, g := range groups {
		q, _ := json.Marshal(g)
		fmt.Fprintf(&roles, "  - id: r%d\n    entitlements: {ad: [%s]}\n    requestable_by: [manager, hr]\n    approval: [systemansvarlig]\n    credentials_to: manager\n", i, q)
	}
	policies := filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(policies, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(policies, "adtest.yaml"), []byte(fmt.Sprintf(
		"system: adtest\nname: AD-test\nowner: IT\nadministrators: [%s]\ncoordinator: %s\nconnectors: [ad, manual]\nroles:\n%s",
		x.admin, x.admin, roles.String())), 0o644))

	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	c, err := Open("ad", cfg, nil)
	require.NoError(t, err)
	conns := connectors.Set{"ad": c, "manual": manual.Connector{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- app.Worker(ctx, app.WorkerOptions{Name: "ad-e2e", NATS: ns.ClientURL(), Ledger: store, Principals: ps,
			Policies: policies, Connectors: conns, HTTP: "127.0.0.1:0", Log: log, WorkerKey: wk,
			Ready: func(string) { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop in 30 s")
		}
		conns.Close()
		store.Close()
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the worker did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not start in 30 s")
	}

	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	x.js, err = jetstream.New(nc)
	require.NoError(t, err)
	cons, err := x.js.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.EventsSubjects}})
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var env struct {
			Type    string         `json:"type"`
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		_ = json.Unmarshal(m.Data(), &env)
		kind := strings.TrimSuffix(strings.TrimPrefix(env.Type, "no.tilgang."), ".v1")
		x.mu.Lock()
		x.events = append(x.events, e2eEvent{kind: kind, person: env.Subject, data: env.Data})
		x.seen[kind]++
		x.cond.Broadcast()
		x.mu.Unlock()
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return x
}

// send signs and publishes a message; it returns the request id.
func (x *e2e) send(typ, person, actor string, data any) string {
	x.t.Helper()
	env, err := x.sender.New(typ, person, actor, data)
	require.NoError(x.t, err)
	id, err := client.Publish(context.Background(), x.js, env)
	require.NoError(x.t, err)
	return id
}

// wait returns the first event of kind about person that matches.
func (x *e2e) wait(kind, person string, match func(map[string]any) bool) map[string]any {
	x.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	timer := time.AfterFunc(30*time.Second, func() { x.mu.Lock(); x.cond.Broadcast(); x.mu.Unlock() })
	defer timer.Stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for {
		for _, ev := range x.events {
			if ev.kind == kind && ev.person == person && (match == nil || match(ev.data)) {
				return ev.data
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ev := range x.events {
				seen = append(seen, fmt.Sprintf("%s/%s %v", ev.kind, ev.person, ev.data))
			}
			x.t.Fatalf("no %s event for %s in 30 s; seen:\n%s", kind, person, strings.Join(seen, "\n"))
		}
		x.cond.Wait()
	}
}

// waitCount waits until n events of kind have been seen.
func (x *e2e) waitCount(kind string, n int, within time.Duration) {
	x.t.Helper()
	timer := time.AfterFunc(within, func() { x.mu.Lock(); x.cond.Broadcast(); x.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(within)
	x.mu.Lock()
	defer x.mu.Unlock()
	for x.seen[kind] < n {
		if time.Now().After(deadline) {
			var failed []string
			for _, ev := range x.events {
				if ev.kind == tilgang.EvGrantFailed && len(failed) < 5 {
					failed = append(failed, fmt.Sprint(ev.data))
				}
			}
			x.t.Fatalf("%d %s events in %s, want %d (seen: %v); failures: %s", x.seen[kind], kind, within, n, x.seen, strings.Join(failed, "\n"))
		}
		x.cond.Wait()
	}
}

func forRequest(id string) func(map[string]any) bool {
	return func(d map[string]any) bool { return d["request_id"] == id }
}

// joiner is a person of this run (cleanupRun finds the account) whose
// manager is the e2e manager.
func (x *e2e) joiner(given, family, municipality string) tilgang.Person {
	p := person(given, family, municipality)
	p.Employments[0].Manager = x.mgr
	x.send(tilgang.TypeHRJoiner, p.ID, principals.HRID, envelope.HR{Version: 1, Person: p})
	return p
}

// grant requests role r for p (as hr) and approves it as the administrator;
// it returns the request id and when the approval was published.
func (x *e2e) grant(p tilgang.Person, role string) (string, time.Time) {
	x.t.Helper()
	id := x.send(tilgang.TypeRequest, p.ID, principals.HRID, envelope.Request{Action: "grant", System: "adtest", Role: role, Reason: "e2e"})
	x.wait(tilgang.EvApprovalPending, p.ID, forRequest(id))
	at := time.Now()
	x.send(tilgang.TypeDecision, p.ID, x.admin, envelope.Decision{RequestID: id, Decision: "approve", Comment: "ok"})
	return id, at
}

// TestEndToEndWorker: an HR joiner with Norwegian letters, a request, an
// approval by the administrator, and then, read straight from the DC: the
// account with its attributes and the group membership; the initial
// password sealed to the manager as credential.issued opens with the
// manager's curve key and binds over LDAPS. A mover to another municipality
// (and a new family name) moves the account to the new OU; a leaver
// disables it and takes it out of the group.
func TestEndToEndWorker(t *testing.T) {
	conn := admin(t)
	cleanupRun(t)
	base := baseDN(t)
	group := makeGroup(t, conn, "tilgang-test-e2e-"+runID)
	deleteGroup(t, group)
	x := startE2E(t, []string{group})

	p := x.joiner("Åse", "Øvergård-Bø", "1547")
	reqID, _ := x.grant(p, "r0")
	active := x.wait(tilgang.EvGrantActive, p.ID, forRequest(reqID))

	// The directory, read directly.
	es := search(t, conn, eq("employeeID", p.ID), "sAMAccountName", "userPrincipalName", "givenName", "sn", "displayName",
		"department", "title", "userAccountControl", "memberOf")
	require.Len(t, es, 1, "one account carries the person's id")
	e := es[0]
	require.Equal(t, "CN=Åse Øvergård-Bø,OU=1547,OU=ROR,"+base, e.DN)
	require.Equal(t, "Åse", e.GetAttributeValue("givenName"))
	require.Equal(t, "Øvergård-Bø", e.GetAttributeValue("sn"))
	require.Equal(t, "Åse Øvergård-Bø", e.GetAttributeValue("displayName"))
	require.Equal(t, "helse/hjemmetjenesten", e.GetAttributeValue("department"))
	require.Equal(t, "sykepleier", e.GetAttributeValue("title"))
	sam := e.GetAttributeValue("sAMAccountName")
	require.True(t, strings.HasPrefix(sam, "aasove"), sam)
	require.Equal(t, sam+"@ror.test", e.GetAttributeValue("userPrincipalName"))
	require.False(t, uacDisabledAt(t, e))
	require.True(t, isMemberAt(t, conn, group, e.DN), "member of %s", group)
	require.Equal(t, []string{group}, e.GetAttributeValues("memberOf"))

	// The initial password: sealed to the manager, opened with her key, and
	// right, for one logon that changes it.
	cred := x.wait(tilgang.EvCredentialIssued, p.ID, nil)
	require.Equal(t, x.mgr, cred["recipient"])
	require.Equal(t, sam, cred["username"])
	require.Equal(t, active["grant_id"], cred["grant_id"])
	pw, err := principals.Open(cred["sealed"].(string), cred["sender"].(string), x.mgrKey)
	require.NoError(t, err)
	require.NotContains(t, fmt.Sprint(cred), string(pw), "the event holds no clear password")
	require.Equal(t, "773", bindCode(t, sam+"@ror.test", string(pw)), "the initial password is right and must be changed")
	require.Equal(t, "52e", bindCode(t, sam+"@ror.test", string(pw)+"x"))

	// A mover to Molde (1506) who also took a new family name.
	p.Municipality = "1506"
	p.FamilyName = "Øvergård-Bø Hansen"
	x.send(tilgang.TypeHRMover, p.ID, principals.HRID, envelope.HR{Version: 2, Person: p})
	require.Eventually(t, func() bool {
		es := search(t, conn, eq("employeeID", p.ID), "sn")
		return len(es) == 1 && es[0].DN == "CN=Åse Øvergård-Bø,OU=1506,OU=ROR,"+base && es[0].GetAttributeValue("sn") == p.FamilyName
	}, 30*time.Second, 50*time.Millisecond, "the account moves to OU=1506 with the new name")
	e = accountOf(t, conn, p)
	require.Equal(t, sam, e.GetAttributeValue("sAMAccountName"), "the username stays")
	require.True(t, isMemberAt(t, conn, group, e.DN), "the group follows the move")

	// A leaver: the last employment ended two days ago.
	p.Employments[0].End = tilgang.DateOf(time.Now().AddDate(0, 0, -2))
	x.send(tilgang.TypeHRLeaver, p.ID, principals.HRID, envelope.HR{Version: 3, Person: p})
	x.wait(tilgang.EvGrantRevoked, p.ID, func(d map[string]any) bool { return d["grant_id"] == active["grant_id"] })
	require.Eventually(t, func() bool {
		e := accountOf(t, conn, p)
		return uacDisabledAt(t, e) && len(e.GetAttributeValues("memberOf")) == 0
	}, 30*time.Second, 50*time.Millisecond, "the account is disabled and out of the group")
	// The move to OU=Deaktivert is an operation of its own, which may
	// come after the disable.
	require.Eventually(t, func() bool {
		return strings.HasSuffix(accountOf(t, conn, p).DN, ",OU=Deaktivert,"+base)
	}, 30*time.Second, 50*time.Millisecond, "moved to OU=Deaktivert, never deleted")
	e = accountOf(t, conn, p)
	require.False(t, isMemberAt(t, conn, group, e.DN))
	require.Error(t, bindAs(t, sam+"@ror.test", string(pw)), "a disabled account cannot log on")
}

// percentile of sorted durations (nearest rank).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

// TestApprovalToMembershipLatency measures, through the worker and against
// Samba, the time from publishing an approval to the membership being
// visible in a plain LDAP search, at a steady 20 approvals a second for
// 30 s (TILGANG_AD_LATENCY_SECONDS changes the length). People have their
// accounts beforehand, so this is the grant path; account creation is
// reported apart. It logs p50, p90, p99 and max and asserts nothing about
// time.
func TestApprovalToMembershipLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency run: skipped with -short")
	}
	const rate, roles, people = 20, 20, 31
	seconds := 30
	if v := os.Getenv("TILGANG_AD_LATENCY_SECONDS"); v != "" {
		_, err := fmt.Sscan(v, &seconds)
		require.NoError(t, err)
	}
	n := rate * seconds
	require.LessOrEqual(t, n, roles*people, "distinct (person, role) pairs")
	conn := admin(t)
	cleanupRun(t)
	groups := make([]string, roles+1)
	for i := range groups {
		groups[i] = makeGroup(t, conn, fmt.Sprintf("tilgang-test-lat%d-%s", i, runID))
		deleteGroup(t, groups[i])
	}
	x := startE2E(t, groups)

	// Accounts first: role r0 for everyone (this creates the accounts).
	var ps []tilgang.Person
	for i := range people {
		ps = append(ps, x.joiner("Lat", fmt.Sprintf("Måling%d", i), "1547"))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); x.grant(p, "r0") }()
	}
	wg.Wait()
	x.waitCount(tilgang.EvGrantActive, people, 60*time.Second)
	t.Logf("setup: %d accounts created and granted in %s", people, time.Since(start).Round(time.Millisecond))
	dns := map[string]string{}
	for _, p := range ps {
		dns[p.ID] = accountOf(t, conn, p).DN
	}

	// Every request first, pending approval; then the approvals at a steady rate.
	type pair struct {
		p     tilgang.Person
		group string
		reqID string
	}
	var pairs []pair
	for i := 0; i < n; i++ {
		p, r := ps[i%people], 1+(i/people)%roles
		id := x.send(tilgang.TypeRequest, p.ID, principals.HRID, envelope.Request{Action: "grant", System: "adtest", Role: fmt.Sprintf("r%d", r), Reason: "latency"})
		pairs = append(pairs, pair{p, groups[r], id})
	}
	x.waitCount(tilgang.EvApprovalPending, people+n, 60*time.Second)

	type probe struct {
		group, dn string
		at        time.Time
		i         int
	}
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	var outstanding []probe
	stop := make(chan struct{})
	pollerDone := make(chan struct{})
	// One plain LDAP connection polls every outstanding membership in turn.
	pc := admin(t)
	go func() {
		defer close(pollerDone)
		for {
			mu.Lock()
			todo := slices.Clone(outstanding)
			mu.Unlock()
			if len(todo) == 0 {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				continue
			}
			for _, pr := range todo {
				res, err := pc.Search(ldap.NewSearchRequest(pr.group, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
					0, 0, false, eq("member", pr.dn), []string{"1.1"}, nil))
				if err != nil || len(res.Entries) != 1 {
					continue
				}
				d := time.Since(pr.at)
				mu.Lock()
				lat[pr.i] = d
				outstanding = slices.DeleteFunc(outstanding, func(o probe) bool { return o.i == pr.i })
				mu.Unlock()
			}
		}
	}()
	tick := time.NewTicker(time.Second / rate)
	began := time.Now()
	for i, pr := range pairs {
		<-tick.C
		env, err := x.sender.New(tilgang.TypeDecision, pr.p.ID, x.admin, envelope.Decision{RequestID: pr.reqID, Decision: "approve", Comment: "ok"})
		require.NoError(t, err)
		at := time.Now()
		mu.Lock()
		outstanding = append(outstanding, probe{group: pr.group, dn: dns[pr.p.ID], at: at, i: i})
		mu.Unlock()
		_, err = client.Publish(context.Background(), x.js, env)
		require.NoError(t, err)
	}
	tick.Stop()
	sent := time.Since(began)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(outstanding) == 0 }, 60*time.Second, 10*time.Millisecond,
		"every membership visible")
	close(stop)
	<-pollerDone
	x.waitCount(tilgang.EvGrantActive, people+n, 30*time.Second)

	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	t.Logf("approval to membership visible (plain LDAP), %d approvals at %d/s over %s: p50 %s, p90 %s, p99 %s, max %s",
		n, rate, sent.Round(time.Millisecond), percentile(sorted, 0.50).Round(100*time.Microsecond),
		percentile(sorted, 0.90).Round(100*time.Microsecond), percentile(sorted, 0.99).Round(100*time.Microsecond),
		sorted[len(sorted)-1].Round(100*time.Microsecond))
}
