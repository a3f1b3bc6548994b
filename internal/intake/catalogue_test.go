package intake_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/intake"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// The intake checks the catalogue in force in every transaction before it
// decides (once per batch, not per message); when that check fails, the
// batch is handed back undecided and Run stops, and a later Run that can
// load the catalogue applies everything in order.
func TestNoDecisionWithAStaleCatalogue(t *testing.T) {
	h := newHarness(t, "")
	people := testenv.People()[:5]
	const versions = 10
	msgs := h.hrVersions(t, versions, people...)
	h.publish(t, msgs)

	var checks atomic.Int32
	stale := func(tx ledger.Tx) error {
		checks.Add(1)
		if _, err := tx.CatalogueVersion(); err != nil { // the read the real check makes
			return err
		}
		return errors.New("catalogue abc in force: connectors: \"ad\" is not a configured connector instance")
	}
	in := &intake.Intake{Consumer: h.cons, Ledger: h.store, Engine: h.eng, Log: h.log, Catalogue: stale}
	done := make(chan error, 1)
	go func() { done <- in.Run(h.ctx) }()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "not deciding with a stale catalogue")
		require.ErrorContains(t, err, `"ad" is not a configured connector instance`)
	case <-time.After(30 * time.Second):
		t.Fatal("the intake went on with a catalogue it could not load")
	}
	require.EqualValues(t, 1, checks.Load(), "stopped at the first batch")
	st, err := h.store.Stats(h.ctx)
	require.NoError(t, err)
	require.Zero(t, st.Messages, "nothing decided")

	// The next intake ensures the consumer, as the app does each time one
	// starts: it resumes at the ack floor, in order.
	cons, err := streams.EnsureConsumer(h.ctx, h.js, streams.Options{})
	require.NoError(t, err)
	in.Consumer = cons
	checks.Store(0)
	in.Catalogue = func(tx ledger.Tx) error {
		checks.Add(1)
		_, err := tx.CatalogueVersion()
		return err
	}
	go in.Run(h.ctx)
	h.waitApplied(t, len(msgs))
	h.requireInOrder(t, versions, people...)
	require.Less(t, int(checks.Load()), len(msgs), "one check per transaction, not per message")
}
