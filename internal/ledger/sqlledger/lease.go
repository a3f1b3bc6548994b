package sqlledger

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
)

// nowMS is the database's clock in Unix milliseconds: leases are judged by
// one clock, not by each replica's.
func (d dialect) nowMS() string {
	if d.postgres {
		return `(extract(epoch from clock_timestamp()) * 1000)::bigint`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
}

func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (int64, error) {
	now := s.d.nowMS()
	st, err := s.stmt(ctx, `INSERT INTO leases (name, holder, token, expires) VALUES (?, ?, 1, `+now+` + ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires = excluded.expires
		WHERE leases.expires < `+now+` OR leases.holder = excluded.holder
		RETURNING token`)
	if err != nil {
		return 0, err
	}
	var token int64
	err = st.QueryRowContext(ctx, name, holder, ttl.Milliseconds()).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, classify(err, "acquire lease")
	}
	return token, nil
}

const renewLease = `UPDATE leases SET expires = %NOW% + ? WHERE name = ? AND holder = ? AND token = ? AND expires >= %NOW%`

func (s *Store) renewQuery() string {
	return strings.ReplaceAll(renewLease, "%NOW%", s.d.nowMS())
}

func (s *Store) RenewLease(ctx context.Context, name, holder string, token int64, ttl time.Duration) error {
	st, err := s.stmt(ctx, s.renewQuery())
	if err != nil {
		return err
	}
	res, err := st.ExecContext(ctx, ttl.Milliseconds(), name, holder, token)
	if err != nil {
		return classify(err, "renew lease")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return tilgang.Errorf(tilgang.Conflict, "ledger: lease %s is no longer held by %s with token %d", name, holder, token)
	}
	return nil
}

func (s *Store) ReleaseLease(ctx context.Context, name, holder string, token int64) error {
	_, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE leases SET expires = 0 WHERE name = ? AND holder = ? AND token = ?`), name, holder, token)
	return classify(err, "release lease")
}

func (t *tx) Fence(name, holder string, token int64, ttl time.Duration) error {
	res, err := t.exec(t.s.renewQuery(), ttl.Milliseconds(), name, holder, token)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return tilgang.Errorf(tilgang.Conflict, "ledger: lease %s is no longer held by %s with token %d: not committing", name, holder, token)
	}
	return nil
}
