package sqlledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The portal's sign-out list (signouts: one row per session signed out,
// kept until the session would have ended anyway), the audit verify runs
// (verify_runs: one row per run, the newest shown), and the look-up of
// people by e-mail address for the portal's sign-in. None of it is
// chained: it is operational state, not what tilgang decided.

var (
	_ ledger.SignOuts      = (*Store)(nil)
	_ ledger.VerifyRuns    = (*Store)(nil)
	_ ledger.PeopleByEmail = (*Store)(nil)
)

func (s *Store) SignOut(ctx context.Context, session, person string, until, now time.Time) error {
	if session == "" || person == "" {
		return tilgang.Errorf(tilgang.Invalid, "ledger: a sign-out needs a session and a person")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return classify(err, "sign out")
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM signouts WHERE until < ?`), ms(now)); err != nil {
		return classify(err, "sign out")
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO signouts (session, person, until) VALUES (?, ?, ?)
		ON CONFLICT (session, person) DO UPDATE SET until = CASE WHEN excluded.until > signouts.until THEN excluded.until ELSE signouts.until END`),
		session, person, ms(until)); err != nil {
		return classify(err, "sign out")
	}
	return classify(tx.Commit(), "sign out")
}

func (s *Store) SignedOut(ctx context.Context, session, person string) (bool, error) {
	var one int
	err := s.read.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM signouts WHERE session = ? AND person = ?`), session, person).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, classify(err, "read the sign-out list")
}

func (s *Store) RecordVerify(ctx context.Context, r ledger.VerifyRun) error {
	b, err := json.Marshal(r)
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "ledger: record a verify run")
	}
	_, err = s.write.ExecContext(ctx, s.d.rebind(`INSERT INTO verify_runs (at, actor, run) VALUES (?, ?, ?)`), ms(r.At), r.Actor, string(b))
	return classify(err, "record a verify run")
}

func (s *Store) LastVerify(ctx context.Context) (*ledger.VerifyRun, error) {
	var run string
	err := s.read.QueryRowContext(ctx, `SELECT run FROM verify_runs ORDER BY id DESC LIMIT 1`).Scan(&run)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "read the last verify run")
	}
	var r ledger.VerifyRun
	if err := json.Unmarshal([]byte(run), &r); err != nil {
		return nil, corrupt("verify_runs", "last", "run", err)
	}
	r.At = r.At.UTC()
	return &r, nil
}

// PersonIDsByEmail reads the records whose text holds the address (any
// case) and keeps those whose email field is the address, compared with
// Unicode case folding. An address with other characters than ASCII
// letters, digits and .@_+- is compared against every record.
func (s *Store) PersonIDsByEmail(ctx context.Context, email string, limit int) ([]string, error) {
	email = strings.TrimSpace(email)
	if email == "" || !utf8.ValidString(email) {
		return nil, tilgang.Errorf(tilgang.Invalid, "ledger: an e-mail address to look for is needed")
	}
	q, args := `SELECT id, record FROM persons ORDER BY id`, []any{}
	if plainAddress(email) {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(email))
		q, args = `SELECT id, record FROM persons WHERE lower(record) LIKE ? ESCAPE '\' ORDER BY id`, []any{"%" + esc + "%"}
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "find people by e-mail")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id, record string
		if err := rows.Scan(&id, &record); err != nil {
			return nil, classify(err, "find people by e-mail")
		}
		var p struct {
			Email string `json:"email"`
		}
		if err := json.Unmarshal([]byte(record), &p); err != nil {
			return nil, corrupt("persons", id, "record", err)
		}
		if strings.EqualFold(strings.TrimSpace(p.Email), email) {
			out = append(out, id)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
	}
	return out, classify(rows.Err(), "find people by e-mail")
}

// plainAddress: only characters JSON writes as themselves and lower()
// folds alike in both databases, so the record's text holds the address
// as it is.
func plainAddress(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".@_+-", c) >= 0) {
			return false
		}
	}
	return true
}
