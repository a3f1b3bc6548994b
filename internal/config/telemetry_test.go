package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTelemetryValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, err := w.check(t, w.config(t, validConfig+`telemetry:
  otlp_endpoint: https://otel-collector.ror-ikt.no:4318
  service_name: tilgang-prod
  sample_ratio: 0.25
`), DefaultRegistry())
	require.NoError(t, err)
	require.True(t, c.Telemetry.Enabled())
	require.Equal(t, "tilgang-prod", c.Telemetry.ServiceName)
	require.Equal(t, 0.25, *c.Telemetry.SampleRatio)
	require.Contains(t, c.Redacted(), "otlp_endpoint: https://otel-collector.ror-ikt.no:4318")

	c, err = w.check(t, w.config(t, validConfig), DefaultRegistry())
	require.NoError(t, err)
	require.False(t, c.Telemetry.Enabled(), "no telemetry section: no export")
}

func TestTelemetryEveryMistakeAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct {
		name, section string
		want          []string
	}{
		{"bad", `telemetry:
  otlp_endpoint: grpc://collector:4317
  service_name: " tilgang"
  sample_ratio: 1.5
`, []string{`telemetry.otlp_endpoint: "grpc://collector:4317" is not an http:// or https:// URL`,
			`telemetry.service_name: " tilgang" has white space around it`, "telemetry.sample_ratio: 1.5 is not between 0 and 1"}},
		{"password", `telemetry: {otlp_endpoint: "https://u:p@collector:4318"}
`, []string{"telemetry.otlp_endpoint: the URL holds a user or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS instead"}},
		{"no host", `telemetry: {otlp_endpoint: "http:///v1/traces"}
`, []string{`telemetry.otlp_endpoint: "http:///v1/traces" names no host`}},
		{"no endpoint", `telemetry: {service_name: tilgang}
`, []string{"telemetry.otlp_endpoint: missing"}},
		{"unknown key", `telemetry: {endpoint: "http://collector:4318"}
`, []string{"telemetry.endpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.check(t, w.config(t, validConfig+tc.section), DefaultRegistry())
			require.Error(t, err)
			for _, want := range tc.want {
				require.Contains(t, err.Error(), want)
			}
			if tc.name != "unknown key" {
				require.Equal(t, len(tc.want), strings.Count(err.Error(), "telemetry."), err.Error())
			}
		})
	}
}

func TestAuditVerifyEvery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, err := w.check(t, w.config(t, validConfig+"audit: {verify_every: 12h}\n"), DefaultRegistry())
	require.NoError(t, err)
	require.Equal(t, 12*time.Hour, c.Audit.VerifyEvery)
	_, err = w.check(t, w.config(t, validConfig+"audit: {verify_every: 1m}\n"), DefaultRegistry())
	require.ErrorContains(t, err, "audit.verify_every: 1m0s is shorter than 10m0s: each run reads the whole chain")
}
