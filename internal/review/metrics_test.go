package review_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/metrics"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/review"
)

// TestMetricsMove: the campaign and item gauges follow a campaign from its
// start through decisions to its close, and the close counts what it
// applied.
func TestMetricsMove(t *testing.T) {
	w := newWorld(t, arkiv)
	ctx := context.Background()
	m := metrics.New("test")
	rm := review.NewMetrics()
	require.NoError(t, m.Register(rm.Collectors()...))
	w.runner.Metrics = rm
	items := func(state string) float64 { return value(t, m.ReviewItems.WithLabelValues("arkiv", state)) }

	m.SampleLedger(ctx, w.store)
	require.Equal(t, 0, count(m.ReviewCampaigns), "no campaign yet")
	require.Equal(t, 0, count(m.ReviewItems))

	st, err := w.runner.Start(ctx, "arkiv", "1547-20001")
	require.NoError(t, err)
	m.SampleLedger(ctx, w.store)
	require.Equal(t, 1.0, value(t, m.ReviewCampaigns.WithLabelValues("arkiv", ledger.CampaignOpen)))
	require.Equal(t, 8.0, items("undecided"))
	require.Equal(t, 0.0, items("keep"))

	kind, _ := w.decide(t, w.people[0], "1547-20001", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	kind, _ = w.decide(t, w.people[1], "1547-20002", "remove", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	kind, _ = w.decide(t, w.people[2], "1547-20002", "keep", false)
	require.Equal(t, tilgang.EvRequestAccepted, kind)
	m.SampleLedger(ctx, w.store)
	require.Equal(t, 5.0, items("undecided"))
	require.Equal(t, 2.0, items("keep"))
	require.Equal(t, 1.0, items("remove"))

	out, err := w.runner.Close(ctx, st.CampaignID, principals.DevID)
	require.NoError(t, err)
	require.Equal(t, 6, out.Revoked) // the removal and the 5 unanswered (if_no_response: remove)
	require.Equal(t, 6.0, value(t, rm.Applied.WithLabelValues("arkiv", "revoked")))
	require.Equal(t, 2.0, value(t, rm.Applied.WithLabelValues("arkiv", "kept")))
	require.Equal(t, 1.0, value(t, rm.Closed.WithLabelValues("arkiv")))
	m.SampleLedger(ctx, w.store)
	require.Equal(t, 0, count(m.ReviewCampaigns), "a closed campaign leaves the gauges")
	require.Equal(t, 0, count(m.ReviewItems))
}

// value reads a gauge's or counter's value.
func value(t *testing.T, c prometheus.Metric) float64 {
	var d dto.Metric
	require.NoError(t, c.Write(&d))
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// count is how many series c has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
