package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/testenv/mailtest"
)

// BenchmarkNotify: b.N approval.pending events, each to its own approver,
// read into mails (Read) and then handed one at a time to a real mailpit
// (Send); the figures are per mail.
func BenchmarkNotify(b *testing.B) {
	mp := mailtest.Start(b)
	ps := people()
	for i := 0; i < 200; i++ {
		p := ps[0]
		p.ID = fmt.Sprintf("1547-9%03d", i)
		p.Email = p.ID + "@aukra.kommune.no"
		ps = append(ps, p)
	}
	w := newWorld(b, mp.SMTP, ps)
	var evs []ledger.Event
	for i := 0; i < b.N; i++ {
		evs = append(evs, ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": fmt.Sprint("g", i),
			"system": "kasse", "role": "leder", "stage": 1, "stages": 2, "approvers": []string{fmt.Sprintf("1547-9%03d", i%200)}}})
	}
	for len(evs) > 0 {
		n := min(len(evs), 500)
		w.emit(evs[:n]...)
		evs = evs[n:]
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for {
		n, err := w.n.Read(ctx)
		require.NoError(b, err)
		if n == 0 {
			break
		}
	}
	read := time.Since(start)
	for {
		n, err := w.n.Send(ctx)
		require.NoError(b, err)
		if n == 0 {
			break
		}
	}
	b.StopTimer()
	sent := time.Since(start) - read
	b.ReportMetric(float64(read.Microseconds())/float64(b.N), "µs-read/mail")
	b.ReportMetric(float64(sent.Microseconds())/float64(b.N), "µs-send/mail")
}
