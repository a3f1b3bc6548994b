package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// BenchmarkPipeline runs 5,000 signed grant requests through the whole
// pipeline on SQLite, and the same messages through a plain JetStream
// consume-and-ack loop, once per iteration:
//
//	go test -run '^$' -bench Pipeline -benchtime 1x ./internal/bench
func BenchmarkPipeline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), Options{Dir: b.TempDir(), Requests: 5000})
		if err != nil {
			b.Fatal(err)
		}
		report(b, res)
	}
}

// BenchmarkPipelinePostgres is the same on PostgreSQL, with one and with
// three in-process replicas:
//
//	go test -run '^$' -bench PipelinePostgres -benchtime 1x ./internal/bench
func BenchmarkPipelinePostgres(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				res, err := Run(context.Background(), Options{Dir: b.TempDir(), Requests: 5000, Postgres: pgtest.Schema(b), Replicas: replicas})
				if err != nil {
					b.Fatal(err)
				}
				report(b, res)
			}
		})
	}
}

// TestPipelineSmallPostgres runs the measuring path on PostgreSQL with
// three replicas, so it is tested with the suite.
func TestPipelineSmallPostgres(t *testing.T) {
	res, err := Run(context.Background(), Options{Dir: t.TempDir(), Requests: 50, Postgres: pgtest.Schema(t), Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate <= 0 || res.JSRate <= 0 || res.P99 < res.P50 || res.SteadyP50 <= 0 || res.SteadyP99 < res.SteadyP50 {
		t.Fatalf("implausible result: %s", res)
	}
}

// TestPipelineSmall runs the benchmark's path on a few requests, so the
// measuring code itself is tested with the suite.
func TestPipelineSmall(t *testing.T) {
	res, err := Run(context.Background(), Options{Dir: t.TempDir(), Requests: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate <= 0 || res.JSRate <= 0 || res.P99 < res.P50 || res.SteadyP50 <= 0 || res.SteadyP99 < res.SteadyP50 {
		t.Fatalf("implausible result: %s", res)
	}
}

func report(b *testing.B, res Result) {
	b.Log(res)
	b.ReportMetric(res.Rate, "req/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(res.JSRate, "js_msg/s")
	b.ReportMetric(res.Ratio, "ratio")
	b.ReportMetric(res.ActiveRate, "active/s")
	b.ReportMetric(float64(res.CPU.Microseconds()), "cpu_µs/req")
	b.ReportMetric(float64(res.JSCPU.Microseconds()), "js_cpu_µs/msg")
	b.ReportMetric(float64(res.SteadyP50.Microseconds())/1000, "one_p50_ms")
	b.ReportMetric(float64(res.SteadyP99.Microseconds())/1000, "one_p99_ms")
}
