package app_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// stuck is a connector whose Grant never returns by itself: it waits for
// its context when honours is set, otherwise for the test's end.
type stuck struct {
	honours bool
	called  chan struct{}
	end     chan struct{}
}

func (s *stuck) Resolve(context.Context, tilgang.Person, connectors.Ref) (connectors.Ref, error) {
	return connectors.Ref{}, nil
}

func (s *stuck) EnsureAccount(context.Context, connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	return nil, nil, nil
}
func (s *stuck) Disable(context.Context, connectors.Account) error        { return nil }
func (s *stuck) Enable(context.Context, connectors.Account) error         { return nil }
func (s *stuck) Revoke(context.Context, connectors.Account, string) error { return nil }
func (s *stuck) Close() error                                             { return nil }

func (s *stuck) Grant(ctx context.Context, _ connectors.Account, _ string) error {
	close(s.called)
	if s.honours {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.end:
		}
		return nil
	}
	<-s.end
	return nil
}

// The shutdown limit limits: after it, a connector call still in flight is
// cancelled (or, when it ignores that, abandoned) and Run returns; the
// claim is handed back only when no call is left running.
func TestShutdownLimitEndsCallsInFlight(t *testing.T) {
	tests := []struct {
		name    string
		honours bool
		log     string
		state   ledger.OpState
	}{
		{name: "a call that honours cancelling is cancelled", honours: true,
			log: "operations still in flight after the shutdown limit", state: ledger.OpQueued},
		{name: "a call that ignores cancelling is abandoned", honours: false,
			log: "abandoning operations whose connector calls ignore being cancelled", state: ledger.OpClaimed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			ns := testenv.NATS(t, dir)
			nc, err := nats.Connect(ns.ClientURL())
			require.NoError(t, err)
			defer nc.Close()
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			store, err := sqlledger.OpenSQLite(ctx, filepath.Join(dir, "ledger.db"))
			require.NoError(t, err)
			defer store.Close()
			ps, err := principals.EnsureDev(dir)
			require.NoError(t, err)
			target, err := noop.Open(noop.Config{})
			require.NoError(t, err)
			conn := &stuck{honours: tt.honours, called: make(chan struct{}), end: make(chan struct{})}
			defer close(conn.end)
			conns := connectors.Set{"noop": target, "manual": manual.Connector{}, "stuck": conn}
			policies := testenv.WriteCatalogue(t, testenv.Catalogue)
			cat, err := policy.Load(policies, conns.Names())
			require.NoError(t, err)
			logs := &testenv.Buffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))

			now := time.Now()
			tx, err := store.Begin(ctx)
			require.NoError(t, err)
			require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: "1547-1"}, Version: 1, Updated: now}))
			id, err := tx.InsertOperation(ledger.Operation{Person: "1547-1", Connector: "stuck", Kind: ledger.KindGrant, Entitlement: "G",
				State: ledger.OpQueued, DueAt: now.Add(-time.Second), Target: connectors.Ref{"id": "1547-1"}, Created: now, Updated: now})
			require.NoError(t, err)
			op, err := tx.Operation(id)
			require.NoError(t, err)
			tx.Audit(ledger.Planned(now, engine.Worker, *op)) // as the planner chains what it queues
			require.NoError(t, tx.Commit())

			p := &app.Parts{Log: log, NC: nc, JS: js, Ledger: store, Engine: engine.New(cat, ps, nil, time.Now, log), Connectors: conns,
				PoliciesDir: policies, Holder: "w1", ClaimLease: time.Hour, CallTimeout: 10 * time.Minute, ShutdownLimit: time.Second}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(runCtx, "127.0.0.1:0", nil) }()
			select {
			case <-conn.called:
			case err := <-done:
				t.Fatalf("Run ended before the call: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("the operation was not called")
			}
			stop()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(60 * time.Second):
				t.Fatalf("Run did not return with a call in flight past the shutdown limit:\n%s", logs.String())
			}
			require.Contains(t, logs.String(), tt.log)
			require.Contains(t, logs.String(), "operations=["+strconv.FormatInt(id, 10)+"]")
			op, err = store.Operation(ctx, id)
			require.NoError(t, err)
			require.Equal(t, tt.state, op.State, "handed back only when nothing runs")
		})
	}
}
