package sqlledger

import (
	"context"
	"encoding/json"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// hr_snapshots keeps one row per (source, person): the record an HR
// source's sync last sent, as JSON, with its version and digest.

func (s *Store) HRSnapshot(ctx context.Context, source, after string, limit int) ([]ledger.HRSnapshotRow, error) {
	if limit <= 0 || limit > ledger.MaxHRSnapshotPage {
		limit = ledger.MaxHRSnapshotPage
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT source, person, version, digest, present, record, updated
		FROM hr_snapshots WHERE source = ? AND person > ? ORDER BY person LIMIT ?`), source, after, limit)
	if err != nil {
		return nil, classify(err, "read the HR snapshot")
	}
	defer rows.Close()
	var out []ledger.HRSnapshotRow
	for rows.Next() {
		var (
			r       ledger.HRSnapshotRow
			present int
			record  string
			updated int64
		)
		if err := rows.Scan(&r.Source, &r.Person, &r.Version, &r.Digest, &present, &record, &updated); err != nil {
			return nil, classify(err, "read the HR snapshot")
		}
		if err := json.Unmarshal([]byte(record), &r.Record); err != nil {
			return nil, tilgang.Wrap(tilgang.Internal, err, "ledger: HR snapshot %s of %s: record", r.Person, r.Source)
		}
		r.Present, r.Updated = present != 0, fromMS(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "read the HR snapshot")
	}
	return out, nil
}

func (t *tx) PutHRSnapshot(r ledger.HRSnapshotRow) error {
	if r.Source == "" || r.Person == "" {
		return tilgang.Errorf(tilgang.Invalid, "ledger: an HR snapshot row needs a source and a person")
	}
	if r.Digest == "" {
		r.Digest = ledger.DigestPerson(r.Record)
	}
	_, err := t.exec(`INSERT INTO hr_snapshots (source, person, version, digest, present, record, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, person) DO UPDATE SET version = excluded.version, digest = excluded.digest,
		present = excluded.present, record = excluded.record, updated = excluded.updated`,
		r.Source, r.Person, r.Version, r.Digest, b2i(r.Present), mustJSON(r.Record), ms(r.Updated))
	return err
}
