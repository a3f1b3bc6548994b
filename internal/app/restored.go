package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// afterRestore runs at start: when the ledger was restored from a backup
// since it last ran (`tilgang restore`), the intake consumer is reset to
// one past the ledger's highest stream sequence, so the messages committed
// after the backup are applied again, and then ledger.restored {seq, hash}
// is chained, which clears the mark. A crash in between resets the
// consumer again at the next start.
func afterRestore(ctx context.Context, l ledger.Ledger, js jetstream.JetStream, o streams.Options, log *slog.Logger) error {
	s, ok := l.(*sqlledger.Store)
	if !ok {
		return nil
	}
	mark, resume, err := s.Restored(ctx)
	if err != nil || mark == nil {
		return err
	}
	if err := streams.ResumeAt(ctx, js, o, resume); err != nil {
		return fmt.Errorf("after the restore: %w", err)
	}
	if err := s.ChainRestored(ctx, *mark, time.Now()); err != nil {
		return fmt.Errorf("after the restore: chain ledger.restored: %w", err)
	}
	log.Warn("ledger: restored from a backup; the intake applies again what came after it",
		"restored_seq", mark.Seq, "restored_hash", mark.Hash, "from_stream_seq", resume)
	return nil
}
