// Package metrics exposes what an operator watches on a running worker, in
// Prometheus' text format on /metrics: how far intake is behind the stream,
// operations by state, connector latency and outcomes, which replica holds
// the intake lease, and message outcomes.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Metrics of one process.
type Metrics struct {
	reg        *prometheus.Registry
	Messages   *prometheus.CounterVec   // outcome
	Operations *prometheus.CounterVec   // connector, kind, outcome
	Latency    *prometheus.HistogramVec // connector, kind
	// TurnWait is how long connector calls waited for their turn at an
	// instance that bounds its calls in flight (connectors.Limited);
	// NotStarted counts the operations whose turn came too late in their
	// claim (or at shutdown) and that went back to the queue.
	TurnWait   *prometheus.HistogramVec // connector
	NotStarted *prometheus.CounterVec   // connector
	LeaseHeld  prometheus.Gauge
	IntakeLag  prometheus.Gauge
	OpsByState *prometheus.GaugeVec // state
	Unsent     prometheus.Gauge
	// AnchorRefused counts heads not anchored because the audit chain no
	// longer runs on from the last anchor (rows rewritten or deleted): alert
	// on any increase.
	AnchorRefused prometheus.Counter
	// Mail counts the notifier's attempts to hand mail to the SMTP
	// server, by outcome: sent, deferred (tried again later), failed
	// (refused for good).
	Mail *prometheus.CounterVec
	// GrantsByState counts the grants in each state (revoke_failed and
	// failed are alerted on: deploy/prometheus/tilgang-rules.yaml).
	GrantsByState *prometheus.GaugeVec // state
	// VerifyOK is 1 when the last recorded audit verify (the worker's
	// schedule's, or an operator's) verified the chain, 0 when it found a
	// problem or could not run; VerifyAt is when it ran. Both are read
	// from the ledger, so every replica serves the same, and absent before
	// the first run.
	VerifyOK *prometheus.GaugeVec // no labels
	VerifyAt *prometheus.GaugeVec // no labels
	// ReviewCampaigns counts the access review campaigns not yet closed
	// (open, closing), ReviewItems their items by decision (undecided,
	// keep, remove, acknowledged); both read from the ledger, so every
	// replica serves the same.
	ReviewCampaigns *prometheus.GaugeVec // system, state
	ReviewItems     *prometheus.GaugeVec // system, state
}

// New registers the metrics; holder labels the lease gauge.
func New(holder string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_messages_total",
			Help: "Messages in applied by this replica's intake, by outcome (accepted, rejected, denied, duplicate, conflict, ignored)."}, []string{"outcome"}),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_operations_total",
			Help: "Connector operations run by this replica, by connector instance, kind and outcome (done, retry, failed)."}, []string{"connector", "kind", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tilgang_connector_seconds",
			Help: "Time of one connector call, by connector instance and kind.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"connector", "kind"}),
		TurnWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tilgang_connector_wait_seconds",
			Help:    "Time a connector call waited for its turn at an instance that bounds its calls in flight (the ad pool's size), by connector instance.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}, []string{"connector"}),
		NotStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_connector_not_started_total",
			Help: "Operations whose turn at their connector instance came too late in their claim, or at shutdown, and that went back to the queue unattempted."}, []string{"connector"}),
		LeaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tilgang_intake_lease_held",
			Help: "1 while this replica holds the intake lease (is the active intake).", ConstLabels: prometheus.Labels{"holder": holder}}),
		IntakeLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tilgang_intake_lag_messages",
			Help: "Messages in the stream not yet applied by the intake (pending plus unacknowledged); sampled by the active replica."}),
		OpsByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_operations",
			Help: "Operations in the outbox by state (queued, claimed, waiting, failed, ...); sampled."}, []string{"state"}),
		Unsent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tilgang_events_unpublished",
			Help: "Events committed but not yet published; sampled."}),
		AnchorRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "tilgang_audit_anchor_refused_total",
			Help: "Chain heads not anchored because the audit chain does not run on from the last anchor: rows were rewritten or deleted."}),
		Mail: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_mail_total",
			Help: "Mails handed to the SMTP server by this replica's notifier, by outcome (sent, deferred, failed)."}, []string{"outcome"}),
		GrantsByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_grants",
			Help: "Grants in the ledger by state (active, failed, revoke_failed, ...); sampled."}, []string{"state"}),
		VerifyOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_audit_verify_ok",
			Help: "1 when the last audit verify (scheduled or asked for) verified the chain, 0 when it did not; sampled from the ledger."}, nil),
		VerifyAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_audit_verify_last_run_timestamp_seconds",
			Help: "Unix time of the last audit verify; sampled from the ledger."}, nil),
		ReviewCampaigns: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_review_campaigns",
			Help: "Access review campaigns not yet closed, by system and state (open, closing); sampled from the ledger."}, []string{"system", "state"}),
		ReviewItems: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_review_items",
			Help: "Items of the access review campaigns not yet closed, by system and decision (undecided, keep, remove, acknowledged); sampled from the ledger."},
			[]string{"system", "state"}),
	}
	for _, o := range []string{"sent", "deferred", "failed"} {
		m.Mail.WithLabelValues(o)
	}
	m.reg.MustRegister(m.Messages, m.Operations, m.Latency, m.TurnWait, m.NotStarted, m.LeaseHeld, m.IntakeLag, m.OpsByState, m.Unsent, m.AnchorRefused, m.Mail, m.GrantsByState, m.VerifyOK, m.VerifyAt,
		m.ReviewCampaigns, m.ReviewItems,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Sample reads the ledger's and the stream's counts every interval until
// ctx ends.
func (m *Metrics) Sample(ctx context.Context, l ledger.Reader, js jetstream.JetStream, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.SampleLedger(ctx, l)
		if c, err := js.Consumer(ctx, streams.In, streams.Intake); err == nil {
			if info, err := c.Info(ctx); err == nil {
				m.IntakeLag.Set(float64(info.NumPending) + float64(info.NumAckPending))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SampleLedger reads the ledger's counts once: operations, events and
// grants by state, the last audit verify, the review campaigns.
func (m *Metrics) SampleLedger(ctx context.Context, l ledger.Reader) {
	if st, err := l.Stats(ctx); err == nil {
		m.OpsByState.Reset()
		for s, n := range st.OpsByState {
			m.OpsByState.WithLabelValues(string(s)).Set(float64(n))
		}
		m.Unsent.Set(float64(st.EventsUnsent))
		m.GrantsByState.Reset()
		for _, s := range []tilgang.GrantState{tilgang.StateFailed, tilgang.StateRevokeFailed} {
			m.GrantsByState.WithLabelValues(string(s)) // 0, not absent, so an alert rule can compare
		}
		for s, n := range st.Grants {
			m.GrantsByState.WithLabelValues(string(s)).Set(float64(n))
		}
	}
	m.sampleVerify(ctx, l)
	m.sampleReviews(ctx, l)
}

// sampleReviews serves the campaigns not yet closed and their items. A
// campaign that closes leaves the gauges: its series go.
func (m *Metrics) sampleReviews(ctx context.Context, l ledger.Reader) {
	rv, ok := l.(ledger.Reviews)
	if !ok {
		return
	}
	cs, err := rv.Campaigns(ctx, ledger.ReviewCampaignFilter{States: []string{ledger.CampaignOpen, ledger.CampaignClosing}})
	if err != nil {
		return
	}
	type key struct{ system, state string }
	campaigns, items := map[key]int{}, map[key]int{}
	for _, c := range cs {
		n, err := rv.ReviewCounts(ctx, c.ID)
		if err != nil {
			return
		}
		campaigns[key{c.System, c.State}]++
		for state, v := range map[string]int{"undecided": n.Open, "keep": n.Keep, "remove": n.Remove, "acknowledged": n.Acknowledged} {
			items[key{c.System, state}] += v
		}
	}
	m.ReviewCampaigns.Reset()
	m.ReviewItems.Reset()
	for k, n := range campaigns {
		m.ReviewCampaigns.WithLabelValues(k.system, k.state).Set(float64(n))
	}
	for k, n := range items {
		m.ReviewItems.WithLabelValues(k.system, k.state).Set(float64(n))
	}
}

// sampleVerify serves the last recorded audit verify run.
func (m *Metrics) sampleVerify(ctx context.Context, l ledger.Reader) {
	vr, ok := l.(ledger.VerifyRuns)
	if !ok {
		return
	}
	last, err := vr.LastVerify(ctx)
	if err != nil || last == nil {
		return
	}
	okv := 0.0
	if last.Error == "" && last.Report.OK {
		okv = 1
	}
	m.VerifyOK.WithLabelValues().Set(okv)
	m.VerifyAt.WithLabelValues().Set(float64(last.At.Unix()))
}
