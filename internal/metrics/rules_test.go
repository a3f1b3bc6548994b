package metrics

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang/internal/hrsync"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

const (
	rulesFile     = "../../deploy/prometheus/tilgang-rules.yaml"
	rulesTestFile = "../../deploy/prometheus/tilgang-rules.test.yaml"
	comingFile    = "../../deploy/prometheus/coming-metrics.txt"
	dashboardFile = "../../deploy/grafana/tilgang-dashboard.json"
)

// exported lists the metric names a worker's /metrics serves: every
// collector in Metrics, the Go and process collectors, and those the worker
// registers for reconciliation and the HR sync (registered here as the
// worker does, so a name clash fails).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := New("test")
	others := append(reconcile.NewMetrics().Collectors(), hrsync.NewMetrics().Collectors()...)
	require.NoError(t, m.Register(others...))
	cs := others
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if c, ok := v.Field(i).Interface().(prometheus.Collector); ok {
			cs = append(cs, c)
		}
	}
	cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			mm := fq.FindStringSubmatch(d.String())
			require.NotNil(t, mm, d.String())
			names[mm[1]] = true
		}
	}
	// Every collector of Metrics is registered: Gather fails on none and
	// names each of the plain (label-free) ones.
	got, err := m.reg.Gather()
	require.NoError(t, err)
	for _, f := range got {
		require.True(t, names[f.GetName()], "%s is served but not described", f.GetName())
	}
	return names
}

func coming(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(comingFile)
	require.NoError(t, err)
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			names[line] = true
		}
	}
	require.NoError(t, sc.Err())
	return names
}

// exprs reads the PromQL expressions of the rules and of the dashboard.
func exprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	data, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(data, &rules))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["rule "+r.Alert] = r.Expr
		}
	}
	data, err = os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, "panel %q", p.Title)
		for i, tg := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// metricNames picks the metric names out of a PromQL expression: the
// identifiers of tilgang's, Go's and the process collector's families and
// Prometheus's own up; a histogram's _bucket, _sum and _count are its name.
var metricName = regexp.MustCompile(`\b((?:tilgang|go|process)_[a-zA-Z0-9_]+|up)\b`)

func metricNames(expr string) []string {
	var out []string
	for _, n := range metricName.FindAllString(expr, -1) {
		out = append(out, n)
	}
	return out
}

// TestAlertRules checks deploy/prometheus and deploy/grafana: promtool
// accepts the rules and their unit tests pass, and every metric the rules
// and the dashboard name is one tilgang exports or is listed as coming.
// promtool is Debian's package prometheus (deploy/test.sh installs it).
func TestAlertRules(t *testing.T) {
	have := exported(t)
	soon := coming(t)
	var unknown []string
	used := map[string]bool{}
	for where, e := range exprs(t) {
		names := metricNames(e)
		require.NotEmpty(t, names, "%s: %s names no metric", where, e)
		for _, n := range names {
			used[n] = true
			base := n
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suf); ok && have[b] {
					base = b
				}
			}
			if !have[base] && !soon[base] && base != "up" {
				unknown = append(unknown, where+": "+n)
			}
		}
	}
	sort.Strings(unknown)
	require.Empty(t, unknown, "metrics neither exported by tilgang nor listed in %s", comingFile)
	for n := range soon {
		require.True(t, used[n], "%s lists %s, which no rule or panel uses", comingFile, n)
	}
	for _, n := range []string{"tilgang_grants", "tilgang_intake_lag_messages", "tilgang_intake_lease_held", "tilgang_audit_anchor_refused_total",
		"tilgang_audit_verify_ok", "tilgang_audit_verify_last_run_timestamp_seconds", "tilgang_hr_sync_held_total", "tilgang_reconcile_held_total",
		"tilgang_reconcile_findings", "tilgang_reconcile_last_success_timestamp_seconds"} {
		require.True(t, have[n] && used[n], "%s is exported and alerted on", n)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed: apt-get install prometheus (deploy/test.sh does)")
		}
		t.Skip("promtool is not installed: apt-get install prometheus, or run bash deploy/test.sh")
	}
	dir, err := filepath.Abs(filepath.Dir(rulesFile))
	require.NoError(t, err)
	for _, args := range [][]string{{"check", "rules", filepath.Base(rulesFile)}, {"test", "rules", filepath.Base(rulesTestFile)}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

func TestMetricNames(t *testing.T) {
	require.Equal(t, []string{"tilgang_grants", "tilgang_connector_seconds_bucket", "up"},
		metricNames(`max(tilgang_grants{state="x"}) + histogram_quantile(0.9, rate(tilgang_connector_seconds_bucket[5m])) + up{job="tilgang"}`))
}
