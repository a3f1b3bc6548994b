package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

type handler func(s *Server, ctx context.Context, v *viewer, args json.RawMessage) (any, error)

var handlers = map[string]handler{
	MethodStatus:       (*Server).status,
	MethodStatusMany:   (*Server).statusMany,
	MethodGrants:       (*Server).grants,
	MethodGrant:        (*Server).grant,
	MethodOperation:    (*Server).operation,
	MethodTasks:        (*Server).tasks,
	MethodAudit:        (*Server).audit,
	MethodAuditVerify:  (*Server).auditVerify,
	MethodPolicyReload: (*Server).policyReload,
}

func methodNames() []string { return slices.Sorted(maps.Keys(handlers)) }

func (s *Server) status(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a StatusArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !envelope.IsRequestID(a.RequestID) {
		return nil, invalidf("request_id %q must be 64 lower-case hex digits", short(a.RequestID))
	}
	st, visible, err := s.statusOf(ctx, v, a.RequestID)
	if err != nil {
		return nil, err
	}
	if !visible {
		return nil, deniedf("%s may not see request %s", v.actor, a.RequestID)
	}
	return st, nil
}

func (s *Server) statusMany(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a StatusManyArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if len(a.RequestIDs) > MaxStatusMany {
		return nil, invalidf("request_ids has %d ids, more than the %d one call takes", len(a.RequestIDs), MaxStatusMany)
	}
	for i, id := range a.RequestIDs {
		if !envelope.IsRequestID(id) {
			return nil, invalidf("request_ids[%d] %q must be 64 lower-case hex digits", i, short(id))
		}
	}
	out := make([]Status, 0, len(a.RequestIDs))
	for _, id := range a.RequestIDs {
		st, visible, err := s.statusOf(ctx, v, id)
		if err != nil {
			return nil, err
		}
		if !visible {
			st = Status{RequestID: id, State: StateUnknown}
		}
		st.Why = cut(st.Why, MaxManyWhy)
		out = append(out, st)
	}
	return out, nil
}

// cut shortens s to at most n bytes, at a character boundary, ending it
// with "…" when it was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	i := n - len(more)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + more
}

// statusOf reads one request's status; a request not recorded is visible
// (as unknown) to anyone, since its id says nothing.
func (s *Server) statusOf(ctx context.Context, v *viewer, id string) (Status, bool, error) {
	st := Status{RequestID: id, State: StateUnknown}
	r, err := s.Ledger.Request(ctx, id)
	if err != nil || r == nil {
		return st, true, err
	}
	st.Outcome, st.Why, st.Person, st.System, st.Role, st.Action, st.GrantID, st.State =
		r.Outcome, r.Why, r.Person, r.System, r.Role, r.Action, r.GrantID, r.Outcome
	var g *ledger.Grant
	if r.GrantID != "" {
		if g, err = s.Ledger.Grant(ctx, r.GrantID); err != nil {
			return st, false, err
		}
	}
	if g != nil {
		st.State = string(g.State)
		if st.System == "" {
			st.System, st.Role = g.System, g.Role
		}
		if g.State == tilgang.StateFailed || g.State == tilgang.StateRevokeFailed {
			// Why it failed, in the target's own words (LDAP's, Graph's,
			// the fagsystem's), from the operation that failed.
			ops, err := s.Ledger.Operations(ctx, g.ID)
			if err != nil {
				return st, false, err
			}
			for _, op := range ops {
				if op.State == ledger.OpFailed {
					st.Why = fmt.Sprintf("operation %d (%s %s on %s) failed: %s", op.ID, op.Kind, op.Entitlement, op.Connector, op.LastError)
				}
			}
		}
	}
	if r.Actor == v.actor && v.actor != "" {
		return st, true, nil
	}
	var visible bool
	if g != nil {
		visible, err = v.seesGrant(g)
	} else {
		visible, err = v.sees(r.Person, r.System)
	}
	return st, visible, err
}

func (s *Server) grants(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a GrantsArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if err := checkScope(a.Person, a.System); err != nil {
		return nil, err
	}
	if a.Limit < 0 || a.Limit > MaxGrants {
		return nil, invalidf("limit %d is outside 1..%d (0: no limit)", a.Limit, MaxGrants)
	}
	if a.After != "" && !tilgang.ValidToken(a.After) {
		return nil, invalidf("after %q is not a grant id", short(a.After))
	}
	gs, err := s.Ledger.Grants(ctx, ledger.GrantFilter{Person: a.Person, System: a.System, OpenOnly: a.OpenOnly})
	if err != nil {
		return nil, err
	}
	out := make([]Grant, 0, len(gs))
	for i := range gs {
		ok, err := v.seesGrant(&gs[i])
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, grantOf(&gs[i]))
		}
	}
	return page(out, a.Limit, a.After)
}

// page is one page of the grants out (in the ledger's stable order): at
// most limit after the grant after; all of them when limit is 0, unless
// that is more than MaxGrants.
func page(out []Grant, limit int, after string) ([]Grant, error) {
	if after != "" {
		i := slices.IndexFunc(out, func(g Grant) bool { return g.ID == after })
		if i < 0 {
			return nil, invalidf("after %q is not one of the grants asked for", short(after))
		}
		out = out[i+1:]
	}
	if limit == 0 {
		if len(out) > MaxGrants {
			return nil, invalidf("%d grants match, more than the %d one answer holds: ask in pages with limit and after (`tilgang grants` does)", len(out), MaxGrants)
		}
		return out, nil
	}
	return out[:min(limit, len(out))], nil
}

func (s *Server) grant(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a GrantArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !tilgang.ValidToken(a.GrantID) {
		return nil, invalidf("grant_id %q is not a grant id", short(a.GrantID))
	}
	g, err := s.Ledger.Grant(ctx, a.GrantID)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "api: no grant %s", a.GrantID)
	}
	if ok, err := v.seesGrant(g); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, deniedf("%s may not see grant %s", v.actor, a.GrantID)
	}
	ops, err := s.Ledger.Operations(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	d := GrantDetail{Grant: grantOf(g), Operations: make([]Operation, 0, len(ops))}
	for i := range ops {
		d.Operations = append(d.Operations, operationOf(&ops[i]))
	}
	return d, nil
}

func (s *Server) operation(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a OperationArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(a.OperationID, 10, 64)
	if err != nil || id <= 0 {
		return nil, invalidf("operation_id %q is not an operation id (a positive whole number)", short(a.OperationID))
	}
	op, err := s.Ledger.Operation(ctx, id)
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "api: no operation %d", id)
	}
	if ok, err := v.seesOperation(op); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, deniedf("%s may not see operation %d", v.actor, id)
	}
	return operationOf(op), nil
}

// tasks lists the waiting operations the viewer may see, oldest first.
// With a system it keeps the tasks of that system: its grants' and the
// account work that is its (engine.TaskSystems).
func (s *Server) tasks(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a TasksArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if err := checkScope("", a.System); err != nil {
		return nil, err
	}
	return s.waitingTasks(ctx, v, func(op *ledger.Operation, g *ledger.Grant, systems []string) (bool, error) {
		if a.System != "" && !slices.Contains(systems, a.System) {
			return false, nil
		}
		return v.seesOperationOf(op, g)
	})
}

// waitingTasks lists the operations waiting for people that keep takes,
// given each one's grant (nil for account work) and the systems it belongs
// to (engine.TaskSystems), oldest first.
func (s *Server) waitingTasks(ctx context.Context, v *viewer, keep func(op *ledger.Operation, g *ledger.Grant, systems []string) (bool, error)) ([]Task, error) {
	ops, err := s.Ledger.WaitingOperations(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := range ops {
		if ops[i].GrantID != "" {
			ids = append(ids, ops[i].GrantID)
		}
	}
	grants, err := s.Ledger.GrantsByID(ctx, ids) // one read, not one a task
	if err != nil {
		return nil, err
	}
	out := make([]Task, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		var g *ledger.Grant
		if op.GrantID != "" {
			g = grants[op.GrantID]
		}
		systems, err := v.opSystems(op, g)
		if err != nil {
			return nil, err
		}
		ok, err := keep(op, g, systems)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v.taskOf(op, g, systems))
		}
	}
	return out, nil
}

func (s *Server) audit(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a AuditArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if err := checkScope(a.Person, a.System); err != nil {
		return nil, err
	}
	since, err := ParseSince(a.Since)
	if err != nil {
		return nil, err
	}
	until, err := parseUntil(a.Until)
	if err != nil {
		return nil, err
	}
	if a.Actor != "" && !tilgang.ValidToken(a.Actor) {
		return nil, invalidf("actor %q is not a principal id", short(a.Actor))
	}
	if a.Limit < 0 || a.Limit > MaxAuditRows {
		return nil, invalidf("limit %d must be 1..%d rows (0 for %d)", a.Limit, MaxAuditRows, MaxAuditRows)
	}
	var after int64
	if a.After != nil {
		if after = *a.After; after < 0 {
			return nil, invalidf("after %d must be a seq: 0 for the first page, else the next of the page before", after)
		}
	}
	rows, next, err := s.auditPage(ctx, v, ledger.AuditFilter{Person: a.Person, System: a.System, Since: since, Until: until, After: after}, a.Actor, a.Limit)
	if err != nil {
		return nil, err
	}
	if a.After == nil {
		return rows, nil
	}
	return auditPageOut{Rows: rows, Next: next}, nil
}

// auditPageOut is an AuditPage with its rows already encoded.
type auditPageOut struct {
	Rows []json.RawMessage `json:"rows"`
	Next int64             `json:"next"`
}

const (
	// auditRead is how many chain rows one ledger read takes: with their
	// free texts, what a call holds besides the page it builds.
	auditRead = 250
	// maxAuditScan bounds the chain rows one call reads to fill a page: a
	// viewer who may see few rows gets an empty page and a next to go on
	// from rather than a call that reads the whole chain.
	maxAuditScan = 10 * ledger.MaxAuditPage
)

// auditPage reads the visible rows of one page after f.After: at most
// limit (MaxAuditRows when 0) and MaxAuditBytes of JSON, reading the
// ledger a page at a time. next is the seq the next page starts after, 0
// when the chain has no more rows for f.
func (s *Server) auditPage(ctx context.Context, v *viewer, f ledger.AuditFilter, actor string, limit int) (out []json.RawMessage, next int64, err error) {
	if limit <= 0 {
		limit = MaxAuditRows
	}
	out = []json.RawMessage{}
	size, scanned := 2, 0 // the list's brackets
	grantSystem := map[string]string{}
	for {
		f.Limit = auditRead
		if v.all && actor == "" {
			f.Limit = min(auditRead, limit-len(out)) // every row is visible: read no more than fits
		}
		rows, err := s.Ledger.Audit(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		for i := range rows {
			ok, err := s.auditVisible(ctx, v, &rows[i], grantSystem)
			if err != nil {
				return nil, 0, err
			}
			ok = ok && (actor == "" || rows[i].Entry.Actor == actor)
			if ok {
				b, err := json.Marshal(auditRowOf(&rows[i]))
				if err != nil {
					return nil, 0, tilgang.Wrap(tilgang.Internal, err, "api: audit row %d", rows[i].Seq)
				}
				if len(out) > 0 && size+len(b)+1 > MaxAuditBytes {
					return out, f.After, nil // the page is full; this row starts the next
				}
				out, size = append(out, b), size+len(b)+1
			}
			f.After = rows[i].Seq
			if len(out) == limit {
				if i == len(rows)-1 && len(rows) < f.PageSize() {
					return out, 0, nil // the chain ends here too
				}
				return out, f.After, nil
			}
		}
		if len(rows) < f.PageSize() {
			return out, 0, nil
		}
		if scanned += len(rows); scanned >= maxAuditScan {
			return out, f.After, nil
		}
	}
}

// auditVisible says whether v may see row r. Operation rows name the
// grant, not the system: they are the grant's system's (looked up once a
// grant, in grantSystem).
func (s *Server) auditVisible(ctx context.Context, v *viewer, r *ledger.AuditRow, grantSystem map[string]string) (bool, error) {
	system := r.Entry.System
	if g := r.Entry.GrantID; system == "" && g != "" && !v.all {
		if _, known := grantSystem[g]; !known {
			gr, err := s.Ledger.Grant(ctx, g)
			if err != nil {
				return false, err
			}
			grantSystem[g] = ""
			if gr != nil {
				grantSystem[g] = gr.System
			}
		}
		system = grantSystem[g]
	}
	return v.sees(r.Entry.Person, system)
}

// parseUntil reads an audit until: "" (no bound), a date YYYY-MM-DD (up
// to 00:00 Oslo of the day after) or an RFC 3339 timestamp.
func parseUntil(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := tilgang.ParseDate(s); err == nil {
		return d.End(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalidf("until %q is neither a date YYYY-MM-DD nor an RFC 3339 timestamp", short(s))
	}
	return t, nil
}

// ParseSince reads an audit since: "" (no bound), a date YYYY-MM-DD (00:00
// Oslo) or an RFC 3339 timestamp.
func ParseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := tilgang.ParseDate(s); err == nil {
		return d.Start(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalidf("since %q is neither a date YYYY-MM-DD nor an RFC 3339 timestamp", short(s))
	}
	return t, nil
}

func (s *Server) auditVerify(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !v.all {
		return nil, deniedf("%s may not verify the audit chain: operators and auditors only", v.actor)
	}
	return s.VerifyNow(ctx, v.actor)
}

// VerifyNow verifies the audit chain for actor and records the run
// (ledger.VerifyRuns), as audit.verify does; the worker's schedule calls
// it too.
func (s *Server) VerifyNow(ctx context.Context, actor string) (ledger.VerifyReport, error) {
	if s.Verify == nil {
		return ledger.VerifyReport{}, tilgang.Errorf(tilgang.Unavailable, "api: this worker cannot verify the audit chain")
	}
	rep, err := s.Verify(ctx)
	s.recordVerify(ctx, actor, rep, err)
	return rep, err
}

func (s *Server) policyReload(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !v.operator {
		return nil, deniedf("%s may not reload the policy catalogue: operators only", v.actor)
	}
	if s.Reload == nil {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker cannot reload the policy catalogue")
	}
	res, err := s.Reload(ctx, v.actor)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// checkScope checks the person and system a read is narrowed to ("" when
// it is not): each must be an id.
func checkScope(person, system string) error {
	if person != "" && !tilgang.ValidToken(person) {
		return invalidf("person %q is not a person id", short(person))
	}
	if system != "" && !tilgang.ValidToken(system) {
		return invalidf("system %q is not a system id", short(system))
	}
	return nil
}
