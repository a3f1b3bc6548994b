package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// MethodReportAccess is the access register (DESIGN.md "Access reviews and
// the access register"; Normen faktaark 47: the access a person has and
// has had), `tilgang report access` and the portal's register page.
const MethodReportAccess = "report.access"

func init() { handlers[MethodReportAccess] = (*Server).reportAccess }

// AccessArgs are the args of report.access: exactly one of System and
// Person, and the time asked about: At (an RFC 3339 time, or a date
// YYYY-MM-DD meaning any moment of that Oslo day), or From and To (dates,
// both days whole), or none of them (now).
type AccessArgs struct {
	System string `json:"system,omitempty"`
	Person string `json:"person,omitempty"`
	At     string `json:"at,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Limit is how many entries one page holds at most:
	// 1..ledger.MaxHoldingsPage; 0 is ledger.MaxHoldingsPage.
	Limit int `json:"limit,omitempty"`
	// After is the Next of the page before; "" for the first page.
	After string `json:"after,omitempty"`
}

// AccessEntry is one grant's time at its target (ledger.Holding): From
// when it became active there, Until when it was revoked or expired there
// (nil while it is live, being revoked, or revoke_failed), who asked for
// it and who approved it. Fields may be added to it.
type AccessEntry struct {
	Person    string     `json:"person"`
	System    string     `json:"system"`
	Role      string     `json:"role"`
	GrantID   string     `json:"grant_id"`
	From      time.Time  `json:"from"`
	Until     *time.Time `json:"until"`
	Requester string     `json:"requester"`
	Approvers []string   `json:"approvers"`
}

// AccessPage is one page of the register: the entries that overlap the
// period [From, To] (both inclusive, at millisecond precision; From == To
// is one instant), in system, role, person, grant id order (for a system:
// role, person, grant id; for a person: system, role, grant id). Next is
// the After of the next page, "" when this page is the last. A page may
// hold fewer entries than its limit (even none) with more to come: only
// Next "" ends the walk. Names are the names of the people the page names
// (holders, requesters, approvers) who still have an HR record: after an
// erasure the entries carry ids alone.
type AccessPage struct {
	From    time.Time         `json:"from"`
	To      time.Time         `json:"to"`
	Entries []AccessEntry     `json:"entries"`
	Next    string            `json:"next"`
	Names   map[string]string `json:"names"`
}

// PeriodNames name the three time arguments in the errors of
// AccessPeriod: the API's args, the command line's flags, a form's fields.
type PeriodNames struct{ At, From, To string }

// ArgNames are report.access's own.
var ArgNames = PeriodNames{At: "at", From: "from", To: "to"}

// AccessPeriod reads the time a register is asked about, as AccessArgs
// says, into the period [from, to] that Holdings takes, at now: a date is
// from 00:00 Oslo to the last millisecond of that day. A time not yet
// come (a date after today, an instant after now) is refused, since the
// register answers for what was and is. The errors are Invalid and say
// which argument was wrong, by names.
func AccessPeriod(at, from, to string, now time.Time, names PeriodNames) (time.Time, time.Time, error) {
	bad := func(format string, args ...any) (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, tilgang.Errorf(tilgang.Invalid, format, args...)
	}
	const ms = time.Millisecond
	var start, end time.Time
	switch {
	case at != "" && (from != "" || to != ""):
		return bad("%s is one time; %s and %s are a period: give one or the other, not both", names.At, names.From, names.To)
	case (from == "") != (to == ""):
		return bad("%s and %s go together: give both dates (the same date twice for one day)", names.From, names.To)
	case at != "":
		if d, err := tilgang.ParseDate(at); err == nil {
			start, end = d.Start(), d.End().Add(-ms)
		} else if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			start, end = t, t
		} else {
			return bad("%s %q is neither a date YYYY-MM-DD nor an RFC 3339 time (2025-03-10T14:00:00+01:00)", names.At, short(at))
		}
	case from != "":
		df, err := tilgang.ParseDate(from)
		if err != nil {
			return bad("%s %q is not a date YYYY-MM-DD", names.From, short(from))
		}
		dt, err := tilgang.ParseDate(to)
		if err != nil {
			return bad("%s %q is not a date YYYY-MM-DD", names.To, short(to))
		}
		if dt.Before(df) {
			return bad("%s %s is after %s %s: the period ends before it starts", names.From, df, names.To, dt)
		}
		start, end = df.Start(), dt.End().Add(-ms)
	default:
		start, end = now, now
	}
	if start.After(now) {
		what := names.At
		if from != "" {
			what = names.From
		}
		return bad("%s %s is in the future: the register answers for what was and is, up to now", what, firstNonEmpty(at, from))
	}
	return start.UTC(), end.UTC(), nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (s *Server) reportAccess(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a AccessArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if (a.System == "") == (a.Person == "") {
		return nil, invalidf("give system or person, one of them: the register of a system or of a person")
	}
	if err := checkScope(a.Person, a.System); err != nil {
		return nil, err
	}
	from, to, err := AccessPeriod(a.At, a.From, a.To, s.now(), ArgNames)
	if err != nil {
		return nil, invalidf("%s", err.Error())
	}
	if a.Limit < 0 || a.Limit > ledger.MaxHoldingsPage {
		return nil, invalidf("limit %d is outside 1..%d (0: %d)", a.Limit, ledger.MaxHoldingsPage, ledger.MaxHoldingsPage)
	}
	if a.After != "" && !tilgang.ValidToken(a.After) {
		return nil, invalidf("after %q is not a grant id", short(a.After))
	}
	reg, ok := s.Ledger.(ledger.Register)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker's ledger keeps no access register")
	}

	// Who may read it: a system's, its administrators, operators and
	// auditors; a person's, the person, their manager, operators and
	// auditors, and administrators the rows of their own systems.
	var only map[string]bool // systems whose rows the viewer sees; nil: all
	if a.System != "" {
		if !v.all && !v.administers(a.System) {
			return nil, deniedf("%s may not read the access register of system %s: its administrators, operators and auditors only", v.actor, a.System)
		}
	} else if !v.all && a.Person != v.actor {
		m, err := v.manager(a.Person)
		if err != nil {
			return nil, err
		}
		if m == "" || m != v.actor {
			systems := v.administered()
			if len(systems) == 0 {
				return nil, deniedf("%s may not read the access register of %s: the person, their manager, operators and auditors only (and administrators, for their systems)", v.actor, a.Person)
			}
			only = map[string]bool{}
			for _, id := range systems {
				only[id] = true
			}
		}
	}

	f := ledger.HoldingFilter{System: a.System, Person: a.Person, From: from, To: to, Limit: a.Limit}
	if a.After != "" {
		g, err := s.Ledger.Grant(ctx, a.After)
		if err != nil {
			return nil, err
		}
		if g == nil || (a.System != "" && g.System != a.System) || (a.Person != "" && g.Person != a.Person) {
			return nil, invalidf("after %q is not a grant of the register asked for", short(a.After))
		}
		f.After = ledger.HoldingKey{System: g.System, Role: g.Role, Person: g.Person, GrantID: g.ID}
	}
	hs, err := reg.Holdings(ctx, f)
	if err != nil {
		return nil, err
	}
	out := AccessPage{From: from, To: to, Entries: []AccessEntry{}, Names: map[string]string{}}
	if len(hs) == f.PageSize() {
		out.Next = hs[len(hs)-1].GrantID
	}
	var ids []string
	for _, h := range hs {
		if only != nil && !only[h.System] {
			continue
		}
		e := AccessEntry{Person: h.Person, System: h.System, Role: h.Role, GrantID: h.GrantID, From: h.From.UTC(),
			Requester: h.Requester, Approvers: h.Approvers}
		if !h.Until.IsZero() {
			u := h.Until.UTC()
			e.Until = &u
		}
		if e.Approvers == nil {
			e.Approvers = []string{}
		}
		out.Entries = append(out.Entries, e)
		ids = append(ids, h.Person, h.Requester)
		ids = append(ids, h.Approvers...)
	}
	if out.Names, err = s.names(ctx, ids); err != nil {
		return nil, err
	}
	return out, nil
}

// AccessRegister hands every page of the register a asks for to each, in
// order, from a.After on; it stops at the first error each returns. The
// CLI's CSV and the portal's download stream it a page at a time.
func (c *Client) AccessRegister(ctx context.Context, a AccessArgs, each func(p AccessPage) error) error {
	for {
		var p AccessPage
		if err := c.Call(ctx, MethodReportAccess, a, &p); err != nil {
			return err
		}
		if err := each(p); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		if p.Next == a.After {
			return tilgang.Errorf(tilgang.Internal, "api: %s: the page after %s names itself next", MethodReportAccess, a.After)
		}
		a.After = p.Next
	}
}

// AccessCSVHeader is the header of the register as CSV (`tilgang report
// access --format csv`, the portal's download): the JSON fields, approvers
// joined by spaces, times in RFC 3339 (UTC), until empty while held, and
// the holder's name where the HR record is still kept.
var AccessCSVHeader = []string{"person", "name", "system", "role", "grant_id", "from", "until", "requester", "approvers"}

// AccessCSVRow is e as a row under AccessCSVHeader; pass it through
// csvsafe.Row before writing it.
func AccessCSVRow(e AccessEntry, names map[string]string) []string {
	until := ""
	if e.Until != nil {
		until = e.Until.UTC().Format(time.RFC3339Nano)
	}
	name := names[e.Person]
	if name == e.Person {
		name = ""
	}
	return []string{e.Person, name, e.System, e.Role, e.GrantID, e.From.UTC().Format(time.RFC3339Nano), until,
		e.Requester, strings.Join(e.Approvers, " ")}
}

// String is the period as people read it, in Oslo time.
func (p AccessPage) String() string {
	f, t := p.From.In(tilgang.Oslo), p.To.In(tilgang.Oslo)
	if f.Equal(t) {
		return fmt.Sprintf("at %s", f.Format("2006-01-02 15:04:05.000 MST"))
	}
	return fmt.Sprintf("from %s to %s", f.Format("2006-01-02 15:04:05 MST"), t.Format("2006-01-02 15:04:05 MST"))
}
