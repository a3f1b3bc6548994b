package sqlledger

import (
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"sort"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

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
