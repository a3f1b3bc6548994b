package intake_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
)

// poisoned fails every transaction that records the poisoned key, as a
// ledger fault that never heals would.
type poisoned struct {
	ledger.Ledger
	key   string
	tries atomic.Int32
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

// TestLastDeliveryIsRecordedAndTerminated: a message that cannot be
// committed while the ledger is up is tried a few times, then recorded as
// rejected with the error and terminated; the messages beside it are not
// held up.
func TestLastDeliveryIsRecordedAndTerminated(t *testing.T) {
	dir := t.TempDir()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(10*time.Second))
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
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(dir, "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	key, err := principals.LoadSeed(filepath.Join(dir, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	sender := &client.Sender{Key: key, Via: principals.DevID}

	people := testenv.People()
	bad, err := sender.New(tilgang.TypeHRJoiner, people[0].ID, "hr", envelope.HR{Version: 1, Person: people[0]})
	require.NoError(t, err)
	good, err := sender.New(tilgang.TypeHRJoiner, people[1].ID, "hr", envelope.HR{Version: 1, Person: people[1]})
	require.NoError(t, err)
	lg := &poisoned{Ledger: store, key: bad.Key()}
	var outcomes atomic.Int32
	in := &intake.Intake{Consumer: cons, Ledger: lg, Engine: engine.New(cat, ps, []string{"manual"}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil))),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Observe: func(engine.Input, engine.Outcome, *jetstream.MsgMetadata) { outcomes.Add(1) }}
	go in.Run(ctx)
	for _, e := range []*envelope.Envelope{bad, good} {
		_, err := client.Publish(ctx, js, e)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		p, _ := store.Person(ctx, people[1].ID)
		rows, _ := store.Audit(ctx, ledger.AuditFilter{Person: people[0].ID})
		return p != nil && len(rows) == 1
	}, 20*time.Second, 20*time.Millisecond)

	// Tried a few times (in its batch, then alone), then recorded (under its
	// bytes, not its key) with the error, and terminated: nothing is left
	// pending, and it was never handed back to be overtaken.
	require.GreaterOrEqual(t, lg.tries.Load(), int32(4))
	require.LessOrEqual(t, lg.tries.Load(), int32(5))
	rows, err := store.Audit(ctx, ledger.AuditFilter{Person: people[0].ID})
	require.NoError(t, err)
	require.Equal(t, "message.rejected", rows[0].Entry.Kind)
	require.Contains(t, rows[0].Entry.Text, "disk on fire")
	require.Contains(t, rows[0].Entry.Text, "4 tries")
	p, err := store.Person(ctx, people[0].ID)
	require.NoError(t, err)
	require.Nil(t, p, "the failing message was never applied")
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 10*time.Second, 20*time.Millisecond)
}
