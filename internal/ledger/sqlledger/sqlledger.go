// Package sqlledger is the SQL implementation of the ledger, one code path
// for SQLite (the embedded default) and PostgreSQL (production): the same
// statements with the placeholders and the chain-head lock each needs.
//
// SQLite runs in WAL mode with synchronous=FULL, one writer connection and a
// busy timeout; reads use a separate pool of read-only connections.
package sqlledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

type dialect struct {
	postgres bool
}

// rebind is q as the database takes it: on PostgreSQL with $n
// placeholders; on SQLite, which has one writer and so nothing to lock
// rows against, without its row locks (FOR UPDATE, SKIP LOCKED).
//
// A writing transaction locks, on PostgreSQL, the rows it reads to change
// them (a grant's state, an operation's, a person's): without the lock two
// replicas' transactions would overwrite each other's changes. Each such
// statement says FOR UPDATE where it is written.
func (d dialect) rebind(q string) string {
	if !d.postgres {
		if strings.Contains(q, " FOR UPDATE") {
			q = strings.ReplaceAll(strings.ReplaceAll(q, " FOR UPDATE SKIP LOCKED", ""), " FOR UPDATE", "")
		}
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Store is a SQL ledger.
type Store struct {
	d     dialect
	write *sql.DB
	read  *sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	stopCheckpoints func() // SQLite

	lapsedChecked atomic.Int64 // when Claim last released lapsed claims (ms)
}

var _ ledger.Ledger = (*Store)(nil)

// OpenSQLite opens (creating if needed) the ledger in a SQLite file.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(16384)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{d: dialect{}, write: w, read: r, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkpointInBackground(path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkpointInBackground copies the write-ahead log into the database file
// from a connection of its own, twice a second, so the writer does not
// stop to do it in the middle of a commit. The writer still checkpoints by
// itself once the log passes 64 MiB (wal_autocheckpoint), should this fall
// behind.
func (s *Store) checkpointInBackground(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer db.Close()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_, _ = db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`) // busy or behind: the next tick, or the writer, does it
			}
		}
	}()
	s.stopCheckpoints = func() { close(stop); <-done }
	return nil
}

// OpenDB wraps an already opened database (PostgreSQL through pgx's
// database/sql driver) and applies the schema.
func OpenDB(ctx context.Context, db *sql.DB, postgres bool) (*Store, error) {
	s := &Store{d: dialect{postgres: postgres}, write: db, read: db, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if s.d.postgres {
		return s.migratePostgres(ctx)
	}
	for _, q := range schema(s.d) {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("ledger: migrate: %w (in %.60s...)", err, strings.TrimSpace(q))
		}
	}
	return nil
}

func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		s.stopCheckpoints = nil
	}
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	err := s.write.Close()
	if s.read != s.write {
		if e := s.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

// stmt returns a statement prepared once on the writer. It prepares
// without holding mu: on SQLite, preparing waits for the one writer
// connection, and a transaction holding that connection needs mu (tx.stmt).
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[q]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.write.PrepareContext(ctx, s.d.rebind(q))
	if err != nil {
		return nil, classify(err, "prepare")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.stmts[q]; ok {
		st.Close()
		return prev, nil
	}
	s.stmts[q] = st
	return st, nil
}

// classify turns a database error into the project's kinds.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	return tilgang.Wrap(kindOf(err), err, "ledger: %s", what)
}

// kindOf reads a database error's kind from its code (PostgreSQL's
// SQLSTATE, SQLite's result code) or its type, never from its text.
// Unavailable means trying again may succeed: the database is down or
// unreachable, busy, or a statement met another transaction (a deadlock, a
// serialization failure, a lock or statement timeout), which the intake
// retries a few times as a batch.
func kindOf(err error) tilgang.Kind {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch code := pg.Code; {
		case code == "23505": // unique_violation
			return tilgang.Conflict
		case code == "40001", code == "40P01", // serialization_failure, deadlock_detected
			code == "57014", code == "55P03", // query_canceled (statement timeout), lock_not_available (lock timeout)
			strings.HasPrefix(code, "08"),  // connection exceptions
			strings.HasPrefix(code, "57P"), // the server shuts down or starts
			strings.HasPrefix(code, "53"):  // insufficient resources (too many connections)
			return tilgang.Unavailable
		}
		return tilgang.Internal
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch code := lite.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return tilgang.Conflict
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED, code&0xff == sqlite3.SQLITE_INTERRUPT:
			return tilgang.Unavailable
		}
		return tilgang.Internal
	}
	var (
		netErr     net.Error
		connectErr *pgconn.ConnectError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed),
		errors.As(err, &netErr), errors.As(err, &connectErr),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return tilgang.Unavailable
	}
	return tilgang.Internal
}

// corrupt is the error for a stored value that does not decode: a row
// edited or damaged behind the ledger's back. It is never read as empty,
// since an empty value would be acted on (a grant without entitlements
// revokes nothing).
func corrupt(table, id, column string, err error) error {
	return tilgang.Wrap(tilgang.Internal, err, "ledger: %s %s: column %s does not decode", table, id, column)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

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

// ---- persons ----

const personCols = `id, version, record, leave_at, leave_op, has_left, updated`

func scanPerson(sc interface{ Scan(...any) error }) (*ledger.PersonRow, error) {
	var (
		p                ledger.PersonRow
		id, rec          string
		leaveAt, updated int64
		leaveOp          int64
		left             int
	)
	if err := sc.Scan(&id, &p.Version, &rec, &leaveAt, &leaveOp, &left, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read person")
	}
	if err := json.Unmarshal([]byte(rec), &p.Person); err != nil {
		return nil, corrupt("person", id, "record", err)
	}
	p.LeaveAt, p.LeaveOp, p.Left, p.Updated = fromMS(leaveAt), leaveOp, left == 1, fromMS(updated)
	return &p, nil
}

func (t *tx) Person(id string) (*ledger.PersonRow, error) {
	p, ok := t.c.people[id]
	if !ok {
		// Someone not loaded (a manager, say) is only read: not locked, so
		// two transactions reading each other's people cannot deadlock.
		row, err := t.queryRow(`SELECT `+personCols+` FROM persons WHERE id = ?`, id)
		if err != nil {
			return nil, err
		}
		if p, err = scanPerson(row); err != nil {
			return nil, err
		}
		t.c.people[id] = p
	}
	return copyPerson(p), nil
}

func (t *tx) PutPerson(p ledger.PersonRow) error {
	t.c.people[p.Person.ID] = copyPerson(&p)
	t.c.dirtyPeople.add(p.Person.ID)
	return nil
}

// ---- requests ----

const requestCols = `id, person, system, role, action, actor, via, grant_id, outcome, reason, why, valid_until, seq, at`

func scanRequest(sc interface{ Scan(...any) error }) (*ledger.Request, error) {
	var (
		r     ledger.Request
		until string
		seq   int64
		at    int64
	)
	if err := sc.Scan(&r.ID, &r.Person, &r.System, &r.Role, &r.Action, &r.Actor, &r.Via, &r.GrantID, &r.Outcome, &r.Reason, &r.Why, &until, &seq, &at); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read request")
	}
	if until != "" {
		var err error
		if r.ValidUntil, err = tilgang.ParseDate(until); err != nil {
			return nil, corrupt("request", r.ID, "valid_until", err)
		}
	}
	r.Seq, r.At = uint64(seq), fromMS(at)
	return &r, nil
}

func (t *tx) Request(id string) (*ledger.Request, error) {
	r, ok := t.c.requests[id]
	if !ok {
		// A request is never changed once written: not locked.
		row, err := t.queryRow(`SELECT `+requestCols+` FROM requests WHERE id = ?`, id)
		if err != nil {
			return nil, err
		}
		got, err := scanRequest(row)
		if err != nil {
			return nil, err
		}
		if got != nil {
			r = *got
		}
		t.c.requests[id] = r
	}
	if r.ID == "" {
		return nil, nil
	}
	return &r, nil
}

// InsertRequest keeps the request for Flush: a request id the database has
// already is a Conflict from Flush or Commit (reading first would cost a
// statement for every request, to find what never happens).
func (t *tx) InsertRequest(r ledger.Request) error {
	if old := t.c.requests[r.ID]; old.ID != "" {
		return tilgang.Errorf(tilgang.Conflict, "ledger: request %s is recorded already", r.ID)
	}
	t.c.requests[r.ID] = r
	t.c.dirtyRequests = append(t.c.dirtyRequests, r.ID)
	return nil
}

// ---- grants ----

const grantCols = `id, person, system, role, state, open, request_id, requester, stage, stage_principal, approvers, valid_until, revoke_after, revoke_cause, entitlements, catalogue, created, updated`

func scanGrant(sc interface{ Scan(...any) error }) (*ledger.Grant, error) {
	var (
		g                       ledger.Grant
		state, approvers, until string
		ents                    string
		open, revokeAfter       int
		created, updated        int64
	)
	if err := sc.Scan(&g.ID, &g.Person, &g.System, &g.Role, &state, &open, &g.RequestID, &g.Requester, &g.Stage, &g.StagePrincipal,
		&approvers, &until, &revokeAfter, &g.RevokeCause, &ents, &g.Catalogue, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read grant")
	}
	g.State = tilgang.GrantState(state)
	if err := json.Unmarshal([]byte(approvers), &g.Approvers); err != nil {
		return nil, corrupt("grant", g.ID, "approvers", err)
	}
	if err := json.Unmarshal([]byte(ents), &g.Entitlements); err != nil {
		return nil, corrupt("grant", g.ID, "entitlements", err)
	}
	if until != "" {
		var err error
		if g.ValidUntil, err = tilgang.ParseDate(until); err != nil {
			return nil, corrupt("grant", g.ID, "valid_until", err)
		}
	}
	g.RevokeAfter = revokeAfter == 1
	g.Created, g.Updated = fromMS(created), fromMS(updated)
	return &g, nil
}

func grantArgs(g ledger.Grant) []any {
	open := 1
	if g.State.Final() {
		open = 0
	}
	if g.Approvers == nil {
		g.Approvers = []string{}
	}
	if g.Entitlements == nil {
		g.Entitlements = map[string][]string{}
	}
	return []any{g.ID, g.Person, g.System, g.Role, string(g.State), open, g.RequestID, g.Requester, g.Stage, g.StagePrincipal,
		mustJSON(g.Approvers), g.ValidUntil.String(), b2i(g.RevokeAfter), g.RevokeCause, mustJSON(g.Entitlements), g.Catalogue, ms(g.Created), ms(g.Updated)}
}

func (t *tx) Grant(id string) (*ledger.Grant, error) {
	g, err := t.grant(id)
	return copyGrant(g), err
}

// grant is the cached grant, read and locked on a miss; nil when there is
// none.
func (t *tx) grant(id string) (*ledger.Grant, error) {
	if g, ok := t.c.grants[id]; ok {
		return g, nil
	}
	row, err := t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = ? FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	g, err := scanGrant(row)
	if err != nil || g == nil {
		return nil, err
	}
	t.c.putGrant(g)
	return g, nil
}

func (t *tx) OpenGrant(person, system, role string) (*ledger.Grant, error) {
	if err := t.load(person); err != nil {
		return nil, err
	}
	return t.c.openGrant(person, system, role), nil
}

func (t *tx) GrantsOf(person string) ([]ledger.Grant, error) {
	if err := t.load(person); err != nil {
		return nil, err
	}
	return t.c.grantsOf(person), nil
}

func collectGrants(rows *sql.Rows) ([]ledger.Grant, error) {
	defer rows.Close()
	var out []ledger.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, classify(rows.Err(), "read grants")
}

// InsertGrant checks the one-open-grant rule against the person's open
// grants, all of which the cache holds once the person is loaded.
func (t *tx) InsertGrant(g ledger.Grant) error {
	if err := t.load(g.Person); err != nil {
		return err
	}
	if _, ok := t.c.grants[g.ID]; ok {
		return tilgang.Errorf(tilgang.Conflict, "ledger: grant %s exists already", g.ID)
	}
	if err := t.c.singleOpen(g); err != nil {
		return err
	}
	t.c.putGrant(copyGrant(&g))
	t.c.dirtyGrants.add(g.ID)
	t.c.complete[g.ID] = true
	return nil
}

func (t *tx) UpdateGrant(g ledger.Grant) error {
	if err := t.load(g.Person); err != nil {
		return err
	}
	old, err := t.grant(g.ID)
	if err != nil {
		return err
	}
	if old == nil {
		return tilgang.Errorf(tilgang.NotFound, "ledger: grant %s does not exist", g.ID)
	}
	if old.Person != g.Person {
		return tilgang.Errorf(tilgang.Internal, "ledger: grant %s is %s's, not %s's", g.ID, old.Person, g.Person)
	}
	if err := t.c.singleOpen(g); err != nil {
		return err
	}
	t.c.grants[g.ID] = copyGrant(&g)
	t.c.dirtyGrants.add(g.ID)
	return nil
}

// ---- operations ----

const opCols = `id, grant_id, person, connector, kind, entitlement, state, due_at, next_at, seq, attempts, token, holder, claim_until, target, disabled, last_error, created, updated`

func scanOp(sc interface{ Scan(...any) error }) (*ledger.Operation, error) {
	var (
		o                                        ledger.Operation
		state, target                            string
		due, next, seq, claimUntil, created, upd int64
		disabled                                 int
	)
	if err := sc.Scan(&o.ID, &o.GrantID, &o.Person, &o.Connector, &o.Kind, &o.Entitlement, &state, &due, &next, &seq, &o.Attempts,
		&o.Token, &o.Holder, &claimUntil, &target, &disabled, &o.LastError, &created, &upd); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read operation")
	}
	o.State = ledger.OpState(state)
	o.DueAt, o.NextAt, o.Seq, o.ClaimUntil = fromMS(due), fromMS(next), uint64(seq), fromMS(claimUntil)
	o.Disabled = disabled == 1
	o.Created, o.Updated = fromMS(created), fromMS(upd)
	if target != "" && target != "null" {
		if err := json.Unmarshal([]byte(target), &o.Target); err != nil {
			return nil, corrupt("operation", strconv.FormatInt(o.ID, 10), "target", err)
		}
	}
	return &o, nil
}

func targetJSON(r connectors.Ref) string {
	if r == nil {
		return ""
	}
	return mustJSON(r)
}

func (t *tx) Operation(id int64) (*ledger.Operation, error) {
	o, err := t.operation(id)
	if err != nil || o == nil {
		return nil, err
	}
	return copyOp(o), nil
}

// operation is the cached operation, read and locked on a miss; nil when
// there is none.
func (t *tx) operation(id int64) (*ledger.Operation, error) {
	if o, ok := t.c.ops[id]; ok {
		return o, nil
	}
	row, err := t.queryRow(`SELECT `+opCols+` FROM operations WHERE id = ? FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	o, err := scanOp(row)
	if err != nil || o == nil {
		return nil, err
	}
	t.c.putOp(o)
	return o, nil
}

func (t *tx) InsertOperation(o ledger.Operation) (int64, error) {
	if o.State == "" {
		o.State = ledger.OpQueued
	}
	id, err := t.allocate()
	if err != nil {
		return 0, err
	}
	o.ID = id
	t.c.putOp(copyOp(&o))
	t.c.dirtyOps.add(id)
	return id, nil
}

// UpdateOperation checks the token against the cached operation: read on a
// miss, it is locked, so the check holds until Commit.
func (t *tx) UpdateOperation(o ledger.Operation, expectToken int64) error {
	old, err := t.operation(o.ID)
	if err != nil {
		return err
	}
	if old == nil {
		if expectToken != 0 {
			return tilgang.Errorf(tilgang.Conflict, "ledger: operation %d is no longer claimed with token %d", o.ID, expectToken)
		}
		return tilgang.Errorf(tilgang.NotFound, "ledger: operation %d does not exist", o.ID)
	}
	if expectToken != 0 && (old.Token != expectToken || old.State != ledger.OpClaimed) {
		return tilgang.Errorf(tilgang.Conflict, "ledger: operation %d is no longer claimed with token %d", o.ID, expectToken)
	}
	// The columns UpdateOperation writes; the rest stay as stored.
	n := copyOp(old)
	n.State, n.DueAt, n.NextAt, n.Attempts, n.Token, n.Holder, n.ClaimUntil = o.State, o.DueAt, o.NextAt, o.Attempts, o.Token, o.Holder, o.ClaimUntil
	n.Target, n.Disabled, n.LastError, n.Updated = maps.Clone(o.Target), o.Disabled, o.LastError, o.Updated
	t.c.putOp(n)
	t.c.dirtyOps.add(o.ID)
	return nil
}

func collectOps(rows *sql.Rows) ([]ledger.Operation, error) {
	defer rows.Close()
	var out []ledger.Operation
	for rows.Next() {
		o, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, classify(rows.Err(), "read operations")
}

// OperationsOf reads the grant's stored operations unless the cache has
// them all (an open grant of a loaded person, or one inserted here), and
// lays the cached ones over them.
func (t *tx) OperationsOf(grantID string) ([]ledger.Operation, error) {
	var stored []ledger.Operation
	if !t.c.complete[grantID] {
		rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE grant_id = ? ORDER BY due_at, seq, id FOR UPDATE`, grantID)
		if err != nil {
			return nil, err
		}
		if stored, err = collectOps(rows); err != nil {
			return nil, err
		}
	}
	return t.c.overlay(stored, t.c.opsOfGrant[grantID], func(o *ledger.Operation) bool { return o.GrantID == grantID }), nil
}

// PersonOperations answers from the cache when only unfinished states are
// asked for (a loaded person's are all cached); otherwise it reads the
// person's stored operations and lays the cached ones over them.
func (t *tx) PersonOperations(person string, states ...ledger.OpState) ([]ledger.Operation, error) {
	var stored []ledger.Operation
	if len(states) > 0 && !slices.ContainsFunc(states, func(s ledger.OpState) bool { return !pending(s) }) {
		if err := t.load(person); err != nil {
			return nil, err
		}
	} else {
		rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE person = ? ORDER BY due_at, seq, id FOR UPDATE`, person)
		if err != nil {
			return nil, err
		}
		if stored, err = collectOps(rows); err != nil {
			return nil, err
		}
	}
	return t.c.overlay(stored, t.c.opsOf[person], func(o *ledger.Operation) bool {
		return o.Person == person && (len(states) == 0 || slices.Contains(states, o.State))
	}), nil
}

// ---- accounts ----

func scanAccount(sc interface{ Scan(...any) error }) (*ledger.AccountRow, error) {
	var (
		a       ledger.AccountRow
		ref     string
		enabled int
		upd     int64
	)
	if err := sc.Scan(&a.Person, &a.Connector, &ref, &enabled, &upd); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read account")
	}
	if err := json.Unmarshal([]byte(ref), &a.Ref); err != nil {
		return nil, corrupt("account", a.Person+"/"+a.Connector, "ref", err)
	}
	a.Enabled, a.Updated = enabled == 1, fromMS(upd)
	return &a, nil
}

func (t *tx) Account(person, connector string) (*ledger.AccountRow, error) {
	if err := t.load(person); err != nil {
		return nil, err
	}
	a := t.c.accounts[acctKey{person, connector}]
	if a == nil {
		return nil, nil
	}
	c := *a
	c.Ref = maps.Clone(a.Ref)
	return &c, nil
}

func (t *tx) PutAccount(a ledger.AccountRow) error {
	c := a
	c.Ref = maps.Clone(a.Ref)
	t.c.accounts[acctKey{a.Person, a.Connector}] = &c
	t.c.dirtyAccounts.add(acctKey{a.Person, a.Connector})
	return nil
}

func (t *tx) AccountsOf(person string) ([]ledger.AccountRow, error) {
	if err := t.load(person); err != nil {
		return nil, err
	}
	var out []ledger.AccountRow
	for k, a := range t.c.accounts {
		if k.person == person {
			c := *a
			c.Ref = maps.Clone(a.Ref)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector < out[j].Connector })
	return out, nil
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
		events = append(events, []any{e.Kind, person, mustJSON(data), ms(e.At), 0})
	}
	if err := t.insertRows(`INSERT INTO events (kind, person, data, at, published) VALUES `, events, ""); err != nil {
		return err
	}
	t.events = t.events[:0]
	return nil
}

func (t *tx) appendChain() error {
	row, err := t.queryRow(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`) // the chain never forks
	if err != nil {
		return err
	}
	var head ledger.Head
	if err := row.Scan(&head.Seq, &head.Hash); err != nil {
		return classify(err, "read chain head")
	}
	var texts, rows [][]any
	seen := map[string]bool{}
	for _, e := range t.audit {
		textHash := ""
		if e.Text != "" {
			textHash = sha256hex([]byte(e.Text))
			if !seen[textHash] {
				seen[textHash] = true
				texts = append(texts, []any{textHash, e.Text})
			}
		}
		head.Seq++
		c := canonicalOf(head.Seq, head.Hash, e, textHash)
		head.Hash = sha256hex(c)
		rows = append(rows, []any{head.Seq, head.Hash, string(c), e.Person, e.System, ms(e.At)})
	}
	if err := t.insertRows(`INSERT INTO texts (hash, text) VALUES `, texts, ` ON CONFLICT (hash) DO NOTHING`); err != nil {
		return err
	}
	if err := t.insertRows(`INSERT INTO audit (seq, hash, canonical, person, system, at) VALUES `, rows, ""); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head.Seq, head.Hash)
	return err
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

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// canon is the chained form of an audit entry. Field order is fixed and
// encoding/json sorts map keys, so the bytes are canonical.
type canon struct {
	Seq       int64             `json:"seq"`
	Prev      string            `json:"prev"`
	At        string            `json:"at"`
	Kind      string            `json:"kind"`
	Person    string            `json:"person,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Via       string            `json:"via,omitempty"`
	System    string            `json:"system,omitempty"`
	Role      string            `json:"role,omitempty"`
	GrantID   string            `json:"grant_id,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	OpID      int64             `json:"operation_id,omitempty"`
	From      string            `json:"from,omitempty"`
	To        string            `json:"to,omitempty"`
	Catalogue string            `json:"catalogue,omitempty"`
	FileHash  string            `json:"file_hash,omitempty"`
	TextHash  string            `json:"text_hash,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

func canonicalOf(seq int64, prev string, e ledger.AuditEntry, textHash string) []byte {
	return []byte(mustJSON(canon{
		Seq: seq, Prev: prev, At: e.At.UTC().Format(time.RFC3339Nano), Kind: e.Kind, Person: e.Person, Actor: e.Actor, Via: e.Via,
		System: e.System, Role: e.Role, GrantID: e.GrantID, RequestID: e.RequestID, OpID: e.OpID, From: e.From, To: e.To,
		Catalogue: e.Catalogue, FileHash: e.FileHash, TextHash: textHash, Details: e.Details,
	}))
}

func entryOf(c canon) ledger.AuditEntry {
	at, _ := time.Parse(time.RFC3339Nano, c.At)
	return ledger.AuditEntry{At: at, Kind: c.Kind, Person: c.Person, Actor: c.Actor, Via: c.Via, System: c.System, Role: c.Role,
		GrantID: c.GrantID, RequestID: c.RequestID, OpID: c.OpID, From: c.From, To: c.To, Catalogue: c.Catalogue, FileHash: c.FileHash, Details: c.Details}
}

// ---- claims ----

func (s *Store) Claim(ctx context.Context, holder string, now time.Time, lease time.Duration, n int) ([]ledger.Operation, error) {
	nowMS := ms(now)
	// A lapsed claim goes back to the queue first; its holder's late result
	// is refused by the token check (UpdateOperation wants state claimed).
	// Claims lapse only when an executor died, so this looks at most once a
	// second (by the caller's clock), not at every claim.
	if last := s.lapsedChecked.Load(); nowMS-last >= 1000 || nowMS < last {
		lapsed, err := s.stmt(ctx, `UPDATE operations SET state = 'queued', holder = '' WHERE state = 'claimed' AND claim_until < ?`)
		if err != nil {
			return nil, err
		}
		if _, err := lapsed.ExecContext(ctx, nowMS); err != nil {
			return nil, classify(err, "claim: release lapsed")
		}
		s.lapsedChecked.Store(nowMS)
	}
	// An operation is claimable when it is queued, due, past its retry time,
	// and no earlier due operation of the same person and connector is still
	// unfinished: per-(person, connector) order. The queue is read a window
	// at a time, in order (the operations_order index): a claim costs what
	// it looks at, not the length of the queue, and a window of operations
	// all waiting behind others moves on to the next.
	window := max(4*n, 64)
	next, err := s.stmt(ctx, `SELECT due_at, seq, id FROM operations
		WHERE state = 'queued' AND due_at <= ? AND next_at <= ? AND (due_at, seq, id) > (?, ?, ?)
		ORDER BY state, due_at, seq, id LIMIT ?`)
	if err != nil {
		return nil, err
	}
	claim, err := s.stmt(ctx, `UPDATE operations SET state = 'claimed', holder = ?, claim_until = ?, token = token + 1, attempts = attempts + 1, updated = ?
		WHERE id IN (
			SELECT o.id FROM operations o
			WHERE o.state = 'queued' AND o.due_at <= ? AND o.next_at <= ? AND (o.due_at, o.seq, o.id) > (?, ?, ?) AND (o.due_at, o.seq, o.id) <= (?, ?, ?)
			AND NOT EXISTS (
				SELECT 1 FROM operations p
				WHERE p.person = o.person AND p.connector = o.connector
				AND p.state IN ('queued', 'claimed', 'waiting') AND p.due_at <= ?
				AND (p.due_at < o.due_at OR (p.due_at = o.due_at AND (p.seq < o.seq OR (p.seq = o.seq AND p.id < o.id)))))
			ORDER BY o.state, o.due_at, o.seq, o.id LIMIT ? FOR UPDATE SKIP LOCKED)
		RETURNING `+opCols)
	if err != nil {
		return nil, err
	}
	var ops []ledger.Operation
	after := [3]int64{-1 << 62, -1 << 62, -1 << 62} // (due_at, seq, id) before the window
	for len(ops) < n {
		var last [3]int64
		rows, err := next.QueryContext(ctx, nowMS, nowMS, after[0], after[1], after[2], window)
		if err != nil {
			return nil, classify(err, "claim: read the queue")
		}
		seen := 0
		for rows.Next() {
			if err := rows.Scan(&last[0], &last[1], &last[2]); err != nil {
				rows.Close()
				return nil, classify(err, "claim: read the queue")
			}
			seen++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err, "claim: read the queue")
		}
		if seen == 0 {
			break
		}
		rows, err = claim.QueryContext(ctx, holder, ms(now.Add(lease)), nowMS, nowMS, nowMS, after[0], after[1], after[2],
			last[0], last[1], last[2], nowMS, n-len(ops))
		if err != nil {
			return nil, classify(err, "claim")
		}
		got, err := collectOps(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, got...)
		if seen < window {
			break // the end of the queue
		}
		after = last
	}
	sort.Slice(ops, func(i, j int) bool { return opLess(ops[i], ops[j]) })
	return ops, nil
}

func opLess(a, b ledger.Operation) bool {
	if !a.DueAt.Equal(b.DueAt) {
		return a.DueAt.Before(b.DueAt)
	}
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	return a.ID < b.ID
}

func (s *Store) ReleaseClaims(ctx context.Context, holder string) (int64, error) {
	res, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE operations SET state = 'queued', claim_until = 0, holder = '' WHERE state = 'claimed' AND holder = ?`), holder)
	if err != nil {
		return 0, classify(err, "release claims")
	}
	return res.RowsAffected()
}

func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	// Only the first unfinished operation of each (person, connector) counts:
	// the ones behind it wait for it to finish, not for a time, and their
	// past due times would have executors poll without pause while a
	// manual task waits.
	err := s.read.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(CASE WHEN o.next_at > o.due_at THEN o.next_at ELSE o.due_at END)
		FROM operations o WHERE o.state = 'queued' AND NOT EXISTS (
			SELECT 1 FROM operations p
			WHERE p.person = o.person AND p.connector = o.connector AND p.state IN ('queued', 'claimed', 'waiting')
			AND (p.due_at < o.due_at OR (p.due_at = o.due_at AND (p.seq < o.seq OR (p.seq = o.seq AND p.id < o.id)))))`)).Scan(&v)
	if err != nil {
		return time.Time{}, classify(err, "next due")
	}
	var lapse sql.NullInt64
	err = s.read.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(claim_until) FROM operations WHERE state = 'claimed'`)).Scan(&lapse)
	if err != nil {
		return time.Time{}, classify(err, "next due")
	}
	t := v.Int64
	if lapse.Valid && (t == 0 || lapse.Int64 < t) {
		t = lapse.Int64
	}
	return fromMS(t), nil
}

// ---- events ----

func (s *Store) PendingEvents(ctx context.Context, n int) ([]ledger.Event, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT id, kind, person, data, at FROM events WHERE published = 0 ORDER BY id LIMIT ?`), n)
	if err != nil {
		return nil, classify(err, "pending events")
	}
	defer rows.Close()
	var out []ledger.Event
	for rows.Next() {
		var (
			e    ledger.Event
			data string
			at   int64
		)
		if err := rows.Scan(&e.ID, &e.Kind, &e.Person, &data, &at); err != nil {
			return nil, classify(err, "pending events")
		}
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, corrupt("event", strconv.FormatInt(e.ID, 10), "data", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, classify(rows.Err(), "pending events")
}

func (s *Store) MarkPublished(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE events SET published = 1 WHERE id IN (`+ph+`)`), args...)
	return classify(err, "mark published")
}
