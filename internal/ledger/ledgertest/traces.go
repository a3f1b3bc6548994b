package ledgertest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// traceTests: the trace context of a message's intake span, by stream
// sequence.
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
}
