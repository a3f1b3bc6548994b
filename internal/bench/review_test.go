package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgerseed"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/review"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// reviewRun seeds a ledger in which gerica holds people/2 active grants
// (ledgerseed gives gerica the first grant of every other person), starts
// a campaign of gerica under reviewers: manager and if_no_response:
// remove, and closes it unanswered: every item is revoked through the
// engine's ordinary path, a batch of 500 a transaction. It returns how
// long the start and the close took.
func reviewRun(tb testing.TB, l ledger.Ledger, people int) (items int, start, close time.Duration, revoked int) {
	ctx := context.Background()
	w, err := ledgerseed.Seed(ctx, l, ledgerseed.Options{People: people, Grants: people, Systems: 5})
	if err != nil {
		tb.Fatal(err)
	}
	files := fstest.MapFS{}
	for name, b := range w.Files {
		if name == "gerica.yaml" {
			b = append(append([]byte{}, b...), "review: {reviewers: manager, if_no_response: remove}\n"...)
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	cat, err := policy.LoadFS(files, []string{"manual"})
	if err != nil {
		tb.Fatal(err)
	}
	ps, err := principals.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	conns := connectors.Set{"manual": manual.Connector{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &review.Runner{Ledger: l, Engine: engine.New(cat, ps, conns, time.Now, log), Connectors: conns, Log: log}
	t0 := time.Now()
	st, err := r.Start(ctx, "gerica", "1547-100001")
	if err != nil {
		tb.Fatal(err)
	}
	start = time.Since(t0)
	t0 = time.Now()
	out, err := r.Close(ctx, st.CampaignID, "1547-100001")
	if err != nil {
		tb.Fatal(err)
	}
	close = time.Since(t0)
	if out.State != ledger.CampaignClosed {
		tb.Fatalf("the campaign is %s after its close", out.State)
	}
	return st.Items, start, close, out.Revoked
}

// BenchmarkReview creates and closes a campaign of 50,000 items (all
// unanswered under if_no_response: remove, so each is revoked), on SQLite
// and PostgreSQL:
//
//	go test -run '^$' -bench Review -benchtime 1x ./internal/bench
//
// TILGANG_BENCH_REVIEW_ITEMS sets another number of items.
func BenchmarkReview(b *testing.B) {
	items := 50_000
	if s := os.Getenv("TILGANG_BENCH_REVIEW_ITEMS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("TILGANG_BENCH_REVIEW_ITEMS=%q: want a positive number of items", s)
		}
		items = n
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ctx := context.Background()
				var (
					l   ledger.Ledger
					err error
				)
				if backend == "postgres" {
					l, err = sqlledger.OpenPostgres(ctx, pgtest.Schema(b), 8)
				} else {
					l, err = sqlledger.OpenSQLite(ctx, filepath.Join(b.TempDir(), "ledger.db"))
				}
				if err != nil {
					b.Fatal(err)
				}
				items, start, close, revoked := reviewRun(b, l, 2*items)
				l.Close()
				b.Logf("%s: %d items: started in %s, closed in %s (%d revoked)", backend, items, start.Round(time.Millisecond),
					close.Round(time.Millisecond), revoked)
				b.ReportMetric(start.Seconds(), "start_s")
				b.ReportMetric(close.Seconds(), "close_s")
				b.ReportMetric(float64(items)/close.Seconds(), "closed_items/s")
			}
		})
	}
}

// TestReviewSmall runs the benchmark's path on 200 items, so it is tested
// with the suite.
func TestReviewSmall(t *testing.T) {
	l, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	items, _, _, revoked := reviewRun(t, l, 400)
	if items != 200 || revoked != 200 {
		t.Fatalf("%d items, %d revoked; want 200 and 200", items, revoked)
	}
	gs, err := l.SystemGrants(context.Background(), ledger.SystemGrantFilter{System: "gerica", States: []tilgang.GrantState{tilgang.StateActive}})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 0 {
		t.Fatalf("%d gerica grants still active after the close", len(gs))
	}
}
