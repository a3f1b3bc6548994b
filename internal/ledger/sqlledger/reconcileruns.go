package sqlledger

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// reconcile_runs keeps one row per reconciliation run: counts by finding
// kind, what was fixed, and why a run held or failed; the system page
// shows a system's newest. Like verify_runs it is operational state, not
// chained: each run is chained as reconcile.run as well. It holds no
// person or account ids; only a failed read's error (the target's words)
// may name an account, and Erase replaces it at the end of retention.

var _ ledger.ReconcileRuns = (*Store)(nil)

func (s *Store) RecordReconcile(ctx context.Context, r ledger.ReconcileRun) error {
	if err := r.Check(); err != nil {
		return err
	}
	_, err := s.write.ExecContext(ctx, s.d.rebind(`INSERT INTO reconcile_runs (system, at, actor, fix, accounts, members,
		missing, extra, orphan, state, disputed, planned, fixed, held, held_why, read_error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.System, ms(r.At), r.Actor, b2i(r.Fix), r.Read.Accounts, r.Read.Members,
		r.Counts.Missing, r.Counts.Extra, r.Counts.Orphan, r.Counts.State, r.Counts.Disputed,
		r.Planned, r.Fixed, b2i(r.Held), r.HeldWhy, r.Error)
	return classify(err, "record a reconciliation run")
}

func (s *Store) LastReconcile(ctx context.Context, system string) (*ledger.ReconcileRun, error) {
	if !tilgang.ValidToken(system) {
		return nil, tilgang.Errorf(tilgang.Invalid, "ledger: %q is not a system id", system)
	}
	var (
		r         = ledger.ReconcileRun{System: system}
		at        int64
		fix, held int
	)
	err := s.read.QueryRowContext(ctx, s.d.rebind(`SELECT at, actor, fix, accounts, members, missing, extra, orphan, state,
		disputed, planned, fixed, held, held_why, read_error FROM reconcile_runs WHERE system = ?
		ORDER BY at DESC, id DESC LIMIT 1`), system).Scan(&at, &r.Actor, &fix, &r.Read.Accounts, &r.Read.Members,
		&r.Counts.Missing, &r.Counts.Extra, &r.Counts.Orphan, &r.Counts.State, &r.Counts.Disputed,
		&r.Planned, &r.Fixed, &held, &r.HeldWhy, &r.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "read the last reconciliation run of "+system)
	}
	r.At, r.Fix, r.Held = fromMS(at), fix == 1, held == 1
	return &r, nil
}
