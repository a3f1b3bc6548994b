package bench

import (
	"context"
	"testing"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
)

// BenchmarkRegister measures the access register on the portal's ledger
// (10,000 people, 50,000 grants; gerica, the biggest system, holds about
// one grant in ten), on SQLite and on PostgreSQL, through the real API
// server over an embedded NATS server and, for the page, the portal's
// real handler: one page of 1,000 entries of gerica now and for a date (as
// the CLI's and the portal's CSV read it), a person's register, and the
// portal's register page (100 entries). p50 and p99 in milliseconds:
//
//	go test -run '^$' -bench Register -benchtime 100x ./internal/bench
func BenchmarkRegister(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			l, w := seedPortal(b, backend)
			pb := startPortal(b, l, w)
			admin := w.Admins["gerica"][0]
			today := tilgang.DateOf(time.Now()).String()
			var p api.AccessPage
			if err := pb.client(admin).Call(ctx, api.MethodReportAccess, api.AccessArgs{System: "gerica"}, &p); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: gerica's register's first page holds %d entries (next %q)", backend, len(p.Entries), p.Next)
			person := w.People[1]
			b.Run("system-api-1000", func(b *testing.B) {
				pb.measureCall(b, admin, api.MethodReportAccess, api.AccessArgs{System: "gerica", Limit: 1000})
			})
			b.Run("system-date-api-1000", func(b *testing.B) {
				pb.measureCall(b, admin, api.MethodReportAccess, api.AccessArgs{System: "gerica", At: today, Limit: 1000})
			})
			b.Run("person-api", func(b *testing.B) {
				pb.measureCall(b, w.Manager[person], api.MethodReportAccess, api.AccessArgs{Person: person})
			})
			b.Run("system-page", func(b *testing.B) {
				pb.measure(b, admin, func(int) string { return "/systems/gerica/register" })
			})
		})
	}
}
