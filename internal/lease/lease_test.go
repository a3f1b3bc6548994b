package lease_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/lease"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
)

// stuck is a ledger whose renewals hang, as over a cut connection.
type stuck struct {
	ledger.Ledger
}

func (stuck) RenewLease(ctx context.Context, _, _ string, _ int64, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestTokenEndsWithTheTTL: a replica whose renewal hangs stops calling
// itself the holder once the TTL has passed since its last take, while the
// renewal still hangs, and another replica then takes the lease over.
func TestTokenEndsWithTheTTL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const ttl = 600 * time.Millisecond
	a := &lease.Lease{Ledger: stuck{store}, Name: "intake", Holder: "a", TTL: ttl, Log: log}
	active := make(chan struct{})
	go a.Run(ctx, func(ctx context.Context) error { close(active); <-ctx.Done(); return nil }) //nolint:errcheck
	<-active
	took := time.Now()
	require.NotZero(t, a.Token(), "a holds the lease")
	require.Eventually(t, func() bool { return a.Token() == 0 }, 2*ttl, 10*time.Millisecond, "a's token ends with the TTL")
	require.GreaterOrEqual(t, time.Since(took), ttl/2, "not before the first renewal was due")

	b := &lease.Lease{Ledger: store, Name: "intake", Holder: "b", TTL: ttl, Log: log}
	go b.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }) //nolint:errcheck
	require.Eventually(t, func() bool { return b.Token() != 0 }, 5*ttl, 10*time.Millisecond, "b takes it over")
	require.Zero(t, a.Token())
}
