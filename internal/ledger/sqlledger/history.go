package sqlledger

import (
	"sort"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Reads of a person's history inside a transaction: what this transaction
// wrote and has not sent yet (a loaded person's rows wait in the cache
// until Commit) is merged with what is stored.

// AllGrantsOf lists all the person's grants, final ones too, oldest first.
func (t *tx) AllGrantsOf(person string) ([]ledger.Grant, error) {
	rows, err := t.query(`SELECT `+grantCols+` FROM grants WHERE person = ? ORDER BY created, id`, person)
	if err != nil {
		return nil, err
	}
	stored, err := collectGrants(rows)
	if err != nil || t.c == nil {
		return stored, err
	}
	out := make([]ledger.Grant, 0, len(stored))
	seen := make(map[string]bool, len(stored))
	for _, g := range stored {
		seen[g.ID] = true
		if c, ok := t.c.grants[g.ID]; ok {
			g = *copyGrant(c)
		}
		out = append(out, g)
	}
	for _, id := range t.c.byPerson[person] {
		if !seen[id] {
			out = append(out, *copyGrant(t.c.grants[id]))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// GrantRequests lists the person's requests recorded for grantID, oldest
// first.
func (t *tx) GrantRequests(person, grantID string) ([]ledger.Request, error) {
	rows, err := t.query(`SELECT `+requestCols+` FROM requests WHERE person = ? AND grant_id = ? ORDER BY seq, at, id`, person, grantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Request
	seen := map[string]bool{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		seen[r.ID] = true
		out = append(out, *r)
	}
	if err := classify(rows.Err(), "read requests"); err != nil {
		return nil, err
	}
	if t.c != nil {
		for _, id := range t.c.dirtyRequests {
			if r := t.c.requests[id]; r.Person == person && r.GrantID == grantID && !seen[id] {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
