package sqlledger

import (
	"time"

	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// chainsFrom walks the rows from from.Seq on: the row at from.Seq must
// still hash to from.Hash, and each later row must claim its seq, the
// previous row's hash, and hash to its stored hash. The cost is the rows
// written since the last anchor. ChainsFrom (restored.go) calls it.
func (s *Store) chainsFrom(ctx context.Context, from ledger.Head) (ledger.Head, error) {
	if from.Seq == 0 {
		from.Hash = genesis
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT seq, hash, canonical FROM audit WHERE seq >= ? ORDER BY seq`), from.Seq)
	if err != nil {
		return ledger.Head{}, classify(err, "read the chain since the last anchor")
	}
	defer rows.Close()
	head := from
	breaks := func(seq int64, format string, args ...any) (ledger.Head, error) {
		return ledger.Head{}, &ledger.ChainBreak{Seq: seq, Problem: fmt.Sprintf(format, args...)}
	}
	first := true
	for rows.Next() {
		var (
			seq        int64
			hash, text string
		)
		if err := rows.Scan(&seq, &hash, &text); err != nil {
			return ledger.Head{}, classify(err, "read the chain since the last anchor")
		}
		if first && from.Seq > 0 {
			first = false
			if seq != from.Seq {
				return breaks(from.Seq, "row %d, the last anchor, is missing: rows were deleted", from.Seq)
			}
			if hash != from.Hash || sha256hex([]byte(text)) != hash {
				return breaks(from.Seq, "row %d differs from its anchored hash: the chain was rewritten at or before it", from.Seq)
			}
			continue
		}
		first = false
		if seq != head.Seq+1 {
			return breaks(head.Seq+1, "row %d is missing (the next row is %d): rows were deleted", head.Seq+1, seq)
		}
		var c canon
		if err := json.Unmarshal([]byte(text), &c); err != nil || sha256hex([]byte(text)) != hash {
			return breaks(seq, "row %d does not hash to its stored hash: edited", seq)
		}
		if c.Seq != seq || c.Prev != head.Hash {
			return breaks(seq, "row %d does not follow row %d's hash: edited or reordered", seq, seq-1)
		}
		head = ledger.Head{Seq: seq, Hash: hash}
	}
	if err := rows.Err(); err != nil {
		return ledger.Head{}, classify(err, "read the chain since the last anchor")
	}
	if first && from.Seq > 0 {
		return breaks(from.Seq, "the chain ends before row %d, the last anchor: rows were deleted", from.Seq)
	}
	return head, nil
}

// RowHashes reads the stored hashes of the rows at seqs.
func (s *Store) RowHashes(ctx context.Context, seqs []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(seqs))
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), 500)]
		seqs = seqs[len(chunk):]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		q := `SELECT seq, hash FROM audit WHERE seq IN (` + strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + `)`
		rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
		if err != nil {
			return nil, classify(err, "read anchored rows")
		}
		for rows.Next() {
			var seq int64
			var hash string
			if err := rows.Scan(&seq, &hash); err != nil {
				rows.Close()
				return nil, classify(err, "read anchored rows")
			}
			out[seq] = hash
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, classify(err, "read anchored rows")
		}
	}
	return out, nil
}

// planned is the chained entry kind that records the operations the
// planner queued, each under the key opKey(id) with its ledger.DigestOp.
const planned = ledger.KindPlanned

func opKey(id int64) string { return fmt.Sprintf("op.%d", id) }

// Untraced looks for the chain rows that record ops as planned: rows of
// the operations' people, intact in themselves (each hashes to its stored
// hash and claims its seq), whose digest of an operation matches its row
// as it is now. One statement for all of ops.
func (s *Store) Untraced(ctx context.Context, ops []ledger.Operation) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ops) == 0 {
		return out, nil
	}
	var fromOp int64
	if err := s.read.QueryRowContext(ctx, `SELECT from_op FROM chain_tracing WHERE id = 1`).Scan(&fromOp); err != nil {
		return nil, classify(err, "read where the chain's tracing of operations starts")
	}
	var persons []string
	since := time.Time{}
	for _, op := range ops {
		if op.ID < fromOp {
			continue // queued before this ledger chained operations
		}
		if !slices.Contains(persons, op.Person) {
			persons = append(persons, op.Person)
		}
		if since.IsZero() || op.Created.Before(since) {
			since = op.Created
		}
	}
	if len(persons) == 0 {
		return out, nil
	}
	// An operation is chained as it is queued, by an entry no older than
	// the operation: the person's older rows need not be read.
	args := []any{}
	q := `SELECT seq, hash, canonical FROM audit WHERE ` + inList("person", persons, &args) + ` AND at >= ? AND canonical LIKE ? ORDER BY seq`
	args = append(args, ms(since), `%"kind":"`+planned+`"%`)
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read the chain rows of operations")
	}
	defer rows.Close()
	type chainedAt struct {
		digest string
		seq    int64
	}
	found := map[string]chainedAt{}
	for rows.Next() {
		var (
			seq        int64
			hash, text string
		)
		if err := rows.Scan(&seq, &hash, &text); err != nil {
			return nil, classify(err, "read the chain rows of operations")
		}
		var c canon
		if json.Unmarshal([]byte(text), &c) != nil || c.Kind != planned || c.Seq != seq || sha256hex([]byte(text)) != hash {
			continue
		}
		for k, v := range c.Details {
			found[c.Person+"\x00"+k] = chainedAt{digest: v, seq: seq}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "read the chain rows of operations")
	}
	for _, op := range ops {
		if op.ID < fromOp {
			continue
		}
		c, ok := found[op.Person+"\x00"+opKey(op.ID)]
		switch {
		case !ok:
			out[op.ID] = fmt.Sprintf("operation %d is in no chained decision: it was not queued by tilgang", op.ID)
		case c.digest != ledger.DigestOp(op):
			out[op.ID] = fmt.Sprintf("operation %d differs from what chain row %d records (kind, connector, entitlement, grant or person): edited", op.ID, c.seq)
		}
	}
	return out, nil
}
