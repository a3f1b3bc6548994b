package testenv

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
)

// Metric is the value of the sample of name whose labels include each of
// labels (`system="recon2"`) on the worker's /metrics, waiting up to 30 s
// for it to equal want; it fails the test otherwise.
func (e *Env) Metric(name string, want float64, labels ...string) {
	e.T.Helper()
	var last string
	deadline := time.Now().Add(30 * time.Second) // ledger gauges are sampled every 15 s
	for {
		got, ok := e.scrape(name, labels)
		if ok && got == want {
			return
		}
		last = "absent"
		if ok {
			last = strconv.FormatFloat(got, 'g', -1, 64)
		}
		if time.Now().After(deadline) {
			require.Failf(e.T, "metric", "%s%v is %s, not %v", name, labels, last, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MetricValue is the value of the sample of name with labels on the
// worker's /metrics, and whether it is served.
func (e *Env) MetricValue(name string, labels ...string) (float64, bool) {
	e.T.Helper()
	return e.scrape(name, labels)
}

func (e *Env) scrape(name string, labels []string) (float64, bool) {
	resp, err := http.Get("http://" + e.HTTP + "/metrics")
	require.NoError(e.T, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(e.T, err, line)
		return v, true
	}
	require.NoError(e.T, sc.Err())
	return 0, false
}
