package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// addAudit appends n rows after the fixture's six: every third about Bob,
// the others about Åse in gerica; text(i), when not "", is row i's text.
// It returns the seqs of the rows Åse may see, in order.
func (f *fixture) addAudit(t *testing.T, n int, text func(i int) string) (aseSees []int64) {
	t.Helper()
	tx, err := f.store.Begin(context.Background())
	require.NoError(t, err)
	now := time.Now()
	for i := range n {
		e := ledger.AuditEntry{At: now, Kind: "grant.state", Person: ase, System: "gerica", GrantID: "g-ase", To: "active", Text: text(i)}
		if i%3 == 0 {
			e.Person, e.System, e.GrantID = bob, "public360", "g-bob"
		}
		tx.Audit(e)
	}
	require.NoError(t, tx.Commit())
	aseSees = []int64{1, 4} // the fixture's: her grant's row and its operation's
	for i := range n {
		if i%3 != 0 {
			aseSees = append(aseSees, int64(7+i))
		}
	}
	return aseSees
}

// pages walks audit page by page as actor, checking each page's bounds,
// and returns the seqs in the order read and the number of pages.
func (f *fixture) pages(t *testing.T, actor string, args AuditArgs) (seqs []int64, pages int) {
	t.Helper()
	after := int64(0)
	for {
		args.After = &after
		var p AuditPage
		require.NoError(t, f.client(actor, "").Call(context.Background(), MethodAudit, args, &p))
		pages++
		require.NotNil(t, p.Rows, "rows is a list, [] when empty")
		limit := args.Limit
		if limit == 0 {
			limit = MaxAuditRows
		}
		require.LessOrEqual(t, len(p.Rows), limit)
		b, err := json.Marshal(p.Rows)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), MaxAuditBytes, "page %d", pages)
		for _, r := range p.Rows {
			seqs = append(seqs, r.Seq)
		}
		if p.Next == 0 {
			return seqs, pages
		}
		require.Greater(t, p.Next, after)
		after = p.Next
	}
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestAuditPages(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	const n = 2*MaxAuditRows + 300
	aseSees := f.addAudit(t, n, func(i int) string {
		if i%7 == 0 {
			return "grunngjeving " + strings.Repeat("æ", i%50)
		}
		return ""
	})
	total := int64(6 + n)

	t.Run("an auditor pages through the whole chain", func(t *testing.T) {
		seqs, pages := f.pages(t, revisor, AuditArgs{})
		require.Equal(t, seqRange(1, total), seqs)
		require.GreaterOrEqual(t, pages, 3)
	})
	t.Run("small pages", func(t *testing.T) {
		seqs, pages := f.pages(t, revisor, AuditArgs{Limit: 250})
		require.Equal(t, seqRange(1, total), seqs)
		require.GreaterOrEqual(t, pages, int(total/250))
	})
	t.Run("filters apply on every page", func(t *testing.T) {
		seqs, _ := f.pages(t, revisor, AuditArgs{Person: ase, Limit: 400})
		require.Equal(t, aseSees, seqs)
	})
	t.Run("visibility applies on every page", func(t *testing.T) {
		seqs, pages := f.pages(t, ase, AuditArgs{Limit: 300})
		require.Equal(t, aseSees, seqs)
		require.Greater(t, pages, 1)
	})
	t.Run("texts come along", func(t *testing.T) {
		var got []AuditRow
		require.NoError(t, f.client(revisor, "").Audit(ctx, AuditArgs{Person: bob}, func(rows []AuditRow) error {
			got = append(got, rows...)
			return nil
		}))
		require.Equal(t, int64(7), got[2].Seq, "Bob's two fixture rows, then the first added")
		require.Equal(t, "grunngjeving ", got[2].Text)
	})
	t.Run("a call without after gets the first page as a list", func(t *testing.T) {
		var rows []AuditRow
		require.NoError(t, f.client(revisor, "").Call(ctx, MethodAudit, AuditArgs{}, &rows))
		require.Equal(t, MaxAuditRows, len(rows))
		require.Equal(t, int64(1), rows[0].Seq)
		require.Equal(t, int64(MaxAuditRows), rows[len(rows)-1].Seq)
	})
	t.Run("after a seq", func(t *testing.T) {
		after := total - 2
		var p AuditPage
		require.NoError(t, f.client(revisor, "").Call(ctx, MethodAudit, AuditArgs{After: &after}, &p))
		require.Len(t, p.Rows, 2)
		require.Equal(t, total, p.Rows[1].Seq)
		require.Zero(t, p.Next)
	})
	for _, tc := range []struct {
		name string
		args AuditArgs
		msg  string
	}{
		{"negative limit", AuditArgs{Limit: -1}, "limit -1 must be 1..1000"},
		{"limit over a page", AuditArgs{Limit: MaxAuditRows + 1}, "limit 1001 must be 1..1000"},
		{"negative after", AuditArgs{After: new(int64(-3))}, "after -3 must be a seq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client(revisor, "").Call(ctx, MethodAudit, tc.args, nil)
			require.Equal(t, tilgang.Invalid, kindOf(err))
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestAuditPageBytes: whatever the free texts, a page stays under
// MaxAuditBytes (so under NATS's max payload) and the pages still add up.
func TestAuditPageBytes(t *testing.T) {
	f := newFixture(t, nil)
	const n = 60
	long := strings.Repeat("lang grunngjeving <med> \"teikn\" ", 2000) // 64 KB, more when escaped
	f.addAudit(t, n, func(int) string { return long })
	seqs, pages := f.pages(t, revisor, AuditArgs{})
	require.Equal(t, seqRange(1, 6+n), seqs)
	require.GreaterOrEqual(t, pages, 4, "60 rows of 64 KB and more do not fit in 512 KB")
}

// TestAuditClientWithAnOldWorker: a worker from before paging refuses
// after; Client.Audit then asks once without it and gets every row.
func TestAuditClientWithAnOldWorker(t *testing.T) {
	nc := startNATS(t, nil)
	var (
		mu    sync.Mutex
		asked []string
	)
	sub, err := nc.Subscribe(streams.APIPrefix+MethodAudit, func(m *nats.Msg) {
		var req Request
		_ = json.Unmarshal(m.Data, &req)
		mu.Lock()
		asked = append(asked, string(req.Args))
		mu.Unlock()
		var a struct {
			Person string `json:"person"`
		}
		resp := Response{OK: true, Result: json.RawMessage(`[{"seq":1,"kind":"grant.state"},{"seq":2,"kind":"grant.state"}]`)}
		if err := decodeArgs(req.Args, &a); err != nil { // the old AuditArgs: no after, no limit
			resp = Response{Error: &ErrorBody{Kind: tilgang.Invalid, Message: err.Error()}}
		}
		b, _ := json.Marshal(resp)
		_ = m.Respond(b)
	})
	require.NoError(t, err)
	t.Cleanup(func() { sub.Unsubscribe() })
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	c := &Client{NC: nc, Key: kp, Actor: revisor, Timeout: 5 * time.Second}
	var got []int64
	require.NoError(t, c.Audit(context.Background(), AuditArgs{Person: ase}, func(rows []AuditRow) error {
		for _, r := range rows {
			got = append(got, r.Seq)
		}
		return nil
	}))
	require.Equal(t, []int64{1, 2}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{`{"person":"` + ase + `","after":0}`, `{"person":"` + ase + `"}`}, asked)
}
