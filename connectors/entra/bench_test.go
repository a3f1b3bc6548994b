package entra

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/graphemu"
)

// BenchmarkMemberAdds is 5,000 membership adds to one group under an
// emulated budget of 2,000 requests per 10 s, one by one (16 in flight) and
// with members@odata.bind (20 a request). It reports adds/s, requests/s of the budget used
// by requests that added, the requests refused with 429, and checks that every add happened exactly once.
// Run with -bench MemberAdds -benchtime 1x (the single variant takes about 25 s).
func BenchmarkMemberAdds(b *testing.B) {
	const n, budget, window = 5000, 2000, 10 * time.Second
	for _, mode := range []string{"single", "bind"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				e := newEnv(b, graphemu.Faults{Budget: budget, Window: window}, func(c *Config) {
					c.Concurrency = 16
					c.MaxRetries = 20
					c.MaxRetryWait = 15 * time.Second
				})
				g := e.emu.AddGroup("Bench", false)
				accounts := make([]connectors.Account, n)
				for i := range accounts {
					id := e.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("b%d@ror.test", i)})
					accounts[i] = connectors.Account{Person: person("B", fmt.Sprint(i)), Ref: connectors.Ref{RefID: id}}
				}
				ctx := b.Context()
				_, err := e.c.group(ctx, g)
				require.NoError(b, err)
				before := e.emu.Requests()
				start := time.Now()
				switch mode {
				case "single":
					var wg sync.WaitGroup
					errs := make(chan error, n)
					work := make(chan connectors.Account)
					for range 16 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for a := range work {
								errs <- e.c.Grant(ctx, a, g)
							}
						}()
					}
					for _, a := range accounts {
						work <- a
					}
					close(work)
					wg.Wait()
					close(errs)
					for err := range errs {
						require.NoError(b, err)
					}
				case "bind":
					for _, err := range e.c.GrantMany(ctx, accounts, g) {
						require.NoError(b, err)
					}
				}
				el := time.Since(start)
				require.Len(b, e.emu.Members(g), n)
				require.Equal(b, n, e.count("member.add"))
				e.exactlyOnce(b)
				useful := n // requests that did an add
				if mode == "bind" {
					useful = (n + maxBatch - 1) / maxBatch
				}
				b.ReportMetric(float64(n)/el.Seconds(), "adds/s")
				b.ReportMetric(float64(useful)/el.Seconds()/(budget/window.Seconds()), "budget-used")
				b.ReportMetric(float64(e.emu.Requests()-before-useful), "refused")
				b.ReportMetric(el.Seconds(), "s")
			}
		})
	}
}
