package ad

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// BenchmarkReconcile reads 5,000 accounts (TILGANG_AD_RECONCILE_N changes
// it) and a group holding all of them from the Samba DC and compares them
// with a ledger view in which 1 % drifted (members no grant explains), then,
// in the same run, reads the same objects with a plain go-ldap paged search
// and ranged member reads as the baseline. The accounts live in an OU of
// their own (the connector's base_dn for the run), made before the timer
// starts and deleted after; the connector's pool holds a bound connection
// before the timer starts, as the baseline's does. Reports both times,
// their ratio and the peak heap sampled during the reconciliation.
// Run: go test -run '^$' -bench Reconcile -benchtime 1x -timeout 30m ./connectors/ad
func BenchmarkReconcile(b *testing.B) {
	n := 5000
	if v := os.Getenv("TILGANG_AD_RECONCILE_N"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	const workers = 4
	conn, err := dialRetry(b)
	require.NoError(b, err)
	b.Cleanup(func() { conn.Close() })
	ou := "OU=RekBench" + runID + ",OU=ROR," + baseDN(b)
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"top", "organizationalUnit"})
	require.NoError(b, conn.Add(add))
	// Before anything is made in the OU, so a run that fails halfway
	// leaves nothing behind.
	dns := make([]string, n)
	group := "CN=RekBench-G," + ou
	b.Cleanup(func() {
		l, err := dialRetry(b)
		if err != nil {
			b.Logf("cannot reach the DC to delete %s: %v", ou, err)
			return
		}
		defer l.Close()
		// The whole OU in one request (the tree delete control, which
		// Samba honours), so thousands of accounts go without thousands of
		// round trips; object by object if the DC refuses it.
		t0 := time.Now()
		treeDelete := ldap.NewControlString("1.2.840.113556.1.4.805", true, "")
		if err = l.Del(ldap.NewDelRequest(ou, []ldap.Control{treeDelete})); err == nil {
			b.Logf("deleted the OU and its %d accounts in %s", n, time.Since(t0).Round(time.Second))
			return
		}
		b.Logf("tree delete refused (%v); deleting one by one", err)
		_ = l.Del(ldap.NewDelRequest(group, nil))
		for _, dn := range dns {
			if dn != "" {
				_ = l.Del(ldap.NewDelRequest(dn, nil))
			}
		}
		_ = l.Del(ldap.NewDelRequest(ou, nil))
	})
	g := ldap.NewAddRequest(group, nil)
	g.Attribute("objectClass", []string{"top", "group"})
	g.Attribute("sAMAccountName", []string{"RekBenchG" + runID})
	require.NoError(b, conn.Add(g))

	// n users, four connections at a time; then all of them into the group.
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := dialRetry(b)
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
				return
			}
			defer l.Close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				dn := fmt.Sprintf("CN=rb%s-%05d,%s", runID, i, ou)
				req := ldap.NewAddRequest(dn, nil)
				req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
				req.Attribute("sAMAccountName", []string{fmt.Sprintf("rb%s%05d", runID, i)})
				req.Attribute("employeeID", []string{fmt.Sprintf("rb-%05d", i)})
				if err := l.Add(req); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				dns[i] = dn
			}
		}()
	}
	wg.Wait()
	require.NoError(b, first)
	b.Logf("made %d accounts in %s", n, time.Since(start).Round(time.Second))
	for i := 0; i < n; i += 500 {
		m := ldap.NewModifyRequest(group, nil)
		m.Add("member", dns[i:min(i+500, n)])
		require.NoError(b, conn.Modify(m))
	}
	b.Logf("made %d accounts and the group in %s", n, time.Since(start).Round(time.Second))

	c := openTest(b, func(cfg *Config) { cfg.BaseDN = ou; cfg.PageSize = 1000; cfg.RangeSize = 1500 })
	d := reconcile.Desired{Connector: "ad", Entitlements: []string{group}, Holders: map[string]*reconcile.Holder{}}
	drift := n / 100
	for i := 0; i < n; i++ {
		h := &reconcile.Holder{Known: true, HasAccount: true, Enabled: false, Grants: map[string]string{}, Active: map[string]bool{}}
		if i >= drift {
			h.Grants[group], h.Active[group] = "g", true
		}
		d.Holders[fmt.Sprintf("rb-%05d", i)] = h
	}
	ctx := context.Background()
	// A connection in the pool first, as the baseline's is bound already.
	require.NoError(b, c.EachMember(ctx, group, func(connectors.Member) error { return nil }))
	var recon, plain time.Duration
	var peak uint64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		// The baseline before and after, so neither side alone has the
		// DC's caches cold.
		before := plainRead(b, conn, ou, group, n)
		runtime.GC()
		stop := make(chan struct{})
		sampled := make(chan uint64)
		go func() {
			var m runtime.MemStats
			var top uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&m)
				top = max(top, m.HeapAlloc)
				select {
				case <-stop:
					sampled <- top
					return
				case <-t.C:
				}
			}
		}()
		t0 := time.Now()
		rep, err := reconcile.Compare(ctx, "bench", c, d, reconcile.DefaultSettings)
		recon = time.Since(t0)
		close(stop)
		peak = max(peak, <-sampled)
		require.NoError(b, err)
		require.Equal(b, reconcile.Read{Accounts: n, Members: n}, rep.Read)
		require.Equal(b, drift, rep.Counts[reconcile.Extra], "1 %% drift found")
		require.Equal(b, 0, rep.Counts[reconcile.State]+rep.Counts[reconcile.Missing]+rep.Counts[reconcile.Orphan]+rep.Counts[reconcile.Disputed],
			"nothing else: %v", rep.Counts)
		after := plainRead(b, conn, ou, group, n)
		plain = (before + after) / 2
		b.Logf("plain read before %s, reconcile %s, plain read after %s", before.Round(time.Millisecond),
			recon.Round(time.Millisecond), after.Round(time.Millisecond))
	}
	b.StopTimer()
	b.ReportMetric(recon.Seconds(), "reconcile-s")
	b.ReportMetric(plain.Seconds(), "plain-read-s")
	b.ReportMetric(recon.Seconds()/plain.Seconds(), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(0, "ns/op")
}

// plainRead is the baseline: the objects EachAccount and EachMember read,
// with plain go-ldap (a paged search of the same attributes, ranged member
// reads), on an already bound connection.
func plainRead(b *testing.B, conn *ldap.Conn, ou, group string, n int) time.Duration {
	t0 := time.Now()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=user)(!(objectClass=computer))(employeeID=*))",
		[]string{"employeeID", "sAMAccountName", "userPrincipalName", "objectGUID", "userAccountControl", "lastLogonTimestamp"}, nil), 1000)
	require.NoError(b, err)
	require.Len(b, res.Entries, n)
	members := 0
	for low := 0; ; {
		r, err := conn.Search(ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{fmt.Sprintf("member;range=%d-%d", low, low+1499)}, nil))
		require.NoError(b, err)
		done := true
		for _, at := range r.Entries[0].Attributes {
			if strings.HasPrefix(strings.ToLower(at.Name), "member") {
				members += len(at.Values)
				done = strings.HasSuffix(at.Name, "-*") || at.Name == "member"
			}
		}
		if done {
			break
		}
		low += 1500
	}
	d := time.Since(t0)
	require.Equal(b, n, members)
	return d
}

// dialRetry opens an admin connection from a goroutine (no require there),
// trying again while a loaded DC drops the handshake.
func dialRetry(b *testing.B) (*ldap.Conn, error) {
	c, err := Open("ad-bench", testConfig(b), nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for try := 0; ; try++ {
		conn, err := c.pool.dial(context.Background())
		if err == nil || try == 5 {
			return conn, err
		}
		time.Sleep(time.Second)
	}
}
