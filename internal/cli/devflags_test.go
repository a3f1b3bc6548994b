package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDevReminderFlags: dev's reminder days come from --remind-after and
// --escalate-after, its telemetry from --otlp-*; values that cannot be
// meant are refused with the flag named, and nothing is created.
func TestDevReminderFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--remind-after", "-1"}, "--remind-after -1 is negative"},
		{[]string{"--escalate-after", "2"}, "--escalate-after 2 is not after --remind-after 3"},
		{[]string{"--remind-after", "6", "--escalate-after", "6"}, "--escalate-after 6 is not after --remind-after 6"},
		{[]string{"--remind-after", "tre"}, `invalid value "tre" for flag -remind-after`},
		{[]string{"--otlp-endpoint", "grpc://collector:4317"}, `--otlp-endpoint: "grpc://collector:4317" is not an http:// or https:// URL`},
		{[]string{"--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-sample-ratio", "1.5"}, "--otlp-sample-ratio: 1.5 is not between 0 and 1"},
		{[]string{"--otlp-sample-ratio", "0.5"}, "--otlp-endpoint: missing"},
		{[]string{"--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-service-name", " dev"}, `--otlp-service-name: " dev" has white space around it`},
	} {
		data := filepath.Join(t.TempDir(), "data")
		code, _, stderr := runCLI(t, append([]string{"dev", "--data", data, "--nats-listen", "127.0.0.1:0"}, tc.args...)...)
		require.NotEqual(t, 0, code, "%v", tc.args)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
		_, err := os.Stat(data)
		require.True(t, os.IsNotExist(err), "%v: nothing created", tc.args)
	}
}
