package sqlledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// KindRestored is the audit entry the first start after a restore chains:
// Details seq and hash are the chain head the backup held.
const KindRestored = "ledger.restored"

// RestoreMark is the chain head of a restored ledger, kept in the table
// restored from Restore until the first start chains it.
type RestoreMark struct {
	Seq  int64
	Hash string
	At   time.Time
}

// Restored reads the mark Restore left, nil when the ledger was not
// restored since its last start, and the stream sequence the intake resumes
// from: one past the highest the ledger recorded.
func (s *Store) Restored(ctx context.Context) (*RestoreMark, uint64, error) {
	// SQLite: Restore made the table; PostgreSQL: the operator, after
	// pg_restore, with the statement in the README (PostgreSQLRestoreMark).
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'restored'`
	if s.d.postgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'restored' AND table_schema = current_schema()`
	}
	var n int
	if err := s.read.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return nil, 0, classify(err, "read the restore mark")
	}
	if n == 0 {
		return nil, 0, nil
	}
	var m RestoreMark
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT seq, hash, at FROM restored WHERE id = 1`).Scan(&m.Seq, &m.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, classify(err, "read the restore mark")
	}
	m.At = fromMS(at)
	var high sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT MAX(seq) FROM messages`).Scan(&high); err != nil {
		return nil, 0, classify(err, "read the highest stream sequence")
	}
	return &m, uint64(high.Int64) + 1, nil
}

// ChainRestored chains ledger.restored {seq, hash} for m and clears the
// mark, in one transaction. New event rows then take ids from now's Unix
// milliseconds on: the ids the ledger gave after the backup were published
// before the restore, and an event published again under one of them would
// be dropped as a duplicate (Nats-Msg-Id) or taken for the old one.
func (s *Store) ChainRestored(ctx context.Context, m RestoreMark, now time.Time) error {
	ltx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	t := ltx.(*tx)
	res, err := t.exec(`DELETE FROM restored WHERE id = 1`)
	if err != nil {
		t.Rollback()
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return t.Rollback() // another replica starting chained it
	}
	if err := t.eventIDsPast(ms(now)); err != nil {
		t.Rollback()
		return err
	}
	t.Audit(ledger.AuditEntry{At: now, Kind: KindRestored, Actor: "tilgang",
		Details: map[string]string{"seq": strconv.FormatInt(m.Seq, 10), "hash": m.Hash}})
	return t.Commit()
}

// PostgreSQLRestoreMark is the statement that marks a PostgreSQL ledger
// restored with pg_restore at its chain head, so that the first replica
// started after it chains ledger.restored and resumes the intake from the
// ledger's highest stream sequence (README, "Backup and restore").
const PostgreSQLRestoreMark = `CREATE TABLE restored AS SELECT id, seq, hash, (extract(epoch FROM now()) * 1000)::bigint AS at FROM audit_head`

// restores reads the restore points the chain records, oldest first.
func (s *Store) restores(ctx context.Context) ([]ledger.Head, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT seq, hash, canonical FROM audit WHERE canonical LIKE ? ORDER BY seq`), `%"kind":"`+KindRestored+`"%`)
	if err != nil {
		return nil, classify(err, "read the restores")
	}
	defer rows.Close()
	var out []ledger.Head
	for rows.Next() {
		var (
			seq        int64
			hash, text string
		)
		if err := rows.Scan(&seq, &hash, &text); err != nil {
			return nil, classify(err, "read the restores")
		}
		var c canon
		if json.Unmarshal([]byte(text), &c) != nil || c.Kind != KindRestored || c.Seq != seq || sha256hex([]byte(text)) != hash {
			continue // verify reports the row itself
		}
		at, err := strconv.ParseInt(c.Details["seq"], 10, 64)
		if err != nil || at >= seq || len(c.Details["hash"]) != 64 {
			continue
		}
		out = append(out, ledger.Head{Seq: at, Hash: c.Details["hash"]})
	}
	return out, classify(rows.Err(), "read the restores")
}

// LostToRestore says which of anchors were lost to a restore: anchored rows
// past a restore's head that the chain no longer has with their anchored
// hash, since the ledger went back to a backup after they were published.
// Each lost anchor maps to the head the chain was restored to (the latest
// restore below it).
func (s *Store) LostToRestore(ctx context.Context, anchors []ledger.Head) (map[ledger.Head]ledger.Head, error) {
	out := map[ledger.Head]ledger.Head{}
	if len(anchors) == 0 {
		return out, nil
	}
	points, err := s.restores(ctx)
	if err != nil || len(points) == 0 {
		return out, err
	}
	seqs := make([]int64, 0, len(anchors))
	for _, a := range anchors {
		seqs = append(seqs, a.Seq)
	}
	hashes, err := s.RowHashes(ctx, seqs)
	if err != nil {
		return nil, err
	}
	for _, a := range anchors {
		if h, ok := hashes[a.Seq]; ok && h == a.Hash {
			continue
		}
		var to *ledger.Head
		for i := range points {
			if points[i].Seq < a.Seq && (to == nil || points[i].Seq > to.Seq) {
				to = &points[i]
			}
		}
		if to != nil {
			out[a] = *to
		}
	}
	return out, nil
}

// ChainsFrom walks the chain from from (see chainsFrom). When from is an
// anchor lost to a restore (LostToRestore), the chain is walked from the
// head it was restored to instead: the anchors go on from there.
func (s *Store) ChainsFrom(ctx context.Context, from ledger.Head) (ledger.Head, error) {
	head, err := s.chainsFrom(ctx, from)
	var brk *ledger.ChainBreak
	if from.Seq == 0 || !errors.As(err, &brk) {
		return head, err
	}
	lost, lerr := s.LostToRestore(ctx, []ledger.Head{from})
	if lerr != nil {
		return ledger.Head{}, fmt.Errorf("%w (and reading the restores: %v)", err, lerr)
	}
	to, ok := lost[from]
	if !ok {
		return head, err
	}
	return s.chainsFrom(ctx, to)
}

// eventIDsPast makes the next event row's id greater than floor.
func (t *tx) eventIDsPast(floor int64) error {
	if t.s.d.postgres {
		_, err := t.exec(`SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST(COALESCE((SELECT MAX(id) FROM events), 0), ?))`, floor)
		return err
	}
	if _, err := t.exec(`UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'events'`, floor); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO sqlite_sequence (name, seq) SELECT 'events', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')`, floor)
	return err
}

// anchorLost is Verify's rule for an anchor the chain does not reach or
// has with another hash: when it was lost to a restore, a warning saying
// so ("" when it was not, and Verify fails).
func (s *Store) anchorLost(ctx context.Context, anchor ledger.Head) (string, error) {
	lost, err := s.LostToRestore(ctx, []ledger.Head{anchor})
	if err != nil {
		return "", err
	}
	to, ok := lost[anchor]
	if !ok {
		return "", nil
	}
	return fmt.Sprintf("warning: the anchor of row %d was lost to the restore at seq %d", anchor.Seq, to.Seq), nil
}
