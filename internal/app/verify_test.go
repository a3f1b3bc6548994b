package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// The active replica verifies the audit chain by itself when the last run
// is older than VerifyEvery, records the run as the worker's (the portal
// shows it), and /metrics serves its result and time.
func TestScheduledVerify(t *testing.T) {
	conn, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	start := time.Now()
	e := testenv.StartWorkerWith(t, testenv.WorkerSetup{Connectors: connectors.Set{"noop": conn, "manual": manual.Connector{}}, Catalogue: testenv.Catalogue,
		Change: func(_ string, o *app.WorkerOptions) { o.VerifyEvery = 400 * time.Millisecond }})
	e.Joiner(testenv.People()...)

	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: time.Minute}
	var last api.LastVerify
	require.Eventually(t, func() bool {
		require.NoError(t, c.Call(t.Context(), api.MethodLastVerify, nil, &last))
		return last.Run != nil
	}, 20*time.Second, 50*time.Millisecond, "a scheduled verify is recorded")
	require.Equal(t, app.VerifyActor, last.Run.Actor)
	require.True(t, last.Run.Report.OK, "%+v", last.Run)
	require.Empty(t, last.Run.Error)
	first := last.Run.At

	// It runs again once the last run is older than VerifyEvery.
	require.Eventually(t, func() bool {
		require.NoError(t, c.Call(t.Context(), api.MethodLastVerify, nil, &last))
		return last.Run.At.After(first)
	}, 20*time.Second, 50*time.Millisecond, "verified again on schedule")

	e.Metric("tilgang_audit_verify_ok", 1)
	require.Eventually(t, func() bool {
		v, ok := e.MetricValue("tilgang_audit_verify_last_run_timestamp_seconds")
		return ok && v >= float64(start.Unix())
	}, 30*time.Second, 100*time.Millisecond, "the time of the last run is served")
}
