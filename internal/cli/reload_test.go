package cli

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
)

// policy reload lists which replica holds which catalogue, and fails when
// one does not hold the one now in force.
func TestPolicyReloadReplicas(t *testing.T) {
	const v2, v1 = "2222222222222222ffff", "1111111111111111ffff"
	tests := []struct {
		name     string
		replicas []api.ReplicaCatalogue
		code     int
		out      string
		errOut   string
	}{
		{name: "every replica holds it",
			replicas: []api.ReplicaCatalogue{{Replica: "w1", Version: v2, Intake: true}, {Replica: "w2", Version: v2}},
			out:      "reloaded: catalogue " + v2 + "\nREPLICA  CATALOGUE     INTAKE  ERROR\nw1       222222222222  yes     -\nw2       222222222222  -       -\n"},
		{name: "a replica holds another", code: 1,
			replicas: []api.ReplicaCatalogue{{Replica: "w1", Version: v2, Intake: true}, {Replica: "w2", Version: v1}},
			out:      "reloaded: catalogue " + v2 + "\nREPLICA  CATALOGUE     INTAKE  ERROR\nw1       222222222222  yes     -\nw2       111111111111  -       -\n",
			errOut:   "catalogue 222222222222 is in force, but not every replica holds it: w2 holds 111111111111"},
		{name: "a replica cannot load it", code: 1,
			replicas: []api.ReplicaCatalogue{{Replica: "w1", Version: v1, Intake: true, Error: "catalogue 222222222222: gerica.yaml:4: connectors: \"ad\" is not a configured connector instance"}},
			out:      "reloaded: catalogue " + v2 + "\nREPLICA  CATALOGUE     INTAKE  ERROR\nw1       111111111111  yes     catalogue 222222222222: gerica.yaml:4: connectors: \"ad\" is not a configured connector instance\n",
			errOut:   `w1 holds 111111111111: catalogue 222222222222: gerica.yaml:4: connectors: "ad" is not a configured connector instance`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.reload = func(context.Context, string) (api.ReloadResult, error) {
				return api.ReloadResult{Version: v2, Replicas: tt.replicas}, nil
			}
			w.serveAPI(t)
			code, out, errOut := w.run(t, nil, "policy", "reload")
			require.Equal(t, tt.code, code, errOut)
			require.Equal(t, tt.out, out)
			if tt.errOut != "" {
				require.Contains(t, errOut, tt.errOut)
			}

			code, out, _ = w.run(t, nil, "policy", "reload", "--output", "json")
			require.Equal(t, tt.code, code)
			var rr api.ReloadResult
			require.NoError(t, json.Unmarshal([]byte(out), &rr))
			require.Equal(t, api.ReloadResult{Version: v2, Replicas: tt.replicas}, rr)
		})
	}
}
