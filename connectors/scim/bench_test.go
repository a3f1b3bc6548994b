package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
)

// BenchmarkMembershipChanges: 1,000 membership changes (500 grants, then
// their 500 revokes; 100 users over 10 groups) through the connector, and
// in the same run a plain HTTP loop with the same concurrency sending the
// same requests the connector sends (a read of the group, then the PATCH).
//
//	go test ./connectors/scim -run '^$' -bench MembershipChanges -benchtime 1x
func BenchmarkMembershipChanges(b *testing.B) {
	const users, groups, perUser, workers = 100, 10, 5, 8
	adm := newAdmin(b)
	c := openTest(b, "", func(c *Config) { c.RateLimit.Concurrency = workers })
	type change struct {
		a     connectors.Account
		group string
		gid   string
		add   bool
	}
	setup := func() (grants, revokes []change) {
		var names, ids []string
		for g := 0; g < groups; g++ {
			n, id := adm.makeGroup(fmt.Sprintf("BENCH-%d", g))
			names, ids = append(names, n), append(ids, id)
		}
		for u := 0; u < users; u++ {
			p := person("Bench", fmt.Sprint(u))
			ref, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p})
			require.NoError(b, err)
			for k := 0; k < perUser; k++ {
				g := (u + k) % groups
				grants = append(grants, change{connectors.Account{Person: p, Ref: ref}, names[g], ids[g], true})
				revokes = append(revokes, change{connectors.Account{Person: p, Ref: ref}, names[g], ids[g], false})
			}
		}
		return
	}
	run := func(changes []change, f func(change) error) time.Duration {
		start := time.Now()
		ch := make(chan change)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for x := range ch {
					if err := f(x); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for _, x := range changes {
			ch <- x
		}
		close(ch)
		wg.Wait()
		return time.Since(start)
	}
	token := testEnv(b)["TILGANG_SCIM_TOKEN"]
	base := testEnv(b)["TILGANG_SCIM_URL"]
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	send := func(method, path string, body any) error {
		var r io.Reader
		if body != nil {
			bs, _ := json.Marshal(body)
			r = bytes.NewReader(bs)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		return nil
	}
	plain := func(x change) error {
		if err := send("GET", "/Groups/"+x.gid+"?attributes=members", nil); err != nil {
			return err
		}
		op := map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": x.a.Ref["id"]}}}
		if !x.add {
			op = map[string]any{"op": "remove", "path": "members[value eq " + quote(x.a.Ref["id"]) + "]"}
		}
		return send("PATCH", "/Groups/"+x.gid, map[string]any{"schemas": []string{schemaPatchOp}, "Operations": []any{op}})
	}
	viaConnector := func(x change) error {
		if x.add {
			return c.Grant(ctx, x.a, x.group)
		}
		return c.Revoke(ctx, x.a, x.group)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		g1, r1 := setup()
		g2, r2 := setup()
		before := c.Requests()
		b.StartTimer()
		tc := run(g1, viaConnector) + run(r1, viaConnector)
		b.StopTimer()
		after := c.Requests()
		tp := run(g2, plain) + run(r2, plain)
		n := float64(len(g1) + len(r1))
		reqs := float64(after["GET"]+after["PATCH"]-before["GET"]-before["PATCH"]) / n
		b.ReportMetric(n/tc.Seconds(), "connector_ops/s")
		b.ReportMetric(n/tp.Seconds(), "plain_ops/s")
		b.ReportMetric(tp.Seconds()/tc.Seconds(), "ratio")
		b.ReportMetric(reqs, "requests/change")
		b.StartTimer()
	}
}
