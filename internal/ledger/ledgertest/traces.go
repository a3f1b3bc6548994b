package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// traceTests: the trace context of a message's intake span, by stream
// sequence, and its end at the retention erasure.
var traceTests = []test{
	{"PutAndRead", func(t *testing.T, l ledger.Ledger) {
		w, ok := begin(t, l).(ledger.TraceWriter)
		require.True(t, ok, "the ledger keeps trace contexts")
		r, ok := l.(ledger.TraceReader)
		require.True(t, ok, "the ledger reads trace contexts")
		_ = w.(ledger.Tx).Rollback()

		a := ledger.TraceContext{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "rojo=1"}
		b := ledger.TraceContext{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
		inTx(t, l, func(tx ledger.Tx) {
			tw := tx.(ledger.TraceWriter)
			require.NoError(t, tw.PutTrace(7, a))
			require.NoError(t, tw.PutTrace(9, b))
		})
		got, err := r.Traces(t.Context(), []uint64{7, 8, 9})
		require.NoError(t, err)
		require.Equal(t, map[uint64]ledger.TraceContext{7: a, 9: b}, got, "only the sequences that have one")

		// A redelivered message's intake span replaces the first.
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.(ledger.TraceWriter).PutTrace(7, b)) })
		got, err = r.Traces(t.Context(), []uint64{7})
		require.NoError(t, err)
		require.Equal(t, b, got[7])

		// Rolled back: not kept.
		tx := begin(t, l)
		require.NoError(t, tx.(ledger.TraceWriter).PutTrace(11, a))
		require.NoError(t, tx.Rollback())
		got, err = r.Traces(t.Context(), []uint64{11})
		require.NoError(t, err)
		require.Empty(t, got)

		got, err = r.Traces(t.Context(), nil)
		require.NoError(t, err)
		require.Empty(t, got)
	}},
	{"Invalid", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		defer tx.Rollback()
		err := tx.(ledger.TraceWriter).PutTrace(0, ledger.TraceContext{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
		err = tx.(ledger.TraceWriter).PutTrace(3, ledger.TraceContext{})
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	}},
	{"EraseTraces", func(t *testing.T, l ledger.Ledger) {
		er, ok := l.(ledger.Eraser)
		tr, ok2 := l.(ledger.TraceReader)
		if !ok || !ok2 {
			t.Skip("this backend erases nothing, or keeps no traces")
		}
		ctx := t.Context()
		old, before, recent := t0.AddDate(-6, 0, 0), t0.AddDate(-5, 0, 0), t0.AddDate(-1, 0, 0)
		tc := ledger.TraceContext{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
		queued, done := op("1547-1", "ad", old, 2), op("1547-1", "ad", old, 3)
		queued.State, done.State = ledger.OpWaiting, ledger.OpDone
		inTx(t, l, func(tx ledger.Tx) {
			for seq, at := range map[uint64]time.Time{1: old, 2: old, 3: old, 4: recent} {
				_, err := tx.RecordMessage(ledger.Message{Key: "k" + string(rune('0'+seq)), PayloadHash: "h", Type: "t", Person: "1547-1",
					Actor: "1547-2", Seq: seq, At: at})
				require.NoError(t, err)
				require.NoError(t, tx.(ledger.TraceWriter).PutTrace(seq, tc))
			}
			// A trace of no message this ledger holds (none should be):
			// kept, as nothing says when it was made.
			require.NoError(t, tx.(ledger.TraceWriter).PutTrace(9, tc))
			for _, o := range []ledger.Operation{queued, done} {
				_, err := tx.InsertOperation(o)
				require.NoError(t, err)
			}
		})
		n, err := er.Erase(ctx, before, t0, "1547-7", true)
		require.NoError(t, err)
		require.Equal(t, int64(2), n.Traces, "counted in a dry run")
		got, err := tr.Traces(ctx, []uint64{1, 2, 3, 4, 9})
		require.NoError(t, err)
		require.Len(t, got, 5, "a dry run changes nothing")

		n, err = er.Erase(ctx, before, t0, "1547-7", false)
		require.NoError(t, err)
		require.Equal(t, int64(2), n.Traces)
		got, err = tr.Traces(ctx, []uint64{1, 2, 3, 4, 9})
		require.NoError(t, err)
		require.Equal(t, map[uint64]ledger.TraceContext{2: tc, 4: tc, 9: tc}, got,
			"gone: the old messages' whose operations all ran; kept: one whose task still waits, a recent one")
	}},
}
