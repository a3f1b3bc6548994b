package ad

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// BenchmarkEnsureAccount creates b.N accounts with passwords through the
// connector (Resolve, then EnsureAccount), one at a time as the executor
// calls it per person. Run: go test -run '^$' -bench EnsureAccount -benchtime 100x ./connectors/ad
func BenchmarkEnsureAccount(b *testing.B) {
	c := openTest(b, nil)
	cleanupRun(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// Names that differ in the letters the pattern takes.
		given := string([]byte{'A' + byte(i%26), 'a' + byte(i/26%26), 'a' + byte(i/676%26)})
		p := person(given, "Benk", "1539")
		ref, err := c.Resolve(ctx, p, nil)
		require.NoError(b, err)
		_, cred, err := c.EnsureAccount(ctx, connectors.Account{Person: p, Ref: ref})
		require.NoError(b, err)
		require.NotNil(b, cred)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accounts/s")
}

// BenchmarkMemberships: 2,000 membership adds (50 users x 40 groups)
// through the connector's Grant, and in the same run the same adds as a
// plain go-ldap loop (one modify each) with the same concurrency, as the
// baseline. Reports both rates and their ratio.
// Run: go test -run '^$' -bench Memberships -benchtime 1x ./connectors/ad
func BenchmarkMemberships(b *testing.B) {
	const users, groups, workers = 50, 40, 4
	c := openTest(b, func(cfg *Config) { cfg.PoolSize = workers })
	conn := admin(b)
	ctx := context.Background()
	var accts []connectors.Account
	for i := range users {
		dn := fmt.Sprintf("CN=tilgang-bench-%02d,OU=1506,OU=ROR,%s", i, baseDN(b))
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{fmt.Sprintf("tbench%02d", i)})
		req.Attribute("employeeID", []string{fmt.Sprintf("tbench-%02d", i)})
		if err := conn.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			require.NoError(b, err)
		}
		e := entry(b, conn, dn, "objectGUID", "sAMAccountName")
		accts = append(accts, connectors.Account{Person: tilgang.Person{ID: fmt.Sprintf("tbench-%02d", i)},
			Ref: connectors.Ref{RefDN: dn, RefSAM: e.GetAttributeValue("sAMAccountName"), RefGUID: hex.EncodeToString(e.GetRawAttributeValue("objectGUID"))}})
	}
	type job struct {
		a     connectors.Account
		group string
	}
	run := func(n int, do func(j job) error, gs []string) time.Duration {
		jobs := make(chan job)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if err := do(j); err != nil {
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
					}
				}
			}()
		}
		for _, g := range gs {
			for _, a := range accts {
				jobs <- job{a, g}
			}
		}
		close(jobs)
		wg.Wait()
		require.NoError(b, first)
		return time.Since(start)
	}
	// Plain connections for the baseline, bound like the connector's.
	plain := make(chan *ldap.Conn, workers)
	for range workers {
		plain <- admin(b)
	}
	var connRate, plainRate float64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		var ga, gb []string
		for g := range groups {
			ga = append(ga, makeGroup(b, conn, fmt.Sprintf("tilgang-bench-c%d-%d-%s", it, g, runID)))
			gb = append(gb, makeGroup(b, conn, fmt.Sprintf("tilgang-bench-p%d-%d-%s", it, g, runID)))
		}
		b.StartTimer()
		dc := run(users*groups, func(j job) error { return c.Grant(ctx, j.a, j.group) }, ga)
		dp := run(users*groups, func(j job) error {
			l := <-plain
			defer func() { plain <- l }()
			m := ldap.NewModifyRequest(j.group, nil)
			m.Add("member", []string{j.a.Ref[RefDN]})
			return l.Modify(m)
		}, gb)
		b.StopTimer()
		connRate = users * groups / dc.Seconds()
		plainRate = users * groups / dp.Seconds()
		for _, g := range append(ga, gb...) {
			require.NoError(b, conn.Del(ldap.NewDelRequest(g, nil)))
		}
		b.StartTimer()
	}
	b.ReportMetric(connRate, "grants/s")
	b.ReportMetric(plainRate, "plain/s")
	b.ReportMetric(connRate/plainRate, "ratio")
	b.ReportMetric(0, "ns/op")
}
