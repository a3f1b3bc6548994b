package sqlledger

import (
	"context"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// traces keeps, by stream sequence, the trace context of each message's
// intake span (only when the worker exports traces).

func (t *tx) PutTrace(seq uint64, tc ledger.TraceContext) error {
	if seq == 0 || tc.TraceParent == "" {
		return tilgang.Errorf(tilgang.Invalid, "ledger: a trace needs a stream sequence and a traceparent")
	}
	_, err := t.exec(`INSERT INTO traces (seq, traceparent, tracestate) VALUES (?, ?, ?)
		ON CONFLICT (seq) DO UPDATE SET traceparent = excluded.traceparent, tracestate = excluded.tracestate`,
		int64(seq), tc.TraceParent, tc.TraceState)
	return err
}

func (s *Store) Traces(ctx context.Context, seqs []uint64) (map[uint64]ledger.TraceContext, error) {
	out := map[uint64]ledger.TraceContext{}
	if len(seqs) == 0 {
		return out, nil
	}
	args := make([]any, len(seqs))
	for i, q := range seqs {
		args[i] = int64(q)
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT seq, traceparent, tracestate FROM traces WHERE seq IN (?`+
		strings.Repeat(", ?", len(seqs)-1)+`)`), args...)
	if err != nil {
		return nil, classify(err, "read traces")
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var tc ledger.TraceContext
		if err := rows.Scan(&seq, &tc.TraceParent, &tc.TraceState); err != nil {
			return nil, classify(err, "read traces")
		}
		out[uint64(seq)] = tc
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "read traces")
	}
	return out, nil
}

var (
	_ ledger.TraceWriter = (*tx)(nil)
	_ ledger.TraceReader = (*Store)(nil)
)
