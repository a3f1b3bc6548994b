package sqlledger

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// A stored value that no longer decodes (a row edited or damaged behind
// the ledger's back) is an Internal error naming the row and the column,
// never an empty value: a grant read with no entitlements would be revoked
// without removing anything.
func TestCorruptRowSQLite(t *testing.T) {
	t.Parallel()
	runCorrupt(t, sqliteTarget())
}

func TestCorruptRowPostgres(t *testing.T) {
	t.Parallel()
	runCorrupt(t, postgresTarget())
}

func runCorrupt(t *testing.T, target tamperTarget) {
	d := dialect{postgres: target.postgres}
	// inTx reads in a transaction, loaded or not, as the engine does.
	inTx := func(t *testing.T, s *Store, load bool, fn func(tx ledger.Tx) error) error {
		tx, err := s.Begin(t.Context())
		require.NoError(t, err)
		defer tx.Rollback()
		if load {
			if err := ledger.Preload(tx, []string{"p1"}, nil); err != nil {
				return err
			}
		}
		return fn(tx)
	}
	for _, tc := range []struct {
		name   string
		update string
		want   string // the row and column the error names
		read   func(t *testing.T, s *Store, load bool) error
	}{
		{
			name:   "grant entitlements",
			update: `UPDATE grants SET entitlements = '{"ad": [' WHERE id = 'g1'`,
			want:   "grant g1: column entitlements",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.GrantsOf("p1"); return err })
			},
		},
		{
			name:   "grant entitlements, read by id",
			update: `UPDATE grants SET entitlements = 'x' WHERE id = 'g1'`,
			want:   "grant g1: column entitlements",
			read: func(t *testing.T, s *Store, load bool) error {
				if load {
					return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.Grant("g1"); return err })
				}
				_, err := s.Grant(t.Context(), "g1")
				return err
			},
		},
		{
			name:   "grant approvers",
			update: `UPDATE grants SET approvers = '[1' WHERE id = 'g1'`,
			want:   "grant g1: column approvers",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.OpenGrant("p1", "gerica", "bruker"); return err })
			},
		},
		{
			name:   "grant valid_until",
			update: `UPDATE grants SET valid_until = 'snart' WHERE id = 'g1'`,
			want:   "grant g1: column valid_until",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.Grant("g1"); return err })
			},
		},
		{
			name:   "request valid_until",
			update: `UPDATE requests SET valid_until = 'snart' WHERE id = 'r1'`,
			want:   "request r1: column valid_until",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.Request("r1"); return err })
			},
		},
		{
			name:   "operation target",
			update: `UPDATE operations SET target = '{"dn":' WHERE grant_id = 'g1'`,
			want:   "column target",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.OperationsOf("g1"); return err })
			},
		},
		{
			name:   "account ref",
			update: `UPDATE accounts SET ref = '{' WHERE person = 'p1'`,
			want:   "account p1/ad: column ref",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.AccountsOf("p1"); return err })
			},
		},
		{
			name:   "person record",
			update: `UPDATE persons SET record = '{' WHERE id = 'p1'`,
			want:   "person p1: column record",
			read: func(t *testing.T, s *Store, load bool) error {
				return inTx(t, s, load, func(tx ledger.Tx) error { _, err := tx.Person("p1"); return err })
			},
		},
		{
			name:   "event data",
			update: `UPDATE events SET data = '{'`,
			want:   "column data",
			read: func(t *testing.T, s *Store, load bool) error {
				_, err := s.PendingEvents(t.Context(), 10)
				return err
			},
		},
	} {
		for _, load := range []bool{false, true} {
			name := tc.name
			if load {
				name += ", loaded"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s, raw := target.open(t)
				writeCorruptFixture(t, s)
				s = raw(func(db *sql.DB) {
					res, err := db.Exec(d.rebind(tc.update))
					require.NoError(t, err)
					n, err := res.RowsAffected()
					require.NoError(t, err)
					require.EqualValues(t, 1, n, "the fixture has the row")
				})
				err := tc.read(t, s, load)
				require.Error(t, err, "a value that does not decode")
				require.Equal(t, tilgang.Internal, tilgang.KindOf(err), "%v", err)
				require.ErrorContains(t, err, tc.want)
			})
		}
	}
}

// writeCorruptFixture stores one of each row: person p1, request r1, grant
// g1 with an operation, an account and an event.
func writeCorruptFixture(t *testing.T, s *Store) {
	t.Helper()
	tx, err := s.Begin(t.Context())
	require.NoError(t, err)
	defer tx.Rollback()
	now := tamperT0
	until, err := tilgang.ParseDate("2026-01-31")
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: "p1", GivenName: "Kari"}, Version: 1, Updated: now}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r1", Person: "p1", System: "gerica", Role: "bruker", Action: "grant",
		Actor: "p2", GrantID: "g1", Outcome: "accepted", ValidUntil: until, Seq: 1, At: now}))
	g := ledger.Grant{ID: "g1", Person: "p1", System: "gerica", Role: "bruker", State: tilgang.StateActive, RequestID: "r1",
		Requester: "p2", Approvers: []string{"p3"}, ValidUntil: until, Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker"}},
		Created: now, Updated: now}
	require.NoError(t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: "p1", GrantID: "g1", To: string(g.State)})
	_, err = tx.InsertOperation(ledger.Operation{GrantID: "g1", Person: "p1", Connector: "ad", Kind: ledger.KindGrant,
		Entitlement: "CN=APP-Gerica-Bruker", State: ledger.OpQueued, DueAt: now, Seq: 1, Target: connectors.Ref{"dn": "CN=Kari"},
		Created: now, Updated: now})
	require.NoError(t, err)
	require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: "ad", Ref: connectors.Ref{"dn": "CN=Kari"}, Enabled: true, Updated: now}))
	tx.Emit(ledger.Event{Kind: "grant.active", Person: "p1", At: now, Data: map[string]any{"grant_id": "g1"}})
	require.NoError(t, tx.Commit())
}
