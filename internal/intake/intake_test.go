package intake_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/intake"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// poisoned fails every transaction that records the poisoned key, as a
// ledger fault that never heals would.
type poisoned struct {
	ledger.Ledger
	key    string // RecordMessage fails for this key
	person string // PutPerson fails for this person
	tries  atomic.Int32
}

func (p *poisoned) Begin(ctx context.Context) (ledger.Tx, error) {
	tx, err := p.Ledger.Begin(ctx)
	return &poisonedTx{Tx: tx, p: p}, err
}

type poisonedTx struct {
	ledger.Tx
	p *poisoned
}

func (t *poisonedTx) RecordMessage(m ledger.Message) (ledger.MsgOutcome, error) {
	if m.Key == t.p.key {
		t.p.tries.Add(1)
		return 0, tilgang.Errorf(tilgang.Unavailable, "disk on fire")
	}
	return t.Tx.RecordMessage(m)
}

// PutPerson fails for the poisoned person: the message's key can be
// recorded, applying it cannot.
func (t *poisonedTx) PutPerson(p ledger.PersonRow) error {
	if p.Person.ID == t.p.person {
		t.p.tries.Add(1)
		return tilgang.Errorf(tilgang.Internal, "record too odd to store")
	}
	return t.Tx.PutPerson(p)
}

// harness is an embedded NATS server with the intake stream and consumer,
// a ledger, and an engine over the test catalogue.
type harness struct {
	ctx    context.Context
	js     jetstream.JetStream
	cons   jetstream.Consumer
	store  *sqlledger.Store
	eng    *engine.Engine
	sender *client.Sender
	log    *slog.Logger
}

// newHarness starts one; dsn names a PostgreSQL ledger, "" SQLite.
func newHarness(t *testing.T, dsn string) *harness {
	t.Helper()
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cons, err := streams.Ensure(ctx, js, streams.Options{})
	require.NoError(t, err)

	ps, err := principals.EnsureDev(dir)
	require.NoError(t, err)
	cat, err := policy.Load(testenv.WriteCatalogue(t, testenv.Catalogue), []string{"noop", "manual"})
	require.NoError(t, err)
	var store *sqlledger.Store
	if dsn != "" {
		store, err = sqlledger.OpenPostgres(ctx, dsn, 8)
	} else {
		store, err = sqlledger.OpenSQLite(ctx, filepath.Join(dir, "ledger.db"))
	}
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &harness{ctx: ctx, js: js, cons: cons, store: store, eng: engine.New(cat, ps, nil, time.Now, log),
		sender: &client.Sender{Key: key, Via: principals.DevID}, log: log}
}

// hrVersions builds n HR records of each person, versions 1 to n, the
// people's messages interleaved.
func (h *harness) hrVersions(t *testing.T, n int, people ...tilgang.Person) []*nats.Msg {
	t.Helper()
	var msgs []*nats.Msg
	for v := 1; v <= n; v++ {
		for _, p := range people {
			typ := tilgang.TypeHRMover
			if v == 1 {
				typ = tilgang.TypeHRJoiner
			}
			e, err := h.sender.New(typ, p.ID, principals.HRID, envelope.HR{Version: int64(v), Person: p})
			require.NoError(t, err)
			m, err := client.Msg(e)
			require.NoError(t, err)
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// publish stores the messages in the stream, in order.
func (h *harness) publish(t *testing.T, msgs []*nats.Msg) {
	t.Helper()
	var acks []jetstream.PubAckFuture
	for _, m := range msgs {
		f, err := h.js.PublishMsgAsync(m)
		require.NoError(t, err)
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("publish not acknowledged")
		}
	}
}

// waitApplied waits until the ledger has recorded n messages.
func (h *harness) waitApplied(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := h.store.Stats(h.ctx)
		return err == nil && st.Messages == int64(n)
	}, 60*time.Second, 20*time.Millisecond, "%d messages applied", n)
}

// requireInOrder checks that each person's n HR versions were each applied
// once and in stream order: every version was newer than the one stored
// (none ignored), and the audit chain holds them in stream order.
func (h *harness) requireInOrder(t *testing.T, n int, people ...tilgang.Person) {
	t.Helper()
	for _, p := range people {
		reqs, err := h.store.Requests(h.ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, reqs, n, "%s: every message once", p.ID)
		seqOf := map[string]uint64{}
		for _, r := range reqs {
			require.Equal(t, "accepted", r.Outcome, "%s seq %d: %s", p.ID, r.Seq, r.Why)
			seqOf[r.ID] = r.Seq
		}
		var rows []ledger.AuditRow
		require.NoError(t, ledger.AuditPages(h.ctx, h.store, ledger.AuditFilter{Person: p.ID}, func(page []ledger.AuditRow) error {
			rows = append(rows, page...)
			return nil
		}))
		var last uint64
		records := 0
		for _, r := range rows {
			if r.Entry.Kind != "hr.record" {
				continue
			}
			seq, ok := seqOf[r.Entry.RequestID]
			require.True(t, ok, "%s: audit row for an unknown request", p.ID)
			require.Greater(t, seq, last, "%s: seq %d applied after seq %d", p.ID, seq, last)
			last = seq
			records++
		}
		require.Equal(t, n, records, p.ID)
		row, err := h.store.Person(h.ctx, p.ID)
		require.NoError(t, err)
		require.EqualValues(t, n, row.Version, p.ID)
	}
}

// drained waits until the consumer has nothing pending or unacknowledged.
func (h *harness) drained(t *testing.T, cons jetstream.Consumer) {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := cons.Info(h.ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 20*time.Millisecond)
}

// TestLastDeliveryIsRecordedAndTerminated: a message that cannot be
// committed while the ledger is up is tried a few times, then recorded as
// rejected with the error and terminated; the messages beside it are not
// held up.
func TestLastDeliveryIsRecordedAndTerminated(t *testing.T) {
	h := newHarness(t, "")
	people := testenv.People()
	bad, err := h.sender.New(tilgang.TypeHRJoiner, people[0].ID, "hr", envelope.HR{Version: 1, Person: people[0]})
	require.NoError(t, err)
	good, err := h.sender.New(tilgang.TypeHRJoiner, people[1].ID, "hr", envelope.HR{Version: 1, Person: people[1]})
	require.NoError(t, err)
	lg := &poisoned{Ledger: h.store, key: bad.Key()}
	var outcomes atomic.Int32
	in := &intake.Intake{Consumer: h.cons, Ledger: lg, Engine: h.eng, Log: h.log,
		Observe: func(engine.Input, engine.Outcome, *jetstream.MsgMetadata) { outcomes.Add(1) }}
	go in.Run(h.ctx)
	for _, e := range []*envelope.Envelope{bad, good} {
		_, err := client.Publish(h.ctx, h.js, e)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		p, _ := h.store.Person(h.ctx, people[1].ID)
		rows, _ := h.store.Audit(h.ctx, ledger.AuditFilter{Person: people[0].ID})
		return p != nil && len(rows) == 1
	}, 20*time.Second, 20*time.Millisecond)

	// Tried a few times (alone, or in its batch: once and three times more
	// since the ledger still answers, then four times alone), then once to
	// record it as rejected under its key, which fails here too, so it is
	// recorded under its bytes with the error, and terminated: nothing is
	// left pending, and it was never handed back to be overtaken.
	require.GreaterOrEqual(t, lg.tries.Load(), int32(5))
	require.LessOrEqual(t, lg.tries.Load(), int32(9))
	rows, err := h.store.Audit(h.ctx, ledger.AuditFilter{Person: people[0].ID})
	require.NoError(t, err)
	require.Equal(t, "message.rejected", rows[0].Entry.Kind)
	require.Contains(t, rows[0].Entry.Text, "disk on fire")
	require.Contains(t, rows[0].Entry.Text, "4 tries")
	p, err := h.store.Person(h.ctx, people[0].ID)
	require.NoError(t, err)
	require.Nil(t, p, "the failing message was never applied")
	h.drained(t, h.cons)
}

// TestRejectedMessageCopyIsADuplicate: a message whose key can be recorded
// but which cannot be applied is recorded as rejected under its own key,
// so a copy of it that comes later (a redelivery still on its way, or the
// sender's retry) is a duplicate, not applied late and out of order.
func TestRejectedMessageCopyIsADuplicate(t *testing.T) {
	h := newHarness(t, "")
	people := testenv.People()
	bad, err := h.sender.New(tilgang.TypeHRJoiner, people[0].ID, "hr", envelope.HR{Version: 1, Person: people[0]})
	require.NoError(t, err)
	lg := &poisoned{Ledger: h.store, person: people[0].ID}
	outcomes := make(chan engine.Outcome, 10)
	in := &intake.Intake{Consumer: h.cons, Ledger: lg, Engine: h.eng, Log: h.log,
		Observe: func(_ engine.Input, out engine.Outcome, _ *jetstream.MsgMetadata) { outcomes <- out }}
	go in.Run(h.ctx)
	_, err = client.Publish(h.ctx, h.js, bad)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r, _ := h.store.Request(h.ctx, bad.Key())
		return r != nil
	}, 20*time.Second, 20*time.Millisecond)
	r, err := h.store.Request(h.ctx, bad.Key())
	require.NoError(t, err)
	require.Equal(t, "rejected", r.Outcome)
	require.Contains(t, r.Why, "record too odd to store")
	tries := lg.tries.Load()
	require.GreaterOrEqual(t, tries, int32(4))

	// The same message again, past JetStream's duplicate window (another
	// Nats-Msg-Id): the ledger knows its key.
	m, err := client.Msg(bad)
	require.NoError(t, err)
	m.Header.Set(jetstream.MsgIDHeader, "a copy")
	_, err = h.js.PublishMsg(h.ctx, m)
	require.NoError(t, err)
	select {
	case out := <-outcomes:
		require.Equal(t, engine.Duplicate, out)
	case <-time.After(10 * time.Second):
		t.Fatal("the copy was not taken in")
	}
	require.Equal(t, tries, lg.tries.Load(), "the copy was not applied again")
	p, err := h.store.Person(h.ctx, people[0].ID)
	require.NoError(t, err)
	require.Nil(t, p)
	h.drained(t, h.cons)
}

// TestStreamOrderAcrossBatches: one person's messages, spread over many
// batches that are collected while the one before commits, are applied in
// stream order, beside other people's; on PostgreSQL the batches are also
// split into partitions committed side by side.
func TestStreamOrderAcrossBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		postgres   bool
		partitions int
	}{
		{name: "sqlite", partitions: 1},
		{name: "postgres", postgres: true, partitions: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := ""
			if tc.postgres {
				dsn = pgtest.Schema(t)
			}
			h := newHarness(t, dsn)
			people := testenv.People()
			one := h.hrVersions(t, 3000, people[0])
			others := h.hrVersions(t, 100, people[1:]...)
			// The person's messages with the others' among them.
			var msgs []*nats.Msg
			for i, m := range one {
				msgs = append(msgs, m)
				if k := min(4, len(others)); i%7 == 0 {
					msgs, others = append(msgs, others[:k]...), others[k:]
				}
			}
			msgs = append(msgs, others...)
			// Half waits in the stream when the intake starts, half comes
			// while it works.
			h.publish(t, msgs[:len(msgs)/2])
			var commits atomic.Int32
			in := &intake.Intake{Consumer: h.cons, Ledger: h.store, Engine: h.eng, Log: h.log, Batch: 64, Partitions: tc.partitions,
				Committed: func() { commits.Add(1) }}
			done := make(chan error, 1)
			go func() { done <- in.Run(h.ctx) }()
			h.publish(t, msgs[len(msgs)/2:])
			h.waitApplied(t, len(msgs))

			require.GreaterOrEqual(t, int(commits.Load()), len(msgs)/64, "at most 64 messages in a batch")
			h.requireInOrder(t, 3000, people[0])
			h.requireInOrder(t, 100, people[1:]...)
			h.drained(t, h.cons)
			select {
			case err := <-done:
				t.Fatalf("Run returned early: %v", err)
			default:
			}
		})
	}
}

var errLeaseGone = errors.New("the lease is someone else's now")

// TestStopWithBatchesInThePipeline: the intake stops while batches wait
// behind the one committing, because a commit finds the lease lost or
// because Run's context ends. With a lost lease, the batch whose fence
// failed and everything after it is not committed and Run returns the
// error; at a clean stop, the batch committing finishes and Run returns
// nil. Nothing else is committed by that Run, and a new intake, after
// EnsureConsumer resets the consumer, applies everything once, in order.
func TestStopWithBatchesInThePipeline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leaseAt  int // the fence fails from this commit on
		cancelAt int // ctx ends in this commit, before its fence
	}{
		{name: "lease lost", leaseAt: 6},
		{name: "context ends", cancelAt: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			people := testenv.People()[:2]
			const versions = 600
			msgs := h.hrVersions(t, versions, people...)
			h.publish(t, msgs)

			ctx, cancel := context.WithCancel(h.ctx)
			defer cancel()
			var fences atomic.Int32
			var mu sync.Mutex
			var seqs []uint64
			first := &intake.Intake{Consumer: h.cons, Ledger: h.store, Engine: h.eng, Log: h.log, Batch: 50,
				Fence: func(ledger.Tx) error {
					n := int(fences.Add(1))
					if n == tc.cancelAt {
						cancel()
					}
					if tc.leaseAt > 0 && n >= tc.leaseAt {
						return tilgang.Wrap(tilgang.Conflict, errLeaseGone, "fence")
					}
					return nil
				},
				Observe: func(_ engine.Input, _ engine.Outcome, meta *jetstream.MsgMetadata) {
					mu.Lock()
					seqs = append(seqs, meta.Sequence.Stream)
					mu.Unlock()
				}}
			done := make(chan error, 1)
			go func() { done <- first.Run(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			if tc.leaseAt > 0 {
				require.ErrorIs(t, err, errLeaseGone)
				require.EqualValues(t, tc.leaseAt, fences.Load(), "no commit tried after the lease was lost")
			} else {
				require.NoError(t, err)
				require.EqualValues(t, tc.cancelAt, fences.Load(), "the batch committing finished, and no other began")
			}

			// What was committed is a prefix of the stream, and nothing more
			// is committed after Run returned.
			time.Sleep(200 * time.Millisecond)
			mu.Lock()
			committed := slices.Clone(seqs)
			mu.Unlock()
			require.NotEmpty(t, committed)
			require.Less(t, len(committed), len(msgs), "batches were still in the pipeline")
			for i, seq := range committed {
				require.EqualValues(t, i+1, seq, "committed in stream order, nothing after a batch not committed")
			}
			st, err := h.store.Stats(h.ctx)
			require.NoError(t, err)
			require.EqualValues(t, len(committed), st.Messages)

			cons, err := streams.EnsureConsumer(h.ctx, h.js, streams.Options{})
			require.NoError(t, err)
			second := &intake.Intake{Consumer: cons, Ledger: h.store, Engine: h.eng, Log: h.log, Batch: 50}
			go second.Run(h.ctx)
			h.waitApplied(t, len(msgs))
			h.requireInOrder(t, versions, people...)
			h.drained(t, cons)
		})
	}
}

// TestIdleIntakeCommitsAtOnce: a message that arrives at an idle intake is
// committed at once, not when a batch fills or a pull request expires
// (JetStream's Consume asks with a 30 s expiry).
func TestIdleIntakeCommitsAtOnce(t *testing.T) {
	h := newHarness(t, "")
	committed := make(chan uint64, 10)
	in := &intake.Intake{Consumer: h.cons, Ledger: h.store, Engine: h.eng, Log: h.log,
		Observe: func(_ engine.Input, _ engine.Outcome, meta *jetstream.MsgMetadata) { committed <- meta.Sequence.Stream }}
	go in.Run(h.ctx)
	time.Sleep(200 * time.Millisecond) // the intake is waiting
	people := testenv.People()
	for i, p := range people[:3] {
		h.publish(t, h.hrVersions(t, 1, p))
		select {
		case seq := <-committed:
			require.EqualValues(t, i+1, seq)
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not committed within 5 s", i+1)
		}
	}
}

// deadlocking fails the first commits of transactions that apply more
// than one message, as PostgreSQL reports a deadlock: unavailable, while
// the ledger still answers.
type deadlocking struct {
	ledger.Ledger
	fail  atomic.Int32 // failures left
	mu    sync.Mutex
	sizes []int // messages per transaction tried, and whether it failed
	fails []bool
}

func (d *deadlocking) Begin(ctx context.Context) (ledger.Tx, error) {
	tx, err := d.Ledger.Begin(ctx)
	return &countingTx{Tx: tx, d: d}, err
}

type countingTx struct {
	ledger.Tx
	d *deadlocking
	n int
}

func (t *countingTx) RecordMessage(m ledger.Message) (ledger.MsgOutcome, error) {
	t.n++
	return t.Tx.RecordMessage(m)
}

func (t *countingTx) Commit() error {
	fail := t.n > 1 && t.d.fail.Add(-1) >= 0
	t.d.mu.Lock()
	t.d.sizes, t.d.fails = append(t.d.sizes, t.n), append(t.d.fails, fail)
	first := len(t.d.sizes) == 1
	t.d.mu.Unlock()
	if first {
		time.Sleep(300 * time.Millisecond) // the rest gathers behind it
	}
	if fail {
		t.Tx.Rollback()
		return tilgang.Errorf(tilgang.Unavailable, "ledger: commit: deadlock detected (SQLSTATE 40P01)")
	}
	return t.Tx.Commit()
}

// TestDeadlockedBatchIsRetriedWhole: a batch that fails as unavailable
// while the ledger answers (a deadlock, a serialization failure) is tried
// again as a whole, not one message at a time.
func TestDeadlockedBatchIsRetriedWhole(t *testing.T) {
	h := newHarness(t, "")
	people := testenv.People()[:2]
	msgs := h.hrVersions(t, 100, people...)
	h.publish(t, msgs)
	lg := &deadlocking{Ledger: h.store}
	lg.fail.Store(2)
	in := &intake.Intake{Consumer: h.cons, Ledger: lg, Engine: h.eng, Log: h.log}
	go in.Run(h.ctx)
	h.waitApplied(t, len(msgs))
	h.requireInOrder(t, 100, people...)

	lg.mu.Lock()
	defer lg.mu.Unlock()
	i := slices.Index(lg.fails, true)
	require.GreaterOrEqual(t, i, 0, "a batch of several messages failed: %v", lg.sizes)
	require.Equal(t, []bool{true, true, false}, lg.fails[i:i+3], "twice, then committed")
	require.Equal(t, []int{lg.sizes[i], lg.sizes[i], lg.sizes[i]}, lg.sizes[i:i+3], "the whole batch each time: %v", lg.sizes)
}
