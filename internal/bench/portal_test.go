package bench

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgerseed"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/review"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// portalSize is the municipality of the portal's acceptance figure.
var portalSize = ledgerseed.Options{People: 10_000, Grants: 50_000, Pending: 1_000, Training: 100, Tasks: 100}

// BenchmarkPortal measures the portal's pages on a ledger of 10,000
// people, 50,000 grants and 1,000 pending approvals (ledgerseed, written
// through the ledger's transactions), on SQLite and on PostgreSQL. The
// portal's real handler answers on loopback (httptest), reading through
// the real API server over an embedded NATS server, as in production; the
// time is the server's, from the request in to the page rendered, for a
// signed-in person. Each page reports its p50 and p99 in milliseconds:
//
//	go test -run '^$' -bench Portal -benchtime 300x ./internal/bench
// seedPortal opens a ledger on backend (sqlite or postgres), closed when b
// ends, and seeds it with portalSize.
func seedPortal(b *testing.B, backend string) (*sqlledger.Store, *ledgerseed.World) {
	ctx := context.Background()
	var (
		l   *sqlledger.Store
		err error
	)
	dsn := ""
	if backend == "postgres" {
		dsn = pgtest.Schema(b)
		l, err = sqlledger.OpenPostgres(ctx, dsn, 8)
	} else {
		l, err = sqlledger.OpenSQLite(ctx, filepath.Join(b.TempDir(), "ledger.db"))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	start := time.Now()
	w, err := ledgerseed.Seed(ctx, l, portalSize)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d people and %v grants in %s", backend, len(w.People), w.Grants, time.Since(start).Round(time.Millisecond))
	if dsn != "" {
		// What autovacuum does within a minute of a bulk change on a live
		// database: without the table's statistics the planner takes
		// 50,000 grants for a handful.
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, err = db.ExecContext(ctx, "ANALYZE")
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return l, w
}

func BenchmarkPortal(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			l, w := seedPortal(b, backend)
			pb := startPortal(b, l, w)

			// The viewers: the systemansvarlig of gerica, the system with
			// the most grants (the busiest inbox), and managers looking at
			// their staff.
			admin := w.Admins["gerica"][0]
			var staff []string
			for i := 1; i < len(w.People) && len(staff) < 50; i += 97 {
				if i%20 != 0 {
					staff = append(staff, w.People[i])
				}
			}
			var in api.Inbox
			if err := pb.client(admin).Call(ctx, api.MethodInbox, nil, &in); err != nil {
				b.Fatal(err)
			}
			var sys api.SystemPage
			if err := pb.client(admin).Call(ctx, api.MethodSystem, api.SystemArgs{System: "gerica"}, &sys); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: gerica's administrator %s has %d approvals, %d training, %d tasks; gerica's first page holds %d holders (next %q)",
				backend, admin, len(in.Approvals), len(in.Training), len(in.Tasks), len(sys.Holders), sys.Next)

			b.Run("inbox", func(b *testing.B) { pb.measure(b, admin, func(int) string { return "/" }) })
			b.Run("approvals", func(b *testing.B) { pb.measure(b, admin, func(int) string { return "/approvals" }) })
			b.Run("person", func(b *testing.B) {
				pb.measureAs(b, func(i int) (string, string) {
					p := staff[i%len(staff)]
					return w.Manager[p], "/people/" + p
				})
			})
			b.Run("system", func(b *testing.B) { pb.measure(b, admin, func(int) string { return "/systems/gerica" }) })
			// A CSV export reads the holders 1,000 at a time: one such
			// page, as the portal's signed call.
			b.Run("system-api-1000", func(b *testing.B) {
				pb.measureCall(b, admin, api.MethodSystem, api.SystemArgs{System: "gerica", Limit: 1000})
			})
			// A campaign of gerica reviewed by each person's manager: a
			// reviewer's page of their items, with why each was granted.
			campaign, reviewers := startPortalReview(b, l, w)
			b.Logf("%s: review %s of gerica; %d reviewers measured", backend, campaign, len(reviewers))
			b.Run("review", func(b *testing.B) {
				pb.measureAs(b, func(i int) (string, string) { return reviewers[i%len(reviewers)], "/reviews/" + campaign })
			})
		})
	}
}

type portalBench struct {
	h       http.Handler
	nc      *nats.Conn
	key     nkeys.KeyPair
	cookies map[string]*http.Cookie
}

func startPortal(b *testing.B, l ledger.Ledger, w *ledgerseed.World) *portalBench {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats did not start")
	}
	b.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	key := func() (nkeys.KeyPair, string) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			b.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		return kp, pub
	}
	portalKey, portalPub := key()
	devKey, devPub := key()
	set, err := principals.New([]principals.Principal{
		{ID: portal.DefaultID, Kind: principals.KindService, Key: portalPub, Capabilities: []string{tilgang.CapOnBehalf}},
		{ID: principals.DevID, Kind: principals.KindService, Key: devPub, Capabilities: []string{tilgang.CapOperator, tilgang.CapAuditor}},
	})
	if err != nil {
		b.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for name, data := range w.Files {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	cat, err := policy.LoadFS(fsys, []string{"manual"})
	if err != nil {
		b.Fatal(err)
	}
	srv := &api.Server{Ledger: l, Catalogue: func() *policy.Catalogue { return cat }, Principals: func() *principals.Set { return set },
		Serving: make(chan struct{}), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, nc) }()
	b.Cleanup(func() { cancel(); <-done })
	<-srv.Serving
	p, err := portal.New(ctx, portal.Options{NC: nc, JS: js, Key: portalKey, PublicURL: benchURL,
		SessionKeys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
		Dev:         &portal.DevSignIn{Key: devKey, Actor: principals.DevID},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return &portalBench{h: p.Handler(), nc: nc, key: portalKey, cookies: map[string]*http.Cookie{}}
}

const benchURL = "http://127.0.0.1:8480"

// client is the portal's API client for person.
func (pb *portalBench) client(person string) *api.Client {
	return &api.Client{NC: pb.nc, Key: pb.key, Actor: person, Via: portal.DefaultID, Timeout: 30 * time.Second}
}

// signIn is person's session cookie, through the development sign-in.
func (pb *portalBench) signIn(b *testing.B, person string) *http.Cookie {
	if c := pb.cookies[person]; c != nil {
		return c
	}
	r := httptest.NewRequest(http.MethodPost, benchURL+"/signin/dev", strings.NewReader(url.Values{"person": {person}}.Encode()))
	r.RemoteAddr = "127.0.0.1:50000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", benchURL)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	pb.h.ServeHTTP(rec, r)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("sign-in of %s: %d %s", person, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "tilgang" && c.Value != "" {
			pb.cookies[person] = c
			return c
		}
	}
	b.Fatalf("sign-in of %s set no session", person)
	return nil
}

func (pb *portalBench) measure(b *testing.B, person string, target func(i int) string) {
	pb.measureAs(b, func(i int) (string, string) { return person, target(i) })
}

// measureAs times b.N GETs, the i-th as who(i) says, each from the
// request in to the page written, and reports p50 and p99.
func (pb *portalBench) measureAs(b *testing.B, who func(i int) (person, target string)) {
	for i := range min(b.N, 50) { // sessions first, untimed
		person, _ := who(i)
		pb.signIn(b, person)
	}
	times := make([]time.Duration, 0, b.N)
	cpu := cpuTime()
	b.ReportAllocs() // the whole process's: portal, API server and ledger
	b.ResetTimer()
	for i := range b.N {
		person, target := who(i)
		b.StopTimer()
		c := pb.signIn(b, person)
		r := httptest.NewRequest(http.MethodGet, benchURL+target, nil)
		r.RemoteAddr = "127.0.0.1:50000"
		r.AddCookie(c)
		rec := httptest.NewRecorder()
		b.StartTimer()
		t0 := time.Now()
		pb.h.ServeHTTP(rec, r)
		times = append(times, time.Since(t0))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s as %s: %d %.300s", target, person, rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	reportTimes(b, times, cpuTime()-cpu)
}

// measureCall times b.N signed API calls as the portal makes them.
func (pb *portalBench) measureCall(b *testing.B, person, method string, args any) {
	c := pb.client(person)
	times := make([]time.Duration, 0, b.N)
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := c.Call(context.Background(), method, args, nil); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	reportTimes(b, times, cpuTime()-cpu)
}

// cpuTime is the CPU time this process (portal, API server, ledger
// client, NATS server, SQLite) has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportTimes reports the p50 and p99 of the times, and the process's
// CPU time per request (PostgreSQL's own is not in it).
func reportTimes(b *testing.B, times []time.Duration, cpu time.Duration) {
	slices.Sort(times)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(times)))) - 1
		return float64(times[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(len(times)), "cpu-ms/op")
	b.ReportMetric(0, "ns/op")
}

// startPortalReview starts a campaign of gerica under reviewers: manager
// (the catalogue the portal reads needs no review: for the pages) and
// returns it with up to 50 of its reviewers.
func startPortalReview(b *testing.B, l ledger.Ledger, w *ledgerseed.World) (string, []string) {
	ctx := context.Background()
	files := fstest.MapFS{}
	for name, data := range w.Files {
		if name == "gerica.yaml" {
			data = append(append([]byte{}, data...), "review: {reviewers: manager, if_no_response: keep}\n"...)
		}
		files[name] = &fstest.MapFile{Data: data}
	}
	cat, err := policy.LoadFS(files, []string{"manual"})
	if err != nil {
		b.Fatal(err)
	}
	ps, err := principals.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	conns := connectors.Set{"manual": manual.Connector{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &review.Runner{Ledger: l, Engine: engine.New(cat, ps, conns, time.Now, log), Connectors: conns, Log: log}
	st, err := r.Start(ctx, "gerica", w.Admins["gerica"][0])
	if err != nil {
		b.Fatal(err)
	}
	rv := l.(ledger.Reviews)
	items, err := rv.ReviewItems(ctx, ledger.ReviewItemFilter{CampaignID: st.CampaignID, Limit: 5000})
	if err != nil {
		b.Fatal(err)
	}
	var reviewers []string
	for _, it := range items {
		if len(it.Reviewers) > 0 && !slices.Contains(reviewers, it.Reviewers[0]) && len(reviewers) < 50 {
			reviewers = append(reviewers, it.Reviewers[0])
		}
	}
	if len(reviewers) == 0 {
		b.Fatal("the campaign has no reviewers")
	}
	return st.CampaignID, reviewers
}
