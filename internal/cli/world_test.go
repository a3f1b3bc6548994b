package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// world is an embedded NATS server with tilgang's streams, the dev keys
// and, when asked for, an API server and a stand-in for intake.
type world struct {
	url      string
	nc       *nats.Conn
	js       jetstream.JetStream
	consumer jetstream.Consumer
	dir      string
	devKey   string
	hrKey    string
	set      *principals.Set
	store    *sqlledger.Store
	now      time.Time
	verify   func(context.Context) (ledger.VerifyReport, error)      // default: the ledger's
	reload   func(context.Context, string) (api.ReloadResult, error) // default: cat-v2, no replicas
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{dir: t.TempDir(), now: time.Now()}
	var err error
	w.set, err = principals.EnsureDev(w.dir)
	require.NoError(t, err)
	w.devKey = filepath.Join(w.dir, "keys", principals.DevSeedFile)
	w.hrKey = filepath.Join(w.dir, "keys", principals.HRSeedFile)

	ns := testenv.NATS(t, t.TempDir())
	w.url = ns.ClientURL()
	w.nc, err = nats.Connect(w.url)
	require.NoError(t, err)
	t.Cleanup(w.nc.Close)
	w.js, err = jetstream.New(w.nc)
	require.NoError(t, err)
	w.consumer, err = streams.Ensure(ctx, w.js, streams.Options{})
	require.NoError(t, err)
	return w
}

// run runs the command line with TILGANG_NATS and TILGANG_KEY set to the
// world's server and dev key, and extra environment variables from env.
func (w *world) run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	vars := map[string]string{envNATS: w.url, envKey: w.devKey}
	for k, v := range env {
		vars[k] = v
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, options{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""),
		Getenv: func(k string) string { return vars[k] }, Now: func() time.Time { return w.now }})
	return code, out.String(), errOut.String()
}

// msgs reads every message in TILGANG_IN.
func (w *world) msgs(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := w.js.Stream(ctx, streams.In)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// decoded checks that m decodes on its subject, verifies with the dev
// principals and carries Nats-Msg-Id = its MsgID; it returns the envelope.
func (w *world) decoded(t *testing.T, m *jetstream.RawStreamMsg) *envelope.Envelope {
	t.Helper()
	env, err := envelope.Decode(m.Subject, m.Data)
	require.NoError(t, err)
	_, err = w.set.Verify(env)
	require.NoError(t, err)
	require.Equal(t, env.MsgID(), m.Header.Get("Nats-Msg-Id"))
	require.Equal(t, envelope.KeyHash(env.Signer(), "tilgang-cli", env.ID), env.Key())
	require.Equal(t, "tilgang-cli", env.Source)
	return env
}

// serveAPI starts an API server over a fresh SQLite ledger.
func (w *world) serveAPI(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var err error
	w.store, err = sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	verify := w.verify
	if verify == nil {
		verify = func(ctx context.Context) (ledger.VerifyReport, error) { return w.store.Verify(ctx, nil) }
	}
	reload := w.reload
	if reload == nil {
		reload = func(context.Context, string) (api.ReloadResult, error) {
			return api.ReloadResult{Version: "cat-v2"}, nil
		}
	}
	srv := &api.Server{Ledger: w.store, Principals: func() *principals.Set { return w.set }, Verify: verify, Reload: reload}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, w.nc) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		w.store.Close()
	})
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	c := &api.Client{NC: w.nc, Key: kp, Actor: "dev", Timeout: time.Second}
	require.Eventually(t, func() bool {
		return c.Call(ctx, api.MethodGrants, nil, nil) == nil
	}, 10*time.Second, 20*time.Millisecond)
}

// process stands in for intake: it records a request row for each message
// in, as accepted, or rejected when reject names the person, or ignored
// when an HR version is not newer than the last seen for the person.
func (w *world) process(t *testing.T, reject map[string]string) {
	t.Helper()
	var mu sync.Mutex
	versions := map[string]int64{}
	cc, err := w.consumer.Consume(func(m jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		env, err := envelope.Decode(m.Subject(), m.Data())
		if err != nil {
			t.Errorf("process: %v", err)
			m.Term()
			return
		}
		r := ledger.Request{ID: env.Key(), Person: env.Subject, Actor: env.Actor, Via: env.Via, Outcome: "accepted", At: time.Now()}
		if why, ok := reject[env.Subject]; ok {
			r.Outcome, r.Why = "rejected", why
		}
		if hr, ok := env.Payload.(*envelope.HR); ok && r.Outcome == "accepted" {
			if hr.Version <= versions[env.Subject] {
				r.Outcome, r.Why = "ignored", "not newer"
			} else {
				versions[env.Subject] = hr.Version
			}
		}
		tx, err := w.store.Begin(context.Background())
		if err == nil {
			err = tx.InsertRequest(r)
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
		if err != nil {
			t.Errorf("process: %v", err)
		}
		m.Ack()
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
}
