package sqlledger

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// beside is what Verify gathers from the chain, as it walks it, to check
// the tables beside the chain against: the grant fields the newest
// grant.state row of each grant chains, the operations the planner
// chained, the rows that chain each free text, and the erasures.
type beside struct {
	grants   map[string]map[string]string // grant -> the chained details of its newest transition
	grantRow map[string]int64
	ops      map[int64]chainedOp
	texts    map[string]textUse // text hash -> its newest row
	erasures []erasure
	held     map[string]*chainedHolding // grant -> its time at the target, as chained
}

// chainedHolding is a grant's holding as its grant.state rows chain it
// (ledger.Holding): seq is the row that moved it to active.
type chainedHolding struct {
	person, system, role string
	from, until          int64 // Unix milliseconds; until 0: not ended
	seq                  int64
}

type chainedOp struct {
	digest string
	seq    int64
}

type textUse struct {
	seq int64
	at  time.Time
}

// erasure is a chained `erasure` entry: free text of rows before `before`
// may be gone.
type erasure struct {
	seq    int64
	before time.Time
}

// ErasureKind is the chained entry of an erasure at the end of retention:
// details {before (a date or an RFC 3339 time), counts}.
const ErasureKind = ledger.ErasureKind

func newBeside() *beside {
	return &beside{grants: map[string]map[string]string{}, grantRow: map[string]int64{}, ops: map[int64]chainedOp{},
		texts: map[string]textUse{}, held: map[string]*chainedHolding{}}
}

// row takes in one verified chain row.
func (b *beside) row(seq int64, c *canon, at time.Time) {
	if c.TextHash != "" {
		b.texts[c.TextHash] = textUse{seq: seq, at: at}
	}
	switch c.Kind {
	case "grant.state":
		switch h := b.held[c.GrantID]; {
		case c.GrantID == "":
		case c.To == string(ledger.HoldingStarts) && h == nil:
			b.held[c.GrantID] = &chainedHolding{person: c.Person, system: c.System, role: c.Role, from: ms(at), seq: seq}
		case ledger.EndsHolding(c.To) && h != nil && h.until == 0:
			h.until = ms(at)
		}
		if c.GrantID != "" {
			if _, ok := c.Details[ledger.GrantRequester]; ok {
				b.grants[c.GrantID], b.grantRow[c.GrantID] = c.Details, seq
			} else {
				delete(b.grants, c.GrantID)
			}
		}
	case planned:
		for k, v := range c.Details {
			var id int64
			if _, err := fmt.Sscanf(k, "op.%d", &id); err == nil && opKey(id) == k {
				b.ops[id] = chainedOp{digest: v, seq: seq}
			}
		}
	case ErasureKind:
		raw := c.Details["before"]
		before, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			before, err = time.Parse(time.DateOnly, raw)
		}
		if err == nil {
			b.erasures = append(b.erasures, erasure{seq: seq, before: before})
		}
	}
}

// erased reports whether a chained erasure, later in the chain than the
// text's newest row, covers the time of that row.
func (b *beside) erased(u textUse) bool {
	for _, e := range b.erasures {
		if e.seq > u.seq && u.at.Before(e.before) {
			return true
		}
	}
	return false
}

// check compares the tables with what the chain recorded; it returns the
// first problem, "" when none.
func (b *beside) check(ctx context.Context, rtx *sql.Tx) (int64, string, error) {
	if seq, problem, err := b.checkTexts(ctx, rtx); err != nil || problem != "" {
		return seq, problem, err
	}
	if seq, problem, err := b.checkGrants(ctx, rtx); err != nil || problem != "" {
		return seq, problem, err
	}
	if seq, problem, err := b.checkOps(ctx, rtx); err != nil || problem != "" {
		return seq, problem, err
	}
	return b.checkHoldings(ctx, rtx)
}

// checkHoldings compares the access register (the holdings table) with
// the grants' moves to active and to revoked or expired that the chain
// records: a row edited, inserted or deleted would change the register.
func (b *beside) checkHoldings(ctx context.Context, rtx *sql.Tx) (int64, string, error) {
	rows, err := rtx.QueryContext(ctx, `SELECT grant_id, person, system, role, from_at, until_at FROM holdings ORDER BY grant_id`)
	if err != nil {
		return 0, "", classify(err, "verify holdings")
	}
	defer rows.Close()
	seen := make(map[string]bool, len(b.held))
	for rows.Next() {
		var (
			id, person, system, role string
			from, until              int64
		)
		if err := rows.Scan(&id, &person, &system, &role, &from, &until); err != nil {
			return 0, "", classify(err, "verify holdings")
		}
		seen[id] = true
		c := b.held[id]
		switch {
		case c == nil:
			return 0, fmt.Sprintf("the access register holds grant %s, which the chain never records as active: inserted", id), nil
		case c.person != person || c.system != system || c.role != role || c.from != from || c.until != until:
			return c.seq, fmt.Sprintf("the access register's row of grant %s (%s in %s/%s, from %s, until %s) is not what the chain records from row %d: edited",
				id, person, system, role, msText(from), msText(until), c.seq), nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", classify(err, "verify holdings")
	}
	var missing []string
	for id := range b.held {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		c := b.held[missing[0]]
		return c.seq, fmt.Sprintf("grant %s became active (row %d) but the access register has no row of it: deleted", missing[0], c.seq), nil
	}
	return 0, "", nil
}

func msText(v int64) string {
	if v == 0 {
		return "-"
	}
	return fromMS(v).Format(time.RFC3339Nano)
}

// checkTexts finds free text that is gone (deleted or nulled) though no
// erasure covers it. Text that is kept but edited is found by Verify.
func (b *beside) checkTexts(ctx context.Context, rtx *sql.Tx) (int64, string, error) {
	if len(b.texts) == 0 {
		return 0, "", nil
	}
	rows, err := rtx.QueryContext(ctx, `SELECT hash FROM texts WHERE text IS NOT NULL`)
	if err != nil {
		return 0, "", classify(err, "verify texts")
	}
	defer rows.Close()
	kept := make(map[string]bool, len(b.texts))
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return 0, "", classify(err, "verify texts")
		}
		kept[h] = true
	}
	if err := rows.Err(); err != nil {
		return 0, "", classify(err, "verify texts")
	}
	var bad int64
	for h, u := range b.texts {
		if !kept[h] && !b.erased(u) && (bad == 0 || u.seq < bad) {
			bad = u.seq
		}
	}
	if bad != 0 {
		return bad, fmt.Sprintf("the free text of row %d is gone and no chained erasure covers it: deleted or nulled", bad), nil
	}
	return 0, "", nil
}

// checkGrants compares each grant's requester, approvers, valid_until and
// entitlements with what its newest transition chained.
func (b *beside) checkGrants(ctx context.Context, rtx *sql.Tx) (int64, string, error) {
	if len(b.grants) == 0 {
		return 0, "", nil
	}
	rows, err := rtx.QueryContext(ctx, `SELECT `+grantCols+` FROM grants ORDER BY id`)
	if err != nil {
		return 0, "", classify(err, "verify grants")
	}
	grants, err := collectGrants(rows)
	if err != nil {
		return 0, "", err
	}
	for _, g := range grants {
		d, ok := b.grants[g.ID]
		if !ok {
			continue
		}
		seq := b.grantRow[g.ID]
		for _, f := range []struct{ name, key, have string }{
			{"requester", ledger.GrantRequester, g.Requester},
			{"approvers", ledger.GrantApprovers, strings.Join(g.Approvers, ",")},
			{"valid_until", ledger.GrantValidUntil, g.ValidUntil.String()},
			{"entitlements", ledger.GrantEntitlements, ledger.DigestEntitlements(g.Entitlements)},
		} {
			if want := d[f.key]; want != f.have {
				if f.name == "entitlements" {
					return seq, fmt.Sprintf("grant %s's entitlements in the grant table are not those the chain records (row %d): edited", g.ID, seq), nil
				}
				return seq, fmt.Sprintf("grant %s's %s is %q in the grant table but %q in the chain (row %d): edited", g.ID, f.name, f.have, want, seq), nil
			}
		}
	}
	return 0, "", nil
}

// checkOps finds operations the chain does not record, or records
// otherwise. Operations older than the first chained one predate
// chaining and are left alone.
func (b *beside) checkOps(ctx context.Context, rtx *sql.Tx) (int64, string, error) {
	if len(b.ops) == 0 {
		return 0, "", nil
	}
	first := int64(-1)
	for id := range b.ops {
		if first < 0 || id < first {
			first = id
		}
	}
	rows, err := rtx.QueryContext(ctx, `SELECT `+opCols+` FROM operations WHERE id >= `+fmt.Sprint(first)+` ORDER BY id`)
	if err != nil {
		return 0, "", classify(err, "verify operations")
	}
	ops, err := collectOps(rows)
	if err != nil {
		return 0, "", err
	}
	var unknown []int64
	for _, op := range ops {
		c, ok := b.ops[op.ID]
		if !ok {
			unknown = append(unknown, op.ID)
			continue
		}
		if c.digest != ledger.DigestOp(op) {
			return c.seq, fmt.Sprintf("operation %d differs from what chain row %d records (kind, connector, entitlement, grant or person): edited", op.ID, c.seq), nil
		}
	}
	if len(unknown) > 0 {
		sort.Slice(unknown, func(i, j int) bool { return unknown[i] < unknown[j] })
		more := ""
		if len(unknown) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(unknown)-1)
		}
		return 0, fmt.Sprintf("operation %d is in the operations table but in no chained decision: inserted%s", unknown[0], more), nil
	}
	return 0, "", nil
}
