package sqlledger

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

var _ ledger.Eraser = (*Store)(nil)

// Erase is the erasure at the end of retention (ledger.Eraser). It holds
// the chain head from its first statement, so no row chained meanwhile can
// take up a text it removes. Its statements go to the transaction
// unprepared: an erasure is rare, and its lists of ids vary.
func (s *Store) Erase(ctx context.Context, before, at time.Time, actor string, dryRun bool) (ledger.EraseCounts, error) {
	var n ledger.EraseCounts
	if before.IsZero() {
		return n, tilgang.Errorf(tilgang.Invalid, "ledger: erase: no date to erase before")
	}
	lt, err := s.Begin(ctx)
	if err != nil {
		return n, err
	}
	t := lt.(*tx)
	defer t.Rollback()
	e := eraser{t: t, b: ms(before)}
	if _, err := e.exec(`SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
		return n, err
	}
	if n.Texts, err = e.texts(); err != nil {
		return n, err
	}
	if n.Requests, err = e.exec(`UPDATE requests SET reason = '', why = '' WHERE at < ? AND (reason <> '' OR why <> '')`, e.b); err != nil {
		return n, err
	}
	if n.Operations, err = e.exec(`UPDATE operations SET last_error = '' WHERE updated < ? AND last_error <> '' AND state IN (?, ?, ?)`,
		e.b, string(ledger.OpDone), string(ledger.OpFailed), string(ledger.OpCancelled)); err != nil {
		return n, err
	}
	if n.Reviews, err = e.exec(`UPDATE review_items SET comment = '' WHERE decided_at > 0 AND decided_at < ? AND comment <> ''`, e.b); err != nil {
		return n, err
	}
	if n.Events, err = e.exec(`DELETE FROM events WHERE published = 1 AND notified = 1 AND at < ?`, e.b); err != nil {
		return n, err
	}
	if n.Mails, err = e.exec(`DELETE FROM mails WHERE state <> ? AND created < ?`, string(ledger.MailQueued), e.b); err != nil {
		return n, err
	}
	if n.Snapshots, n.Persons, n.Listed, err = e.leavers(); err != nil {
		return n, err
	}
	if n.ReconcileRuns, err = e.reconcileRuns(); err != nil {
		return n, err
	}
	// A trace context is read only to parent the spans of the message's
	// operations: once none is left to run, it is never read again.
	if n.Traces, err = e.exec(`DELETE FROM traces WHERE seq IN (SELECT seq FROM messages WHERE at < ?)
		AND seq NOT IN (SELECT seq FROM operations WHERE state IN (?, ?, ?))`,
		e.b, string(ledger.OpQueued), string(ledger.OpClaimed), string(ledger.OpWaiting)); err != nil {
		return n, err
	}
	if dryRun {
		return n, nil
	}
	details := n.Details()
	details["before"] = before.Format(time.RFC3339)
	t.Audit(ledger.AuditEntry{At: at.UTC(), Kind: ledger.ErasureKind, Actor: actor, Details: details})
	return n, t.Commit()
}

type eraser struct {
	t *tx
	b int64 // the date, Unix milliseconds
}

func (e eraser) exec(q string, args ...any) (int64, error) {
	res, err := e.t.tx.ExecContext(e.t.ctx, e.t.s.d.rebind(q), args...)
	if err != nil {
		return 0, classify(err, "erase: "+firstWords(q))
	}
	n, err := res.RowsAffected()
	return n, classify(err, "erase: "+firstWords(q))
}

// texts removes the free texts whose newest chain row is before the date:
// verify counts a text as erased by the chained erasure only then.
func (e eraser) texts() (int64, error) {
	rows, err := e.t.tx.QueryContext(e.t.ctx, `SELECT canonical, at FROM audit WHERE canonical LIKE '%"text_hash"%' ORDER BY seq`)
	if err != nil {
		return 0, classify(err, "erase: read the chain")
	}
	newest := map[string]int64{}
	for rows.Next() {
		var (
			canonical string
			at        int64
		)
		if err := rows.Scan(&canonical, &at); err != nil {
			rows.Close()
			return 0, classify(err, "erase: read the chain")
		}
		var c struct {
			TextHash string `json:"text_hash"`
		}
		if err := json.Unmarshal([]byte(canonical), &c); err != nil {
			rows.Close()
			return 0, tilgang.Wrap(tilgang.Internal, err, "ledger: erase: a chain row is not valid JSON")
		}
		if c.TextHash != "" && at > newest[c.TextHash] {
			newest[c.TextHash] = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, classify(err, "erase: read the chain")
	}
	var n int64
	for h, at := range newest {
		if at >= e.b {
			continue
		}
		k, err := e.exec(`DELETE FROM texts WHERE hash = ? AND text IS NOT NULL`, h)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// leavers removes the person records and HR snapshot rows of the people
// whose leave ran before the date, who have no operation left to run and
// whom no HR source still lists (those it counts as listed); snapshot rows
// of people a source no longer has and the ledger no longer knows go too.
// Grants, accounts, requests and chain rows keep the ids.
func (e eraser) leavers() (snapshots, persons, listed int64, err error) {
	rows, err := e.t.tx.QueryContext(e.t.ctx, e.t.s.d.rebind(`SELECT p.id,
		EXISTS (SELECT 1 FROM hr_snapshots h WHERE h.person = p.id AND h.present = 1) FROM persons p
		WHERE p.has_left = 1 AND ((p.leave_at > 0 AND p.leave_at < ?) OR (p.leave_at = 0 AND p.updated < ?))
		AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.person = p.id AND o.state IN (?, ?, ?))
		ORDER BY p.id`), e.b, e.b, string(ledger.OpQueued), string(ledger.OpClaimed), string(ledger.OpWaiting))
	if err != nil {
		return 0, 0, 0, classify(err, "erase: read leavers")
	}
	var ids []string
	for rows.Next() {
		var (
			id    string
			still bool
		)
		if err := rows.Scan(&id, &still); err != nil {
			rows.Close()
			return 0, 0, 0, classify(err, "erase: read leavers")
		}
		if still {
			listed++
			continue
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, 0, classify(err, "erase: read leavers")
	}
	for _, id := range ids {
		k, err := e.exec(`DELETE FROM hr_snapshots WHERE person = ?`, id)
		if err != nil {
			return snapshots, persons, listed, err
		}
		snapshots += k
		if k, err = e.exec(`DELETE FROM persons WHERE id = ?`, id); err != nil {
			return snapshots, persons, listed, err
		}
		persons += k
	}
	k, err := e.exec(`DELETE FROM hr_snapshots WHERE present = 0 AND updated < ? AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = hr_snapshots.person)`, e.b)
	return snapshots + k, persons, listed, err
}

// reconcileRuns removes the reconciliation runs before the date but each
// system's newest (the system page shows it), and replaces a failed
// read's error of that one, if it is before the date too, with
// ledger.ErasedReconcileError: the error is the target's, and may name an
// account; the run still reads as failed. The rows hold no other personal
// data: counts, the system, the time, the actor's id, and a held run's
// reason, which the runner makes of counts.
func (e eraser) reconcileRuns() (int64, error) {
	gone, err := e.exec(`DELETE FROM reconcile_runs WHERE at < ? AND id NOT IN (
		SELECT (SELECT n.id FROM reconcile_runs n WHERE n.system = s.system ORDER BY n.at DESC, n.id DESC LIMIT 1)
		FROM (SELECT DISTINCT system FROM reconcile_runs) s)`, e.b)
	if err != nil {
		return 0, err
	}
	cleared, err := e.exec(`UPDATE reconcile_runs SET read_error = ? WHERE at < ? AND read_error NOT IN ('', ?)`,
		ledger.ErasedReconcileError, e.b, ledger.ErasedReconcileError)
	return gone + cleared, err
}
