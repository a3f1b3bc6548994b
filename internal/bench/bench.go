// Package bench measures the pipeline: signed requests published to
// JetStream, applied by intake to the ledger, provisioned by the executor
// through the noop connector, with events published, all in one process.
// Beside it, in the same run, a plain JetStream consume-and-ack loop over
// the same messages gives the rate the pipeline is compared with.
//
// It reports requests per second, p50 and p99 publish-to-ledger latency
// (from the publish call to the commit that recorded the message) and the
// ratio of the pipeline's rate to JetStream's.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/executor"
	"github.com/ror-ikt/tilgang/internal/intake"
	"github.com/ror-ikt/tilgang/internal/lease"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Catalogue is the benchmark's system: one role, no approval, noop.
const Catalogue = `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [KASSE-BRUKER]}
    requestable_by: [manager, hr]
    approval: []
`

// Result of one run.
type Result struct {
	Requests     int
	Rate         float64       // requests committed per second
	P50, P99     time.Duration // publish to ledger commit
	ActiveRate   float64       // grants active per second (with provisioning)
	JSRate       float64       // plain consume-and-ack messages per second
	JSP50, JSP99 time.Duration // publish to ack
	Ratio        float64       // Rate / JSRate
	// CPU and JSCPU are the machine's busy CPU time (every core and
	// process, the database's too) per request from the first publish to
	// the last commit, and per message of the JetStream loop: the rate
	// cannot pass cores / CPU.
	CPU, JSCPU time.Duration
	// SteadyP50 and SteadyP99 are publish to ledger commit of requests sent
	// one at a time, 200 a second, after the burst: the wait without a queue.
	SteadyP50, SteadyP99 time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("requests=%d pipeline=%.0f req/s p50=%s p99=%s cpu/req=%s (all active at %.0f req/s) | jetstream=%.0f msg/s p50=%s p99=%s cpu/msg=%s | ratio=%.2f",
		r.Requests, r.Rate, r.P50.Round(time.Microsecond*100), r.P99.Round(time.Microsecond*100), r.CPU.Round(time.Microsecond), r.ActiveRate,
		r.JSRate, r.JSP50.Round(time.Microsecond*100), r.JSP99.Round(time.Microsecond*100), r.JSCPU.Round(time.Microsecond), r.Ratio) +
		fmt.Sprintf(" | one at a time p50=%s p99=%s", r.SteadyP50.Round(time.Microsecond*100), r.SteadyP99.Round(time.Microsecond*100))
}

// Options of a run.
type Options struct {
	Dir      string // working directory (data, store)
	Requests int
	Log      *slog.Logger
	// Postgres, when set, is the DSN of the ledger (else SQLite in Dir).
	Postgres string
	// Replicas runs that many in-process replicas (executors; the intake
	// lease picks the one active intake). Default 1.
	Replicas int
}

type stamps struct {
	mu   sync.Mutex
	pub  map[string]time.Time
	done map[string]time.Time
	all  chan struct{}
	want int
}

func newStamps(n int) *stamps {
	return &stamps{pub: make(map[string]time.Time, n), done: make(map[string]time.Time, n), all: make(chan struct{}), want: n}
}

func (s *stamps) published(id string, t time.Time) {
	s.mu.Lock()
	s.pub[id] = t
	s.mu.Unlock()
}

func (s *stamps) finished(id string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.done[id]; ok {
		return
	}
	s.done[id] = t
	if len(s.done) == s.want {
		close(s.all)
	}
}

// summary: rate over the span from first publish to last commit, and
// latency percentiles.
func (s *stamps) summary() (rate float64, p50, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first, last time.Time
	lat := make([]time.Duration, 0, len(s.done))
	for id, d := range s.done {
		p := s.pub[id]
		if first.IsZero() || p.Before(first) {
			first = p
		}
		if d.After(last) {
			last = d
		}
		lat = append(lat, d.Sub(p))
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return float64(len(lat)) / last.Sub(first).Seconds(), pct(0.50), pct(0.99)
}

// Run measures the pipeline on SQLite and JetStream's own loop.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(o.Dir, "nats"), NoSigs: true})
	if err != nil {
		return Result{}, err
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		return Result{}, fmt.Errorf("bench: nats did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return Result{}, err
	}
	ps, err := principals.EnsureDev(o.Dir)
	if err != nil {
		return Result{}, err
	}
	key, err := principals.LoadSeed(filepath.Join(o.Dir, "keys", principals.DevSeedFile))
	if err != nil {
		return Result{}, err
	}
	sender := &client.Sender{Key: key, Via: principals.DevID, Source: "bench"}
	people, requests, err := messages(sender, o.Requests+steadyRequests)
	if err != nil {
		return Result{}, err
	}
	res := Result{Requests: o.Requests}
	requests, steady := requests[:o.Requests], requests[o.Requests:]
	if res.JSRate, res.JSP50, res.JSP99, res.JSCPU, err = jetstreamLoop(ctx, js, requests); err != nil {
		return res, err
	}
	if err = pipeline(ctx, o, js, ps, people, requests, steady, &res); err != nil {
		return res, err
	}
	res.Ratio = res.Rate / res.JSRate
	return res, nil
}

// messages builds the HR records and the grant requests, signed.
func messages(s *client.Sender, n int) (people, requests []*nats.Msg, err error) {
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("1547-%d", 100000+i)
		p := tilgang.Person{ID: id, GivenName: "Kari", FamilyName: "Nordmann", Municipality: "1547", Employments: []tilgang.Employment{{
			ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier", Manager: "1547-20001",
			Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}}
		for _, x := range []struct {
			typ, actor string
			data       any
			out        *[]*nats.Msg
		}{
			{tilgang.TypeHRJoiner, principals.HRID, envelope.HR{Version: 1, Person: p}, &people},
			{tilgang.TypeRequest, principals.HRID, envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny ansatt"}, &requests},
		} {
			env, err := s.New(x.typ, id, x.actor, x.data)
			if err != nil {
				return nil, nil, err
			}
			m, err := client.Msg(env)
			if err != nil {
				return nil, nil, err
			}
			*x.out = append(*x.out, m)
		}
	}
	return people, requests, nil
}

// publishAll sends the messages asynchronously, stamping each publish.
func publishAll(js jetstream.JetStream, msgs []*nats.Msg, st *stamps) error {
	var futures []jetstream.PubAckFuture
	for _, m := range msgs {
		if st != nil {
			st.published(m.Header.Get(jetstream.MsgIDHeader), time.Now())
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("bench: publish not acknowledged in 30 s")
		}
	}
	return nil
}

// jetstreamLoop is the baseline: the same messages through a stream and a
// durable pull consumer read the way the intake reads its own (Consume, the
// same pull size, MaxAckPending and AckWait), acking each message.
func jetstreamLoop(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (rate float64, p50, p99, cpu time.Duration, err error) {
	const name = "BENCH_BASELINE"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, 0, 0, 0, err
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), name)
	cons, err := js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{Durable: "loop", AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: streams.MaxAckPending, AckWait: streams.DefaultAckWait})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	st := newStamps(len(msgs))
	copies := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		copies[i] = &nats.Msg{Subject: "bench." + m.Subject, Data: m.Data, Header: m.Header}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		st.finished(m.Headers().Get(jetstream.MsgIDHeader), time.Now())
	}, jetstream.PullMaxMessages(streams.PullMaxMessages))
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer cc.Stop()
	busy0 := busy()
	if err := publishAll(js, copies, st); err != nil {
		return 0, 0, 0, 0, err
	}
	select {
	case <-st.all:
	case <-time.After(5 * time.Minute):
		return 0, 0, 0, 0, fmt.Errorf("bench: jetstream loop did not finish")
	}
	cpu = (busy() - busy0) / time.Duration(len(msgs))
	rate, p50, p99 = st.summary()
	return rate, p50, p99, cpu, nil
}

// busy is the machine's CPU time spent not idle so far, all cores (Linux
// /proc/stat, in ticks of 10 ms; 0 where there is none).
func busy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var total int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle and iowait are not busy; guest time is in user already
			total += n
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}

// steadyRequests are sent one at a time after the burst.
const steadyRequests = 200

func pipeline(ctx context.Context, o Options, js jetstream.JetStream, ps *principals.Set, people, requests, steady []*nats.Msg, res *Result) (err error) {
	polDir := filepath.Join(o.Dir, "policies")
	if err = os.MkdirAll(polDir, 0o755); err != nil {
		return
	}
	if err = os.WriteFile(filepath.Join(polDir, "kasse.yaml"), []byte(Catalogue), 0o644); err != nil {
		return
	}
	nconn, err := noop.Open(noop.Config{})
	if err != nil {
		return
	}
	conns := connectors.Set{"noop": nconn}
	cat, err := policy.Load(polDir, conns.Names())
	if err != nil {
		return
	}
	if err = streams.EnsureStreams(ctx, js, streams.Options{}); err != nil {
		return
	}
	replicas := max(o.Replicas, 1)
	var stores []ledger.Ledger
	for r := 0; r < replicas; r++ {
		var l ledger.Ledger
		if o.Postgres != "" {
			l, err = sqlledger.OpenPostgres(ctx, o.Postgres, 8)
		} else {
			l, err = sqlledger.OpenSQLite(ctx, filepath.Join(o.Dir, "ledger.db"))
		}
		if err != nil {
			return
		}
		defer l.Close()
		stores = append(stores, l)
	}
	store := stores[0]
	st := newStamps(len(requests))
	var cur atomic.Pointer[stamps] // the phase being timed
	cur.Store(st)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for r, l := range stores {
		// One replica: intake, executor and publisher beside each other; with
		// several, each has an executor and the lease picks the one intake.
		eng := engine.New(cat, ps, nil, time.Now, o.Log)
		holder := fmt.Sprintf("bench-%d", r)
		pub := &publish.Publisher{JS: js, Ledger: l, Log: o.Log}
		exec := &executor.Executor{Ledger: l, Engine: eng, Connectors: conns, Log: o.Log, Holder: holder, Committed: pub.Wake}
		partitions := 1
		if o.Postgres != "" {
			partitions = 4
		}
		in := &intake.Intake{Ledger: l, Engine: eng, Log: o.Log, Partitions: partitions,
			Committed: func() { exec.Wake(); pub.Wake() },
			Observe: func(in engine.Input, out engine.Outcome, meta *jetstream.MsgMetadata) {
				if in.Env != nil && in.Env.Type == tilgang.TypeRequest {
					cur.Load().finished(in.Env.MsgID(), time.Now()) // stamped by Nats-Msg-Id when published
				}
			}}
		active := func(c context.Context) error {
			cons, err := streams.EnsureConsumer(c, js, streams.Options{})
			if err != nil {
				return err
			}
			in.Consumer = cons
			go pub.Run(c)
			return in.Run(c)
		}
		run := active
		if replicas > 1 {
			ls := &lease.Lease{Ledger: l, Name: "intake", Holder: holder, TTL: 10 * time.Second, Log: o.Log}
			in.Fence = ls.Fence
			run = func(c context.Context) error { return ls.Run(c, active) }
		}
		for _, f := range []func(context.Context) error{run, exec.Run} {
			wg.Add(1)
			go func() { defer wg.Done(); _ = f(runCtx) }()
		}
	}

	// People first, so requests find their HR records; then the timed burst.
	if err = publishAll(js, people, nil); err != nil {
		return
	}
	if err = waitFor(ctx, func() (bool, error) {
		s, err := store.Stats(ctx)
		return s.Messages >= int64(len(people)), err
	}); err != nil {
		return
	}
	start, busy0 := time.Now(), busy()
	if err = publishAll(js, requests, st); err != nil {
		return
	}
	select {
	case <-st.all:
	case <-time.After(10 * time.Minute):
		err = fmt.Errorf("bench: pipeline did not finish")
		return
	}
	res.CPU = (busy() - busy0) / time.Duration(len(requests))
	res.Rate, res.P50, res.P99 = st.summary()
	if err = waitFor(ctx, func() (bool, error) {
		s, err := store.Stats(ctx)
		return s.Grants[tilgang.StateActive] >= int64(len(requests)), err
	}); err != nil {
		return
	}
	res.ActiveRate = float64(len(requests)) / time.Since(start).Seconds()

	// Then one request at a time, 200 a second.
	sst := newStamps(len(steady))
	cur.Store(sst)
	for _, m := range steady {
		sst.published(m.Header.Get(jetstream.MsgIDHeader), time.Now())
		if _, err = js.PublishMsg(ctx, m); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-sst.all:
	case <-time.After(time.Minute):
		return fmt.Errorf("bench: requests sent one at a time did not finish")
	}
	_, res.SteadyP50, res.SteadyP99 = sst.summary()
	return nil
}

func waitFor(ctx context.Context, f func() (bool, error)) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the counts read whole tables: not more often
	}
	return fmt.Errorf("bench: timed out")
}

var _ ledger.Ledger = (*sqlledger.Store)(nil)
