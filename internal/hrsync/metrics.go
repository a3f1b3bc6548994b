package hrsync

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the HR sync's Prometheus metrics, kept by the worker that
// records what a sync announces (api.Server.HRSyncHeld).
type Metrics struct {
	Held *prometheus.CounterVec // source: syncs the fail-safe held
}

// NewMetrics makes the metrics; register them with the worker's.
func NewMetrics() *Metrics {
	return &Metrics{
		Held: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_hr_sync_held_total",
			Help: "HR syncs held by the fail-safe (too many leavers or changes; nothing was sent), by source."}, []string{"source"}),
	}
}

// Collectors lists the metrics for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Held}
}
