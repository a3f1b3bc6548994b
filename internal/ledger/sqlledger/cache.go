package sqlledger

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// cache holds what one transaction has read and what it has written. A
// read is answered from it, and a miss reads the database and fills it;
// a write changes it and marks the row dirty, to be sent at Flush or
// Commit in a few multi-row statements.
//
// A loaded person is one whose rows it holds all of that the person-wide
// reads need: their record, open grants, unfinished operations (and all of
// the open grants' operations) and accounts. Those reads load the person
// on a miss, a Load loads many at once. Rows read on their own (a grant or
// an operation by id, another person's record) are cached too.
//
// The rule that keeps it correct: a dirty row is newer than the database's,
// so reading the database again (loading a person later) never replaces
// it; a clean row is what the database has, and may be replaced.
type cache struct {
	people   map[string]*ledger.PersonRow // records read or written; nil when there is no record
	loaded   map[string]bool              // people whose rows are all here
	grants   map[string]*ledger.Grant
	byPerson map[string][]string // person -> ids of their cached grants
	ops      map[int64]*ledger.Operation
	opsOf    map[string][]int64 // person -> ids of their cached operations
	accounts map[acctKey]*ledger.AccountRow
	keys     map[string]string             // idempotency keys read -> payload hash, "" when not stored
	requests map[string]ledger.Request     // requests read or written; the zero Request when there is none
	complete map[string]bool               // grants all of whose operations are cached
	history  map[string][]ledger.Operation // person -> all of their stored operations, as read (LoadHistory)

	dirtyPeople   keyed[string]
	dirtyGrants   keyed[string]
	dirtyOps      keyed[int64]
	dirtyAccounts keyed[acctKey]
	messages      []ledger.Message // new idempotency keys
	dirtyRequests []string

	ids []int64 // operation ids allocated and not yet used
}

type acctKey struct{ person, connector string }

// keyed is a set that remembers the order keys were first added in: rows
// are written in the order they were first changed, so a grant that leaves
// the one-open-grant index is written before the grant that takes its place.
type keyed[K comparable] struct {
	order []K
	seen  map[K]bool
}

func (k *keyed[K]) has(key K) bool { return k.seen[key] }

// clear forgets the keys (their rows were sent).
func (k *keyed[K]) clear() {
	k.order = k.order[:0]
	clear(k.seen)
}

func (k *keyed[K]) add(key K) {
	if k.seen == nil {
		k.seen = map[K]bool{}
	}
	if !k.seen[key] {
		k.seen[key] = true
		k.order = append(k.order, key)
	}
}

func newCache() *cache {
	return &cache{people: map[string]*ledger.PersonRow{}, loaded: map[string]bool{}, grants: map[string]*ledger.Grant{},
		byPerson: map[string][]string{}, ops: map[int64]*ledger.Operation{}, opsOf: map[string][]int64{},
		accounts: map[acctKey]*ledger.AccountRow{}, keys: map[string]string{}, requests: map[string]ledger.Request{}, complete: map[string]bool{},
		history: map[string][]ledger.Operation{}}
}

// putGrant caches a grant (replacing its cached version).
func (c *cache) putGrant(g *ledger.Grant) {
	if _, ok := c.grants[g.ID]; !ok {
		c.byPerson[g.Person] = append(c.byPerson[g.Person], g.ID)
	}
	c.grants[g.ID] = g
}

// putOp caches an operation (replacing its cached version).
func (c *cache) putOp(o *ledger.Operation) {
	if _, ok := c.ops[o.ID]; !ok {
		c.opsOf[o.Person] = append(c.opsOf[o.Person], o.ID)
	}
	c.ops[o.ID] = o
}

func copyGrant(g *ledger.Grant) *ledger.Grant {
	if g == nil {
		return nil
	}
	c := *g
	c.Approvers = slices.Clone(g.Approvers)
	if g.Entitlements != nil {
		c.Entitlements = make(map[string][]string, len(g.Entitlements))
		for k, v := range g.Entitlements {
			c.Entitlements[k] = slices.Clone(v)
		}
	}
	return &c
}

func copyOp(o *ledger.Operation) *ledger.Operation {
	c := *o
	c.Target = maps.Clone(o.Target)
	return &c
}

func copyPerson(p *ledger.PersonRow) *ledger.PersonRow {
	if p == nil {
		return nil
	}
	c := *p
	c.Person.Employments = slices.Clone(p.Person.Employments)
	return &c
}

// pending reports whether an operation is unfinished (Load caches those).
func pending(s ledger.OpState) bool {
	return s == ledger.OpQueued || s == ledger.OpClaimed || s == ledger.OpWaiting
}

// Load reads the rows of the people (record, open grants, unfinished
// operations, accounts) and the idempotency keys in five statements. On
// PostgreSQL the people's rows are locked, operations first as the
// executor does, so a concurrent executor waits for this transaction
// instead of overwriting it.
func (t *tx) Load(persons, keys []string) error {
	if people := notIn(persons, t.c.loaded); len(people) > 0 {
		if err := t.loadPeople(people); err != nil {
			return err
		}
	}
	if want := notIn(keys, t.c.keys); len(want) > 0 {
		return t.loadKeys(want)
	}
	return nil
}

// load loads the person unless the cache has them already.
func (t *tx) load(person string) error {
	if t.c.loaded[person] {
		return nil
	}
	return t.loadPeople([]string{person})
}

// loadKeys reads idempotency keys. A message row is never changed once
// written: not locked.
func (t *tx) loadKeys(want []string) error {
	c := t.c
	rows, err := t.query(`SELECT key, payload_hash FROM messages WHERE `+t.s.d.anyOf("key"), t.s.d.list(want))
	if err != nil {
		return err
	}
	defer rows.Close()
	for _, k := range want {
		c.keys[k] = ""
	}
	for rows.Next() {
		var k, h string
		if err := rows.Scan(&k, &h); err != nil {
			return classify(err, "load messages")
		}
		c.keys[k] = h
	}
	return classify(rows.Err(), "load messages")
}

func (t *tx) loadPeople(people []string) error {
	c, arg := t.c, t.s.d.list(people)
	// "state || ''" keeps the planners on the person index: by state they
	// would walk every unfinished operation, a long list when a connector is
	// behind.
	// The unfinished operations, and all of the open grants' (whether a
	// grant is finished is read from them).
	rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE `+t.s.d.anyOf("person")+` AND ((state || '') IN ('queued', 'claimed', 'waiting')
		OR grant_id IN (SELECT id FROM grants WHERE `+t.s.d.anyOf("person")+` AND open = 1)) ORDER BY id FOR UPDATE`, arg, arg)
	if err != nil {
		return err
	}
	ops, err := collectOps(rows)
	if err != nil {
		return err
	}
	rows, err = t.query(`SELECT `+grantCols+` FROM grants WHERE `+t.s.d.anyOf("person")+` AND open = 1 ORDER BY id FOR UPDATE`, arg)
	if err != nil {
		return err
	}
	grants, err := collectGrants(rows)
	if err != nil {
		return err
	}
	rows, err = t.query(`SELECT `+personCols+` FROM persons WHERE `+t.s.d.anyOf("id")+` ORDER BY id FOR UPDATE`, arg)
	if err != nil {
		return err
	}
	var found []*ledger.PersonRow
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			rows.Close()
			return err
		}
		found = append(found, p)
	}
	rows.Close()
	if err := classify(rows.Err(), "load persons"); err != nil {
		return err
	}
	rows, err = t.query(`SELECT person, connector, ref, enabled, updated FROM accounts WHERE `+t.s.d.anyOf("person")+` ORDER BY person, connector FOR UPDATE`, arg)
	if err != nil {
		return err
	}
	var accts []*ledger.AccountRow
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return err
		}
		accts = append(accts, a)
	}
	rows.Close()
	if err := classify(rows.Err(), "load accounts"); err != nil {
		return err
	}
	// What this transaction changed already stays as it is.
	for _, p := range people {
		c.loaded[p] = true
		if !c.dirtyPeople.has(p) {
			c.people[p] = nil
		}
	}
	for _, p := range found {
		if !c.dirtyPeople.has(p.Person.ID) {
			c.people[p.Person.ID] = p
		}
	}
	for i := range ops {
		if !c.dirtyOps.has(ops[i].ID) {
			c.putOp(&ops[i])
		}
	}
	for i := range grants {
		if !c.dirtyGrants.has(grants[i].ID) {
			c.putGrant(&grants[i])
		}
		c.complete[grants[i].ID] = true
	}
	for _, a := range accts {
		if k := (acctKey{a.Person, a.Connector}); !c.dirtyAccounts.has(k) {
			c.accounts[k] = a
		}
	}
	return nil
}

// notIn is vals without repeats and without those m has.
func notIn[V any](vals []string, m map[string]V) []string {
	var out []string
	var seen map[string]bool // made only when there is something to add
	for _, v := range vals {
		if _, ok := m[v]; ok || seen[v] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool, len(vals))
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// anyOf is "col is one of the list", the list passed as one argument
// (list), so the statement's text is the same for any number of values.
func (d dialect) anyOf(col string) string {
	if d.postgres {
		return col + " = ANY(?)"
	}
	return col + " IN (SELECT value FROM json_each(?))"
}

func (d dialect) list(vals []string) any {
	if d.postgres {
		return vals
	}
	b, _ := json.Marshal(vals)
	return string(b)
}

// ---- reads and writes through the cache ----

// recordMessage records a message whose key the cache has read.
func (c *cache) recordMessage(m ledger.Message) ledger.MsgOutcome {
	switch h := c.keys[m.Key]; h {
	case "":
		c.keys[m.Key] = m.PayloadHash
		c.messages = append(c.messages, m)
		return ledger.MsgNew
	case m.PayloadHash:
		return ledger.MsgDuplicate
	}
	return ledger.MsgConflict
}

// counted reports whether the grant counts for the one-open-grant rule
// (the grants_single_open index).
func counted(g *ledger.Grant) bool {
	return !g.State.Final() && g.State != tilgang.StateRevoking && g.State != tilgang.StateRevokeFailed && !g.RevokeAfter
}

func (c *cache) openGrant(person, system, role string) *ledger.Grant {
	for _, id := range c.byPerson[person] {
		if g := c.grants[id]; g.System == system && g.Role == role && counted(g) {
			return copyGrant(g)
		}
	}
	return nil
}

// singleOpen checks the one-open-grant rule at once, as the index would:
// the cache holds every open grant of a loaded person.
func (c *cache) singleOpen(g ledger.Grant) error {
	if !counted(&g) {
		return nil
	}
	if o := c.openGrant(g.Person, g.System, g.Role); o != nil && o.ID != g.ID {
		return tilgang.Errorf(tilgang.Conflict, "ledger: grant %s: %s already has open grant %s of %s/%s", g.ID, g.Person, o.ID, g.System, g.Role)
	}
	return nil
}

func (c *cache) grantsOf(person string) []ledger.Grant {
	var out []ledger.Grant
	for _, id := range c.byPerson[person] {
		if g := c.grants[id]; !g.State.Final() {
			out = append(out, *copyGrant(g))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// overlay merges a query's rows from the database with this transaction's
// cached operations: a cached row replaces its stored version, and the
// cached rows among ids that the database does not have yet (inserted
// here) are added when match holds. The result is in the ledger's
// operation order.
func (c *cache) overlay(stored []ledger.Operation, ids []int64, match func(*ledger.Operation) bool) []ledger.Operation {
	out := make([]ledger.Operation, 0, len(stored))
	seen := make(map[int64]bool, len(stored))
	for _, o := range stored {
		seen[o.ID] = true
		if co, ok := c.ops[o.ID]; ok {
			if match(co) {
				out = append(out, *copyOp(co))
			}
			continue
		}
		if match(&o) {
			out = append(out, o)
		}
	}
	for _, id := range ids {
		if co := c.ops[id]; !seen[id] && match(co) {
			out = append(out, *copyOp(co))
		}
	}
	sortOps(out)
	return out
}

// grantOps are the ids of the cached operations that may be the grant's:
// its person's, when the grant or one of its stored operations names them.
func (c *cache) grantOps(grantID string, stored []ledger.Operation) []int64 {
	if g, ok := c.grants[grantID]; ok {
		return c.opsOf[g.Person]
	}
	if len(stored) > 0 {
		return c.opsOf[stored[0].Person]
	}
	ids := make([]int64, 0, len(c.ops))
	for id := range c.ops {
		ids = append(ids, id)
	}
	return ids
}

func sortOps(ops []ledger.Operation) {
	sort.Slice(ops, func(i, j int) bool { return opLess(ops[i], ops[j]) })
}

// ---- flushing ----

// flush writes the rows the transaction changed, in multi-row statements.
// They stay cached, clean now.
func (t *tx) flush() error {
	c := t.c
	if t.s.d.postgres && !t.planned && (len(c.messages) > 0 || len(c.dirtyRequests) > 0 || len(c.dirtyPeople.order) > 0 ||
		len(c.dirtyGrants.order) > 0 || len(c.dirtyOps.order) > 0 || len(c.dirtyAccounts.order) > 0 || len(t.events) > 0 || len(t.audit) > 0) {
		t.planned = true
		// The multi-row statements below read no table to choose a plan
		// for: their generic plans are as good as any, and planning a
		// hundred rows of arguments anew each time is not free.
		if _, err := t.tx.ExecContext(t.ctx, `SET LOCAL plan_cache_mode = auto`); err != nil {
			return classify(err, "flush")
		}
	}
	var rows [][]any
	for _, m := range c.messages {
		rows = append(rows, []any{m.Key, m.PayloadHash, m.Type, m.Person, m.Actor, int64(m.Seq), ms(m.At)})
	}
	if err := t.insertRows(`INSERT INTO messages (key, payload_hash, type, person, actor, seq, at) VALUES `, rows, ""); err != nil {
		return err
	}
	rows = rows[:0]
	for _, id := range c.dirtyPeople.order {
		p := c.people[id]
		rows = append(rows, []any{p.Person.ID, p.Version, mustJSON(p.Person), ms(p.LeaveAt), p.LeaveOp, b2i(p.Left), ms(p.Updated)})
	}
	if err := t.insertRows(`INSERT INTO persons (`+personCols+`) VALUES `, rows, ` ON CONFLICT (id) DO UPDATE SET version = excluded.version,
		record = excluded.record, leave_at = excluded.leave_at, leave_op = excluded.leave_op, has_left = excluded.has_left, updated = excluded.updated`); err != nil {
		return err
	}
	rows = rows[:0]
	for _, id := range c.dirtyRequests {
		r := c.requests[id]
		rows = append(rows, []any{r.ID, r.Person, r.System, r.Role, r.Action, r.Actor, r.Via, r.GrantID, r.Outcome, r.Reason, r.Why,
			r.ValidUntil.String(), int64(r.Seq), ms(r.At)})
	}
	if err := t.insertRows(`INSERT INTO requests (`+requestCols+`) VALUES `, rows, ""); err != nil {
		return err
	}
	rows = rows[:0]
	for _, id := range c.dirtyGrants.order {
		rows = append(rows, grantArgs(*c.grants[id]))
	}
	if err := t.insertRows(`INSERT INTO grants (`+grantCols+`) VALUES `, rows, ` ON CONFLICT (id) DO UPDATE SET person = excluded.person,
		system = excluded.system, role = excluded.role, state = excluded.state, open = excluded.open, request_id = excluded.request_id,
		requester = excluded.requester, stage = excluded.stage, stage_principal = excluded.stage_principal, approvers = excluded.approvers,
		valid_until = excluded.valid_until, revoke_after = excluded.revoke_after, revoke_cause = excluded.revoke_cause,
		entitlements = excluded.entitlements, catalogue = excluded.catalogue, created = excluded.created, updated = excluded.updated`); err != nil {
		return err
	}
	rows = rows[:0]
	for _, id := range c.dirtyOps.order {
		rows = append(rows, opArgs(c.ops[id]))
	}
	if err := t.insertRows(`INSERT INTO operations (`+opCols+`) VALUES `, rows, ` ON CONFLICT (id) DO UPDATE SET grant_id = excluded.grant_id, state = excluded.state,
		due_at = excluded.due_at, next_at = excluded.next_at, attempts = excluded.attempts, token = excluded.token, holder = excluded.holder,
		claim_until = excluded.claim_until, target = excluded.target, disabled = excluded.disabled, last_error = excluded.last_error,
		updated = excluded.updated`); err != nil {
		return err
	}
	rows = rows[:0]
	for _, k := range c.dirtyAccounts.order {
		a := c.accounts[k]
		rows = append(rows, []any{a.Person, a.Connector, mustJSON(a.Ref), b2i(a.Enabled), ms(a.Updated)})
	}
	if err := t.insertRows(`INSERT INTO accounts (person, connector, ref, enabled, updated) VALUES `, rows,
		` ON CONFLICT (person, connector) DO UPDATE SET ref = excluded.ref, enabled = excluded.enabled, updated = excluded.updated`); err != nil {
		return err
	}
	c.messages, c.dirtyRequests = c.messages[:0], c.dirtyRequests[:0]
	c.dirtyPeople.clear()
	c.dirtyGrants.clear()
	c.dirtyOps.clear()
	c.dirtyAccounts.clear()
	return nil
}

func opArgs(o *ledger.Operation) []any {
	return []any{o.ID, o.GrantID, o.Person, o.Connector, o.Kind, o.Entitlement, string(o.State), ms(o.DueAt), ms(o.NextAt), int64(o.Seq),
		o.Attempts, o.Token, o.Holder, ms(o.ClaimUntil), targetJSON(o.Target), b2i(o.Disabled), o.LastError, ms(o.Created), ms(o.Updated)}
}

// allocate returns a new operation id: the row is written at Flush, and
// its id is known at once.
func (t *tx) allocate() (int64, error) {
	if len(t.c.ids) == 0 {
		n := 16 + 2*len(t.c.loaded)
		var ids []int64
		if t.s.d.postgres {
			rows, err := t.tx.QueryContext(t.ctx, `SELECT nextval(pg_get_serial_sequence('operations', 'id')) FROM generate_series(1, $1)`, n)
			if err != nil {
				return 0, classify(err, "allocate operation ids")
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return 0, classify(err, "allocate operation ids")
				}
				ids = append(ids, id)
			}
			if err := classify(rows.Err(), "allocate operation ids"); err != nil {
				return 0, err
			}
			slices.Sort(ids)
		} else {
			// One writer: the ids above the highest ever used are this
			// transaction's until it ends.
			var top int64
			err := t.tx.QueryRowContext(t.ctx, `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'operations'), 0),
				COALESCE((SELECT MAX(id) FROM operations), 0), ?)`, t.c.top()).Scan(&top)
			if err != nil {
				return 0, classify(err, "allocate operation ids")
			}
			for i := int64(1); i <= int64(n); i++ {
				ids = append(ids, top+i)
			}
		}
		t.c.ids = ids
	}
	id := t.c.ids[0]
	t.c.ids = t.c.ids[1:]
	return id, nil
}

// top is the highest operation id this transaction has used (SQLite: the
// ones kept for commit are not in the table yet).
func (c *cache) top() int64 {
	var top int64
	for id := range c.ops {
		top = max(top, id)
	}
	return top
}
