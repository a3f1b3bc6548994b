package publish_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/publish"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

type world struct {
	t      *testing.T
	js     jetstream.JetStream
	path   string
	store  *sqlledger.Store
	pub    *publish.Publisher
	key    nkeys.KeyPair
	refuse []string
	at     time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	ns := testenv.NATS(t, dir)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, streams.EnsureStreams(t.Context(), js, streams.Options{}))
	w := &world{t: t, js: js, path: filepath.Join(dir, "ledger.db"), at: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	w.key, err = nkeys.CreateUser()
	require.NoError(t, err)
	w.open()
	return w
}

func (w *world) open() {
	var err error
	w.store, err = sqlledger.OpenSQLite(w.t.Context(), w.path)
	require.NoError(w.t, err)
	s := w.store
	w.t.Cleanup(func() { s.Close() })
	w.pub = &publish.Publisher{JS: w.js, Ledger: w.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Key: w.key,
		Refused: func(problem string) { w.refuse = append(w.refuse, problem) }}
}

// rows appends n rows to the chain.
func (w *world) rows(n int) {
	for range n {
		tx, err := w.store.Begin(w.t.Context())
		require.NoError(w.t, err)
		w.at = w.at.Add(time.Minute)
		tx.Audit(ledger.AuditEntry{At: w.at, Kind: "request.accepted", Person: "1547-10234", Actor: "1547-10001", System: "gerica",
			Role: "bruker", RequestID: fmt.Sprintf("r%d", w.at.Unix())})
		require.NoError(w.t, tx.Commit())
	}
}

func (w *world) anchor() *ledger.Head {
	h, err := w.pub.Anchor(w.t.Context())
	require.NoError(w.t, err)
	return h
}

// rewrite edits the actor of row seq in the SQLite file and rehashes the
// rows after it up to the head, as an attacker with disk access would.
func (w *world) rewrite(seq int64, actor string) {
	t := w.t
	require.NoError(t, w.store.Close())
	db, err := sql.Open("sqlite", "file:"+w.path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT seq, canonical FROM audit WHERE seq >= ? ORDER BY seq`, seq-1)
	require.NoError(t, err)
	type row struct {
		seq  int64
		text string
	}
	var all []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.seq, &r.text))
		all = append(all, r)
	}
	require.NoError(t, rows.Close())
	prev := ""
	for _, r := range all {
		if r.seq == seq-1 {
			sum := sha256.Sum256([]byte(r.text))
			prev = hex.EncodeToString(sum[:])
			continue
		}
		var c map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.text), &c))
		if r.seq == seq {
			c["actor"] = actor
		}
		c["prev"] = prev
		b, err := json.Marshal(c)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		prev = hex.EncodeToString(sum[:])
		_, err = db.Exec(`UPDATE audit SET canonical = ?, hash = ? WHERE seq = ?`, string(b), prev, r.seq)
		require.NoError(t, err)
	}
	_, err = db.Exec(`UPDATE audit_head SET hash = ? WHERE id = 1`, prev)
	require.NoError(t, err)
	w.open()
}

// A rewritten chain is never anchored, however many periods pass, and
// verify keeps finding it.
func TestAnchorRefusesRewrittenChain(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	w.rows(5)
	require.Equal(t, int64(5), w.anchor().Seq)
	w.rows(3)
	require.Equal(t, int64(8), w.anchor().Seq)
	rep, err := w.pub.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, 2, rep.Anchors)

	w.rewrite(3, "1547-66666") // a forged actor, rehashed to the head
	w.rows(2)                  // the worker goes on writing on the forged chain
	for range 3 {
		_, err := w.pub.Anchor(ctx)
		require.ErrorContains(t, err, "not anchoring")
	}
	require.Len(t, w.refuse, 3)
	require.Contains(t, w.refuse[0], "row 8 differs from its anchored hash")

	rep, err = w.pub.Verify(ctx)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, int64(5), rep.BadSeq, rep.Problem) // the first anchored row at or after the rewrite
	require.Contains(t, rep.Problem, "row 5 differs from its anchored hash")
	require.Equal(t, 2, rep.Anchors)
	head, err := publish.LastAnchor(ctx, w.js)
	require.NoError(t, err)
	require.Equal(t, int64(8), head.Seq, "nothing was anchored after the rewrite")
}

// An anchor not signed by the worker's key is ignored and reported, and
// does not stop anchoring.
func TestForgedAnchorIsIgnored(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	w.rows(3)
	require.Equal(t, int64(3), w.anchor().Seq)

	forge := func(actor string, kp nkeys.KeyPair) {
		env := envelope.Envelope{SpecVersion: "1.0", ID: "anchor-99999999", Source: publish.Source, Type: envelope.EventType("audit.anchor"),
			Subject: "_", Time: time.Now().UTC().Format(time.RFC3339Nano), Actor: actor}
		require.NoError(t, env.SetData(map[string]any{"seq": 99999999, "hash": fmt.Sprintf("%064d", 0)}))
		if kp != nil {
			require.NoError(t, env.Sign(kp))
		}
		body, err := env.Marshal()
		require.NoError(t, err)
		_, err = w.js.Publish(ctx, streams.AnchorSubject, body)
		require.NoError(t, err)
	}
	forge("tilgang", nil) // unsigned, as anchors were before they were signed
	other, err := nkeys.CreateUser()
	require.NoError(t, err)
	forge(publish.WorkerActor, other) // signed, but not by the worker's key

	rep, err := w.pub.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, 1, rep.Anchors)
	require.Len(t, rep.Ignored, 2)
	require.Contains(t, rep.Ignored[0], "is not an anchor by worker")
	require.Contains(t, rep.Ignored[1], "is not signed by the worker's key")

	// A publisher that starts now (another replica, a restart) finds the
	// last signed anchor behind the forged ones.
	w.pub = &publish.Publisher{JS: w.js, Ledger: w.store, Log: w.pub.Log, Key: w.key, Refused: w.pub.Refused}
	w.rows(2)
	require.Equal(t, int64(5), w.anchor().Seq, "anchoring goes on")
	rep, err = w.pub.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, 2, rep.Anchors)
	require.Empty(t, w.refuse)
}

// Anchors signed by a worker key that was rotated away still verify,
// long after the retired key's until (anchors are history), with the keys
// the principals file gives for the worker; revoking the worker ends them.
func TestRetiredWorkerKeyVerifiesAnchors(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	oldPub, err := w.key.PublicKey()
	require.NoError(t, err)
	w.rows(3)
	require.Equal(t, int64(3), w.anchor().Seq) // signed by the old key

	newKey, err := nkeys.CreateUser()
	require.NoError(t, err)
	newPub, err := newKey.PublicKey()
	require.NoError(t, err)
	set, err := principals.New([]principals.Principal{{ID: publish.WorkerActor, Kind: principals.KindService, Key: newPub,
		RetiredKeys: []principals.RetiredKey{{Key: oldPub, Until: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}}}})
	require.NoError(t, err)
	w.key = newKey
	w.pub = &publish.Publisher{JS: w.js, Ledger: w.store, Log: w.pub.Log, Key: newKey, Refused: w.pub.Refused,
		WorkerKeys: func() []string { return set.AnchorKeys(publish.WorkerActor) }}
	w.rows(2)
	require.Equal(t, int64(5), w.anchor().Seq) // signed by the new key

	rep, err := w.pub.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, 2, rep.Anchors)
	require.Empty(t, rep.Ignored)

	revoked, err := principals.New([]principals.Principal{{ID: publish.WorkerActor, Kind: principals.KindService,
		Revoked: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}})
	require.NoError(t, err)
	w.pub.WorkerKeys = func() []string { return revoked.AnchorKeys(publish.WorkerActor) }
	rep, err = w.pub.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, rep.Anchors)
	require.Len(t, rep.Ignored, 2, "a revoked key's anchors count no more")
}
