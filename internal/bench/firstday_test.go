package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkFirstDay: a whole IT service's people through `tilgang dev`
// with the example catalogue, as separate processes (README "Measured").
// TILGANG_BENCH_PEOPLE sets how many (default 20,000); TILGANG_BENCH_ENV
// adds space-separated VAR=value settings to the worker's environment,
// TILGANG_BENCH_TAGS build tags to the binary.
func BenchmarkFirstDay(b *testing.B) {
	n := 20000
	if s := os.Getenv("TILGANG_BENCH_PEOPLE"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(b, err, "TILGANG_BENCH_PEOPLE")
	}
	bin := filepath.Join(b.TempDir(), "tilgang")
	build := exec.Command("go", "build", "-tags", os.Getenv("TILGANG_BENCH_TAGS"), "-o", bin, "github.com/ror-ikt/tilgang/cmd/tilgang")
	out, err := build.CombinedOutput()
	require.NoError(b, err, "go build:\n%s", out)
	policies, err := filepath.Abs("../../policies")
	require.NoError(b, err)
	for range b.N {
		log, err := os.Create(filepath.Join(b.TempDir(), "log"))
		require.NoError(b, err)
		res, err := FirstDay(context.Background(), FirstDayOptions{Binary: bin, Dir: b.TempDir(), Policies: policies, People: n,
			Log: log, Env: strings.Fields(os.Getenv("TILGANG_BENCH_ENV"))})
		log.Close()
		require.NoError(b, err, "log in %s", log.Name())
		b.Log(res)
		b.ReportMetric(res.Active.Seconds(), "s-all-active")
		b.ReportMetric(float64(res.WorkerPeak)/(1<<20), "MB-worker-peak")
		b.ReportMetric(float64(res.CLIPeak)/(1<<20), "MB-cli-peak")
		b.ReportMetric(float64(res.Ledger)/(1<<20), "MB-ledger")
	}
}
