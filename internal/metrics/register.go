package metrics

import "github.com/prometheus/client_golang/prometheus"

// Register adds collectors of other packages (reconciliation's, say) to
// what /metrics serves.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
