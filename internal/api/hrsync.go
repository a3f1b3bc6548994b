package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The HR sync's calls (DESIGN.md "HR sources"): the snapshot the ledger
// keeps of a source, and the announcement and release of a held sync.
const (
	MethodHRSnapshot  = "hr.snapshot"
	MethodHRSyncHeld  = "hr.sync.held"
	MethodHRSyncAllow = "hr.sync.allow"
)

// Audit and event kinds of the HR sync calls.
const (
	KindHRSyncHeld    = tilgang.EvHRSyncHeld
	KindHRSyncAllowed = "hr.sync.allowed"
)

func init() {
	handlers[MethodHRSnapshot] = (*Server).hrSnapshot
	handlers[MethodHRSyncHeld] = (*Server).hrSyncHeld
	handlers[MethodHRSyncAllow] = (*Server).hrSyncAllow
}

// HRSnapshotArgs asks for one page of a source's snapshot: the people after
// the person id After, at most Limit (1..ledger.MaxHRSnapshotPage; 0 is
// the most).
type HRSnapshotArgs struct {
	Source string `json:"source"`
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// HRSnapshotEntry is what the ledger keeps of one person of a source.
type HRSnapshotEntry struct {
	Person  string         `json:"person"`
	Version int64          `json:"version"`
	Digest  string         `json:"digest"`
	Present bool           `json:"present"`
	Record  tilgang.Person `json:"record"`
	Updated time.Time      `json:"updated"`
}

// HRSnapshotPage is one page; Next is the After of the next page, "" after
// the last.
type HRSnapshotPage struct {
	Entries []HRSnapshotEntry `json:"entries"`
	Next    string            `json:"next"`
}

// HRSyncArgs tells the worker about a sync that the fail-safe held: its
// summary (source, counts, reasons).
type HRSyncArgs struct {
	Summary hrsource.Summary `json:"summary"`
}

// HRSyncResult is the answer to hr.sync.held and hr.sync.allow.
type HRSyncResult struct {
	Source string `json:"source"`
	Kind   string `json:"kind"` // the audit entry chained
}

func (s *Server) hrSnapshot(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a HRSnapshotArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !tilgang.ValidToken(a.Source) {
		return nil, invalidf("source %q is not a source name (letters, digits, '-', '_')", short(a.Source))
	}
	if a.After != "" && !tilgang.ValidToken(a.After) {
		return nil, invalidf("after %q is not a person id", short(a.After))
	}
	if a.Limit < 0 || a.Limit > ledger.MaxHRSnapshotPage {
		return nil, invalidf("limit %d is outside 1..%d (0: %d)", a.Limit, ledger.MaxHRSnapshotPage, ledger.MaxHRSnapshotPage)
	}
	if !s.principals().Can(v.actor, tilgang.CapHR) && !v.all {
		return nil, deniedf("%s may not read the snapshot of HR source %s: hr, operators and auditors only", v.actor, a.Source)
	}
	limit := a.Limit
	if limit == 0 {
		limit = ledger.MaxHRSnapshotPage
	}
	rows, err := s.Ledger.HRSnapshot(ctx, a.Source, a.After, limit)
	if err != nil {
		return nil, err
	}
	out := HRSnapshotPage{Entries: make([]HRSnapshotEntry, 0, len(rows))}
	for _, r := range rows {
		out.Entries = append(out.Entries, HRSnapshotEntry{Person: r.Person, Version: r.Version, Digest: r.Digest,
			Present: r.Present, Record: r.Record, Updated: r.Updated})
	}
	if len(rows) == limit {
		out.Next = rows[len(rows)-1].Person
	}
	return out, nil
}

// hrSyncHeld chains hr.sync.held and emits it: a sync the fail-safe held
// is announced by whoever ran it (hr).
func (s *Server) hrSyncHeld(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	a, err := hrSyncArgs(args)
	if err != nil {
		return nil, err
	}
	if !s.principals().Can(v.actor, tilgang.CapHR) {
		return nil, deniedf("%s may not announce a held HR sync: principals with the hr capability only", v.actor)
	}
	res, err := s.chainHRSync(ctx, v.actor, KindHRSyncHeld, a.Summary, true)
	if err == nil && s.HRSyncHeld != nil {
		s.HRSyncHeld(a.Summary.Source)
	}
	return res, err
}

// hrSyncAllow records that the changes of a held sync are allowed: only a
// principal holding both hr and operator may, and the worker checks it, so
// a sync is never released by the command line's word alone.
func (s *Server) hrSyncAllow(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	a, err := hrSyncArgs(args)
	if err != nil {
		return nil, err
	}
	set := s.principals()
	var missing []string
	for _, c := range []string{tilgang.CapHR, tilgang.CapOperator} {
		if !set.Can(v.actor, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, deniedf("%s may not allow the changes of a held HR sync of %s: that takes both hr and operator, and %s lacks %s",
			v.actor, a.Summary.Source, v.actor, strings.Join(missing, " and "))
	}
	return s.chainHRSync(ctx, v.actor, KindHRSyncAllowed, a.Summary, false)
}

func hrSyncArgs(args json.RawMessage) (HRSyncArgs, error) {
	var a HRSyncArgs
	if err := decodeArgs(args, &a); err != nil {
		return a, err
	}
	if !tilgang.ValidToken(a.Summary.Source) {
		return a, invalidf("summary.source %q is not a source name (letters, digits, '-', '_')", short(a.Summary.Source))
	}
	for _, n := range []int{a.Summary.People, a.Summary.Joiners, a.Summary.Movers, a.Summary.Leavers, a.Summary.Unchanged, a.Summary.Rejected} {
		if n < 0 {
			return a, invalidf("summary counts must not be negative")
		}
	}
	return a, nil
}

// ledgerWriter is the ledger the server reads from when it can also write:
// the worker's.
type ledgerWriter interface {
	Begin(ctx context.Context) (ledger.Tx, error)
}

func (s *Server) chainHRSync(ctx context.Context, actor, kind string, sum hrsource.Summary, emit bool) (any, error) {
	w, ok := s.Ledger.(ledgerWriter)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker cannot record %s", kind)
	}
	tx, err := w.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.now().UTC()
	details := map[string]string{
		"source": sum.Source, "people": fmt.Sprint(sum.People), "joiners": fmt.Sprint(sum.Joiners),
		"movers": fmt.Sprint(sum.Movers), "leavers": fmt.Sprint(sum.Leavers), "unchanged": fmt.Sprint(sum.Unchanged),
		"rejected": fmt.Sprint(sum.Rejected),
	}
	reasons := strings.Join(sum.Reasons, "; ")
	tx.Audit(ledger.AuditEntry{At: now, Kind: kind, Actor: actor, Details: details, Text: reasons})
	if emit {
		data := map[string]any{"source": sum.Source, "people": sum.People, "joiners": sum.Joiners, "movers": sum.Movers,
			"leavers": sum.Leavers, "unchanged": sum.Unchanged, "rejected": sum.Rejected, "reasons": sum.Reasons, "actor": actor}
		tx.Emit(ledger.Event{Kind: kind, Person: "_", At: now, Data: data})
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return HRSyncResult{Source: sum.Source, Kind: kind}, nil
}

// HRSnapshotAll reads the whole snapshot of source, page by page.
func (c *Client) HRSnapshotAll(ctx context.Context, source string) ([]HRSnapshotEntry, error) {
	var all []HRSnapshotEntry
	after := ""
	for {
		var p HRSnapshotPage
		if err := c.Call(ctx, MethodHRSnapshot, HRSnapshotArgs{Source: source, After: after}, &p); err != nil {
			return all, err
		}
		all = append(all, p.Entries...)
		if p.Next == "" {
			return all, nil
		}
		after = p.Next
	}
}
