package engine_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/connectors/noop"
	"github.com/ror-ikt/tilgang/internal/engine"
)

// declined has the Tasker capability and declines it.
type declined struct{ manual.Connector }

func (declined) Manual() bool { return false }

// People do the work of the instances whose connector says so
// (connectors.Tasker), whatever their names; the executor asks IsManual.
func TestManualInstancesAreTheTaskers(t *testing.T) {
	t.Parallel()
	machine, err := noop.Open(noop.Config{})
	require.NoError(t, err)
	eng := engine.New(nil, nil, connectors.Set{"helpdesk": manual.Connector{}, "manual": machine, "declined": declined{}},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, want := range map[string]bool{"helpdesk": true, "manual": false, "declined": false, "unknown": false} {
		require.Equal(t, want, eng.IsManual(name), name)
	}
}
