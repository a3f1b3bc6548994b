package sqlledger

import (
	"context"

	"github.com/ror-ikt/tilgang/internal/ledger/ledgertest"
)

var _ ledgertest.HoldingsForgetter = (*Store)(nil)

// ForgetHoldings plays, for the conformance suite, a replica of the
// release before the access register (see ledgertest.HoldingsForgetter):
// the grants' chain rows are left unmarked, as that release wrote them.
func (s *Store) ForgetHoldings(ctx context.Context, started, ended []string) error {
	grantID := `json_extract(canonical, '$.grant_id')`
	if s.d.postgres {
		grantID = `(canonical::jsonb ->> 'grant_id')`
	}
	for _, id := range append(append([]string{}, started...), ended...) {
		if _, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE audit SET registered = 0 WHERE `+grantID+` = ?`), id); err != nil {
			return err
		}
	}
	for _, id := range started {
		if _, err := s.write.ExecContext(ctx, s.d.rebind(`DELETE FROM holdings WHERE grant_id = ?`), id); err != nil {
			return err
		}
	}
	for _, id := range ended {
		if _, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE holdings SET until_at = 0 WHERE grant_id = ?`), id); err != nil {
			return err
		}
	}
	return nil
}

// DeleteHolding deletes a grant's holdings row (ledgertest.HoldingsForgetter).
func (s *Store) DeleteHolding(ctx context.Context, grantID string) error {
	_, err := s.write.ExecContext(ctx, s.d.rebind(`DELETE FROM holdings WHERE grant_id = ?`), grantID)
	return err
}
