package sqlledger

import (
	"context"
	"database/sql"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// ---- transactions ----

// tx is one writing transaction. Every read goes through its cache (see
// cache.go), filling it on a miss, and every write goes into the cache, to
// be sent at Flush or Commit in a few multi-row statements.
type tx struct {
	s       *Store
	ctx     context.Context
	tx      *sql.Tx
	audit   []ledger.AuditEntry
	events  []ledger.Event
	done    bool
	missing []string
	c       *cache
	planned bool // PostgreSQL: plan_cache_mode is set for this transaction
}

var (
	_ ledger.Preloader = (*tx)(nil)
	_ ledger.Flusher   = (*tx)(nil)
)

func (s *Store) Begin(ctx context.Context) (ledger.Tx, error) {
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, classify(err, "begin")
	}
	return &tx{s: s, ctx: ctx, tx: t, c: newCache()}, nil
}

// stmt is q prepared for this transaction: the shared prepared statement
// when there is one; otherwise prepared on the transaction's own
// connection (the writer has one connection, held by this transaction)
// and remembered, to be prepared for everyone once the transaction ends.
func (t *tx) stmt(q string) (*sql.Stmt, error) {
	t.s.mu.Lock()
	st, ok := t.s.stmts[q]
	t.s.mu.Unlock()
	if ok {
		return t.tx.StmtContext(t.ctx, st), nil
	}
	t.missing = append(t.missing, q)
	st, err := t.tx.PrepareContext(t.ctx, t.s.d.rebind(q))
	if err != nil {
		return nil, classify(err, "prepare")
	}
	return st, nil
}

// prepareMissing prepares the statements this transaction had to prepare
// for itself, now that the writer connection is free again.
func (t *tx) prepareMissing() {
	for _, q := range t.missing {
		_, _ = t.s.stmt(t.ctx, q)
	}
	t.missing = nil
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	if err != nil {
		return nil, classify(err, firstWords(q))
	}
	return res, nil
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	if err != nil {
		return nil, classify(err, firstWords(q))
	}
	return rows, nil
}

func (t *tx) queryRow(q string, args ...any) (*sql.Row, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(t.ctx, args...), nil
}

func firstWords(q string) string {
	f := strings.Fields(q)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

func (t *tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	err := t.tx.Rollback()
	t.prepareMissing()
	return err
}

func (t *tx) RecordMessage(m ledger.Message) (ledger.MsgOutcome, error) {
	if _, ok := t.c.keys[m.Key]; !ok {
		if err := t.loadKeys([]string{m.Key}); err != nil {
			return 0, err
		}
	}
	return t.c.recordMessage(m), nil
}

func (t *tx) Audit(e ledger.AuditEntry) { t.audit = append(t.audit, e) }
func (t *tx) Emit(e ledger.Event)       { t.events = append(t.events, e) }

// Commit writes the kept rows and the buffered events, then the audit
// entries with the chain head locked as the last statements, then commits.
func (t *tx) Commit() error {
	if t.done {
		return tilgang.Errorf(tilgang.Internal, "ledger: commit of a finished transaction")
	}
	if err := t.Flush(); err != nil {
		t.Rollback()
		return err
	}
	if len(t.audit) > 0 {
		if err := t.writeHoldings(); err != nil {
			t.Rollback()
			return err
		}
		if err := t.appendChain(); err != nil {
			t.Rollback()
			return err
		}
	}
	t.done = true
	err := t.tx.Commit()
	t.prepareMissing()
	return classify(err, "commit")
}

// Flush writes the kept rows and the queued events.
func (t *tx) Flush() error {
	if t.done {
		return tilgang.Errorf(tilgang.Internal, "ledger: flush of a finished transaction")
	}
	if err := t.flush(); err != nil {
		return err
	}
	events := make([][]any, 0, len(t.events))
	for _, e := range t.events {
		person := e.Person
		if person == "" {
			person = "_"
		}
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		events = append(events, []any{e.Kind, person, mustJSON(data), ms(e.At), 0, 0})
	}
	if err := t.insertRows(`INSERT INTO events (kind, person, data, at, published, notified) VALUES `, events, ""); err != nil {
		return err
	}
	t.events = t.events[:0]
	return nil
}

// insertRows writes rows with multi-row INSERTs: a batch's rows cost a
// handful of statements, not one each. Each statement takes a power of two
// of rows, at most 128, so there are few distinct statements and each is
// prepared once (parsing a long statement anew costs more than running it).
func (t *tx) insertRows(prefix string, rows [][]any, suffix string) error {
	const most = 128
	for len(rows) > 0 {
		n := most
		for n > len(rows) {
			n /= 2
		}
		chunk := rows[:n]
		rows = rows[n:]
		var b strings.Builder
		b.WriteString(prefix)
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(chunk[0])), ", ") + ")"
		args := make([]any, 0, n*len(chunk[0]))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = append(args, r...)
		}
		b.WriteString(suffix)
		if _, err := t.exec(b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
