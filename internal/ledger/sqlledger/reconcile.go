package sqlledger

import (
	"context"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

var _ ledger.ReconcileReader = (*Store)(nil)

// ConnectorAccounts streams the account rows of one connector instance.
func (s *Store) ConnectorAccounts(ctx context.Context, connector string, fn func(ledger.AccountRow) error) error {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT person, connector, ref, enabled, updated FROM accounts WHERE connector = ? ORDER BY person`), connector)
	if err != nil {
		return classify(err, "read accounts of "+connector)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return err
		}
		if err := fn(*a); err != nil {
			return err
		}
	}
	return classify(rows.Err(), "read accounts of "+connector)
}

// BusyPeople lists the people with queued, claimed or waiting operations
// on the connector instance.
func (s *Store) BusyPeople(ctx context.Context, connector string) (map[string]bool, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT DISTINCT person FROM operations WHERE state IN ('queued', 'claimed', 'waiting') AND connector = ?`), connector)
	if err != nil {
		return nil, classify(err, "read unfinished operations of "+connector)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, classify(err, "read unfinished operations of "+connector)
		}
		out[p] = true
	}
	return out, classify(rows.Err(), "read unfinished operations of "+connector)
}
