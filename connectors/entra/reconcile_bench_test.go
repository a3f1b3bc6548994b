package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/graphemu"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// heapPeak samples the heap's object bytes (runtime/metrics, live and not
// yet swept) every millisecond until stop, and returns the highest seen.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		read()
		return peak.Load()
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapNow() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// plainRead pages through the same listings as a reconciliation read with
// net/http and encoding/json alone (no SDK, no comparison): the floor a
// reconciliation run is measured against.
func plainRead(b *testing.B, e *env, groups []string) (accounts, members int) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {testSecret},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := http.PostForm(e.srv.URL+"/t/oauth2/v2.0/token", form)
	require.NoError(b, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	get := func(u string, n *int) {
		for u != "" {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("ConsistencyLevel", "eventual")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(b, err)
			var page struct {
				Value []struct {
					ID             string `json:"id"`
					UPN            string `json:"userPrincipalName"`
					EmployeeID     string `json:"employeeId"`
					AccountEnabled bool   `json:"accountEnabled"`
				} `json:"value"`
				Next string `json:"@odata.nextLink"`
			}
			require.Equal(b, 200, resp.StatusCode)
			require.NoError(b, json.NewDecoder(resp.Body).Decode(&page))
			resp.Body.Close()
			*n += len(page.Value)
			u = page.Next
		}
	}
	base := e.srv.URL + "/v1.0"
	get(base+"/users?"+url.Values{"$filter": {"employeeId ne null"}, "$count": {"true"}, "$select": {accountSelect}, "$top": {"999"}}.Encode(), &accounts)
	for _, g := range groups {
		get(base+"/groups/"+g+"/members?"+url.Values{"$select": {"id,userPrincipalName,employeeId"}, "$count": {"true"}, "$top": {"999"}}.Encode(), &members)
	}
	return accounts, members
}

// BenchmarkReconcile50k reconciles 50,000 accounts and 200 entitlement
// groups (two groups a person, 100,000 memberships) with 1 % drift (150
// extra and 150 missing members, 100 accounts disabled out of band, 50
// orphans (left, their memberships removed, the account enabled), 50
// second accounts) in the emulator, dry run, and in the same
// run times a plain paged read of the same listings (net/http and
// encoding/json only). It reports wall and CPU seconds of both (CPU: the
// whole process, the emulator's serving included), the peak heap during
// the run (all of the process, the emulator's 50,000 users included) and
// the peak above the heap held before it (the ledger's side, the read and
// the comparison, and the emulator's answers being encoded).
// Run with -bench Reconcile50k -benchtime 1x.
func BenchmarkReconcile50k(b *testing.B) {
	const people, nEnts, drift = 50000, 200, 500
	for range b.N {
		b.StopTimer()
		e := newEnv(b, graphemu.Faults{}, nil)
		ents := make([]string, nEnts)
		gids := make([]string, nEnts)
		for i := range ents {
			ents[i] = fmt.Sprintf("ent-%03d", i)
			gids[i] = e.emu.AddGroup(ents[i], false)
		}
		type person struct {
			id, emp string
			ents    [2]int
		}
		ps := make([]person, people)
		for i := range ps {
			emp := fmt.Sprintf("p%06d", i)
			id := e.emu.AddUser(map[string]any{"userPrincipalName": emp + "@ror.test", "employeeId": emp, "accountEnabled": true})
			ps[i] = person{id: id, emp: emp, ents: [2]int{i % nEnts, (i*7 + 3) % nEnts}}
		}
		for g := range nEnts {
			var ids []string
			for _, p := range ps {
				if p.ents[0] == g || p.ents[1] == g {
					ids = append(ids, p.id)
				}
			}
			e.emu.AddMembersDirect(gids[g], ids...)
		}
		// Drift, 500 in all, each on its own person.
		for i := range 150 { // extra: a group the person has no grant of
			p := ps[i*3]
			g := (p.ents[0] + 1) % nEnts
			if g == p.ents[1] {
				g = (g + 1) % nEnts
			}
			e.emu.AddMembersDirect(gids[g], p.id)
		}
		for i := range 150 { // missing
			p := ps[i*3+1]
			e.emu.RemoveMembersDirect(gids[p.ents[0]], p.id)
		}
		for i := range 100 { // state
			e.emu.SetUser(ps[1000+i].id, map[string]any{"accountEnabled": false})
		}
		left := map[string]bool{}
		for i := range 50 { // orphans: left, memberships gone, the account enabled again
			p := ps[2000+i]
			left[p.emp] = true
			for _, g := range p.ents {
				e.emu.RemoveMembersDirect(gids[g], p.id)
			}
		}
		for i := range 50 { // disputed
			emp := ps[3000+i].emp
			e.emu.AddUser(map[string]any{"userPrincipalName": emp + ".2@ror.test", "employeeId": emp})
		}

		base := heapNow()
		peak := heapPeak()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		d := reconcile.Desired{Connector: "entra", Entitlements: ents, Holders: make(map[string]*reconcile.Holder, people)}
		for _, p := range ps {
			h := &reconcile.Holder{Known: true, HasAccount: true, Enabled: true, Ref: connectors.Ref{RefID: p.id},
				Grants: map[string]string{}, Active: map[string]bool{}}
			if left[p.emp] {
				h.Left, h.Enabled = true, false
			} else {
				for _, g := range p.ents {
					h.Grants[ents[g]] = "g-" + p.emp + "-" + ents[g]
					h.Active[ents[g]] = true
				}
			}
			d.Holders[p.emp] = h
		}
		rep, err := reconcile.Compare(b.Context(), "bench", e.c, d, reconcile.DefaultSettings)
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		top := peak()
		require.NoError(b, err)
		require.Equal(b, people+50, rep.Read.Accounts)
		require.Equal(b, 2*people-100, rep.Read.Members)
		require.Len(b, rep.Findings, drift, "%v", rep.Counts)
		require.Equal(b, map[reconcile.Kind]int{reconcile.Extra: 150, reconcile.Missing: 150, reconcile.State: 100,
			reconcile.Orphan: 50, reconcile.Disputed: 50}, rep.Counts)
		rep = reconcile.Report{}
		d = reconcile.Desired{}

		start, cpu0 = time.Now(), cpuTime()
		accounts, members := plainRead(b, e, gids)
		plain, plainCPU := time.Since(start), cpuTime()-cpu0
		require.Equal(b, people+50, accounts)
		require.Equal(b, 2*people-100, members)

		b.ReportMetric(el.Seconds(), "reconcile-s")
		b.ReportMetric(plain.Seconds(), "plain-read-s")
		b.ReportMetric(cpu.Seconds(), "reconcile-cpu-s")
		b.ReportMetric(plainCPU.Seconds(), "plain-read-cpu-s")
		b.ReportMetric(float64(top)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(top-min(top, base))/(1<<20), "peak-above-base-MiB")
		b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
		b.StartTimer()
	}
}
