package ledger

import "context"

// ReconcileReader is what a reconciliation run reads of one connector
// instance from the ledger, in a few statements rather than one per person.
type ReconcileReader interface {
	// ConnectorAccounts calls fn for each account row on the connector
	// instance, in person order.
	ConnectorAccounts(ctx context.Context, connector string, fn func(AccountRow) error) error
	// BusyPeople lists the people with unfinished operations (queued,
	// claimed, waiting) on the connector instance: their work is in flight.
	BusyPeople(ctx context.Context, connector string) (map[string]bool, error)
}
