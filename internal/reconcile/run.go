package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// Options are one run's: which systems, and whether to fix.
type Options struct {
	System    string // one system
	Connector string // every system provisioned through this instance, that instance only
	All       bool   // every system
	Fix       bool
	// AllowRemovals lets a run with up to this many removals through the
	// threshold (--allow-removals N).
	AllowRemovals int
	// Wait bounds the wait for the fixes to be done, the whole run's
	// together (0: 45 s).
	Wait  time.Duration
	Actor string // who asked: an operator, or "schedule"

	deadline time.Time
}

// Runner runs reconciliation in a worker: it reads the ledger and the
// targets, and plans fixes through the engine.
type Runner struct {
	Ledger     ledger.Ledger
	Engine     *engine.Engine
	Connectors connectors.Set
	Log        *slog.Logger
	Metrics    *Metrics // nil: none kept
}

// Metrics are reconciliation's Prometheus metrics.
type Metrics struct {
	Findings    *prometheus.GaugeVec // system, kind: of the last complete run
	LastSuccess *prometheus.GaugeVec // system: unix time of the last complete run
	Failures    *prometheus.CounterVec
	Held        *prometheus.CounterVec // system: runs the fail-safe held
}

// NewMetrics makes the metrics; register them with the worker's.
func NewMetrics() *Metrics {
	return &Metrics{
		Findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_reconcile_findings",
			Help: "Findings of the last complete reconciliation run, by system and kind (missing, extra, orphan, state, disputed)."}, []string{"system", "kind"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tilgang_reconcile_last_success_timestamp_seconds",
			Help: "Unix time of the last reconciliation run of the system that read everything."}, []string{"system"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_reconcile_failures_total",
			Help: "Reconciliation runs that stopped on a failed or short read, by system."}, []string{"system"}),
		Held: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tilgang_reconcile_held_total",
			Help: "Reconciliation runs held by the fail-safe (too many removals; nothing was fixed), by system."}, []string{"system"}),
	}
}

// Collectors lists the metrics for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Findings, m.LastSuccess, m.Failures, m.Held}
}

// Run reconciles the systems o names and returns one report each. A report
// whose read failed carries Error and fixed nothing; Run's own error is for
// a wrong request or a ledger that cannot be read or written.
func (r *Runner) Run(ctx context.Context, o Options) ([]Report, error) {
	cat := r.Engine.Catalogue()
	var systems []*policy.System
	switch {
	case o.System != "":
		s, ok := cat.System(o.System)
		if !ok {
			return nil, tilgang.Errorf(tilgang.NotFound, "reconcile: no system %q in the catalogue", o.System)
		}
		systems = append(systems, s)
	case o.Connector != "":
		if _, ok := r.Connectors[o.Connector]; !ok {
			return nil, tilgang.Errorf(tilgang.NotFound, "reconcile: no connector instance %q is configured", o.Connector)
		}
		if _, ok := r.Connectors[o.Connector].(connectors.Reader); !ok {
			return nil, tilgang.Errorf(tilgang.Invalid, "reconcile: connector instance %q cannot list its accounts and members", o.Connector)
		}
		for _, id := range cat.SystemIDs() {
			if s, _ := cat.System(id); containsStr(s.Connectors, o.Connector) {
				systems = append(systems, s)
			}
		}
		if len(systems) == 0 {
			return nil, tilgang.Errorf(tilgang.NotFound, "reconcile: no system is provisioned through %q", o.Connector)
		}
	case o.All:
		for _, id := range cat.SystemIDs() {
			s, _ := cat.System(id)
			systems = append(systems, s)
		}
	default:
		return nil, tilgang.Errorf(tilgang.Invalid, "reconcile: name a system, a connector instance, or all")
	}
	if o.AllowRemovals < 0 {
		return nil, tilgang.Errorf(tilgang.Invalid, "reconcile: allow_removals %d is negative", o.AllowRemovals)
	}
	wait := o.Wait
	if wait <= 0 {
		wait = 45 * time.Second
	}
	o.deadline = time.Now().Add(wait)
	out := make([]Report, 0, len(systems))
	for _, s := range systems {
		rep, err := r.system(ctx, s, o)
		if err != nil {
			return out, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// SettingsOf turns a system's policy settings into the comparison's.
func SettingsOf(p policy.Reconcile) Settings {
	s := Settings{MaxRemovals: p.MaxRemovals, MaxShare: p.MaxShare}
	switch p.Extra {
	case policy.ReconcileRevoke:
		s.Extra = FixRevoke
	case policy.ReconcileReview:
		s.Extra = FixReview
	}
	if p.Orphan == policy.ReconcileDisable {
		s.Orphan = FixDisable
	}
	return s
}

func (r *Runner) system(ctx context.Context, sys *policy.System, o Options) (Report, error) {
	rep := Report{System: sys.ID}
	set := SettingsOf(sys.Reconcile)
	readAny := false // a system whose instances cannot list (manual only) is not kept as reconciled
	for _, c := range sys.Connectors {
		if o.Connector != "" && c != o.Connector {
			continue
		}
		rd, ok := r.Connectors[c].(connectors.Reader)
		if !ok {
			rep.Skipped = append(rep.Skipped, c)
			continue
		}
		var ents []string
		seen := map[string]bool{}
		for _, role := range sys.Roles {
			for _, e := range role.Entitlements[c] {
				if !seen[e] {
					seen[e] = true
					ents = append(ents, e)
				}
			}
		}
		sort.Strings(ents)
		d, err := r.desired(ctx, c, ents)
		if err != nil {
			return rep, fmt.Errorf("reconcile %s: read the ledger: %w", sys.ID, err)
		}
		part, err := Compare(ctx, sys.ID, rd, d, set)
		if err != nil {
			rep.Findings, rep.Read = nil, Read{}
			rep.Error = err.Error() + ": nothing was fixed"
			rep.Count()
			if r.Metrics != nil {
				r.Metrics.Failures.WithLabelValues(sys.ID).Inc()
			}
			r.log().Warn("reconcile: a read failed; nothing is fixed", "system", sys.ID, "connector", c, "err", err)
			at, err := r.record(ctx, rep, o)
			if err != nil {
				return rep, err
			}
			r.keep(ctx, rep, o, at)
			return rep, nil
		}
		readAny = true
		rep.Read.Accounts += part.Read.Accounts
		rep.Read.Members += part.Read.Members
		rep.Findings = append(rep.Findings, part.Findings...)
	}
	rep.Count()
	if r.Metrics != nil {
		for _, k := range Kinds {
			r.Metrics.Findings.WithLabelValues(sys.ID, string(k)).Set(float64(rep.Counts[k]))
		}
		r.Metrics.LastSuccess.WithLabelValues(sys.ID).Set(float64(r.Engine.Now().Unix()))
	}
	if o.Fix {
		if held, why := Hold(rep, set, o.AllowRemovals); held {
			rep.Held, rep.HeldWhy = true, why+": nothing was fixed; --allow-removals N lets up to N through"
		}
	}
	at, err := r.record(ctx, rep, o)
	if err != nil {
		return rep, err
	}
	if rep.Held && r.Metrics != nil {
		r.Metrics.Held.WithLabelValues(sys.ID).Inc() // counted once the hold is chained
	}
	if o.Fix && !rep.Held {
		if err := r.fix(ctx, &rep, o); err != nil {
			// The run is chained; its row says the fixes went wrong.
			failed := rep
			failed.Error, failed.planned, failed.done = "the fixes could not be planned or followed: "+err.Error(), 0, 0
			r.keep(ctx, failed, o, at)
			return rep, err
		}
	}
	if readAny {
		r.keep(ctx, rep, o, at)
	}
	return rep, nil
}

// keep records the run for the system page (ledger.ReconcileRuns), at
// the time it was chained. The run is chained already, and the command
// answers with its report: a row that cannot be written is logged, and
// the page shows the run before.
func (r *Runner) keep(ctx context.Context, rep Report, o Options, at time.Time) {
	rr, ok := r.Ledger.(ledger.ReconcileRuns)
	if !ok {
		return
	}
	run := ledger.ReconcileRun{System: rep.System, At: at, Actor: firstOf(o.Actor, engine.ReconcileActor), Fix: o.Fix,
		Read: ledger.ReconcileRead{Accounts: rep.Read.Accounts, Members: rep.Read.Members},
		Counts: ledger.ReconcileCounts{Missing: rep.Counts[Missing], Extra: rep.Counts[Extra], Orphan: rep.Counts[Orphan],
			State: rep.Counts[State], Disputed: rep.Counts[Disputed]},
		Planned: rep.planned, Fixed: rep.done, Held: rep.Held, HeldWhy: clip(rep.HeldWhy), Error: clip(rep.Error)}
	if err := rr.RecordReconcile(ctx, run); err != nil {
		r.log().Error("reconcile: the run could not be recorded for the system page", "system", rep.System, "err", err)
	}
}

// clip keeps a text within ledger.MaxReconcileText bytes, cut at a rune.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= ledger.MaxReconcileText {
		return s
	}
	cut := ledger.MaxReconcileText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// desired reads the ledger's side of one connector instance.
func (r *Runner) desired(ctx context.Context, conn string, ents []string) (Desired, error) {
	rr, ok := r.Ledger.(ledger.ReconcileReader)
	if !ok {
		return Desired{}, tilgang.Errorf(tilgang.Internal, "this ledger cannot list accounts by connector")
	}
	d := Desired{Connector: conn, Entitlements: ents, Holders: map[string]*Holder{}}
	h := func(p string) *Holder {
		x, ok := d.Holders[p]
		if !ok {
			x = &Holder{Grants: map[string]string{}, Active: map[string]bool{}}
			d.Holders[p] = x
		}
		return x
	}
	err := rr.ConnectorAccounts(ctx, conn, func(a ledger.AccountRow) error {
		x := h(a.Person)
		x.HasAccount, x.Enabled, x.Ref = true, a.Enabled, a.Ref
		return nil
	})
	if err != nil {
		return d, err
	}
	grants, err := r.Ledger.Grants(ctx, ledger.GrantFilter{OpenOnly: true})
	if err != nil {
		return d, err
	}
	for _, g := range grants {
		ents, named := g.Entitlements[conn]
		if !g.State.Live() || g.RevokeAfter || !named {
			continue
		}
		x := h(g.Person)
		x.NeedsAccount = x.NeedsAccount || g.State == tilgang.StateActive
		for _, e := range ents {
			x.Grants[e] = g.ID
			if g.State == tilgang.StateActive {
				x.Active[e] = true
			}
		}
	}
	busy, err := rr.BusyPeople(ctx, conn)
	if err != nil {
		return d, err
	}
	ids := make([]string, 0, len(d.Holders))
	for p := range d.Holders {
		ids = append(ids, p)
		d.Holders[p].Busy = busy[p]
	}
	sort.Strings(ids)
	for len(ids) > 0 {
		n := min(len(ids), 500)
		people, _, err := r.Ledger.People(ctx, ids[:n])
		if err != nil {
			return d, err
		}
		for _, id := range ids[:n] {
			if p := people[id]; p != nil {
				d.Holders[id].Known, d.Holders[id].Left = true, p.Left
			}
		}
		ids = ids[n:]
	}
	d.Person = func(id string) (bool, bool) {
		p, err := r.Ledger.Person(ctx, id)
		if err != nil || p == nil {
			return false, false // an error reads as unknown: only reported, never fixed
		}
		return true, p.Left
	}
	return d, nil
}

// record chains the run and announces what it found: drift.found when
// there are findings, reconcile.held when the run held.
func (r *Runner) record(ctx context.Context, rep Report, o Options) (time.Time, error) {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer tx.Rollback()
	now := r.Engine.Now().UTC()
	details := map[string]string{"fix": fmt.Sprint(o.Fix), "held": fmt.Sprint(rep.Held), "accounts": fmt.Sprint(rep.Read.Accounts),
		"members": fmt.Sprint(rep.Read.Members)}
	for _, k := range Kinds {
		details[string(k)] = fmt.Sprint(rep.Counts[k])
	}
	text := rep.Error
	if rep.Held {
		text = rep.HeldWhy
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "reconcile.run", Actor: firstOf(o.Actor, engine.ReconcileActor), System: rep.System,
		Details: details, Text: text})
	counts := map[string]int{}
	for k, n := range rep.Counts {
		counts[string(k)] = n
	}
	if len(rep.Findings) > 0 {
		tx.Emit(ledger.Event{Kind: tilgang.EvDriftFound, Person: "_", At: now,
			Data: map[string]any{"system": rep.System, "counts": counts, "read": rep.Read, "asked_by": o.Actor}})
	}
	if rep.Held {
		tx.Emit(ledger.Event{Kind: tilgang.EvReconcileHeld, Person: "_", At: now,
			Data: map[string]any{"system": rep.System, "removals": rep.Removals(), "why": rep.HeldWhy, "asked_by": o.Actor}})
	}
	return now, tx.Commit()
}

// fix plans the findings' fixes and waits until they are done.
func (r *Runner) fix(ctx context.Context, rep *Report, o Options) error {
	var fixes []engine.ReconcileFix
	var idx, reviews []int
	for i, f := range rep.Findings {
		kind := ""
		switch f.Fix {
		case FixGrant:
			kind = ledger.KindGrant
		case FixEnsure:
			kind = ledger.KindEnsureAccount
		case FixRevoke:
			kind = ledger.KindRevoke
		case FixDisable:
			kind = ledger.KindDisable
		case FixEnable:
			kind = ledger.KindEnable
		case FixReview:
			reviews = append(reviews, i)
			continue
		default:
			continue
		}
		fx := engine.ReconcileFix{Person: f.Person, Connector: f.Connector, Kind: kind, Reason: f.Reason()}
		if kind == ledger.KindGrant || kind == ledger.KindRevoke {
			fx.Entitlement = f.Entitlement
		}
		if kind == ledger.KindRevoke || f.Kind == Orphan {
			fx.Target = f.target
		}
		fixes = append(fixes, fx)
		idx = append(idx, i)
	}
	if len(fixes) == 0 && len(reviews) == 0 {
		rep.Fixed = true
		return nil
	}
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	planned, skipped, err := r.Engine.ReconcileFixes(tx, fixes)
	if err != nil {
		return err
	}
	requested := map[int]bool{}
	for _, i := range reviews {
		f := &rep.Findings[i]
		role := roleGiving(r.Engine.Catalogue(), rep.System, f.Connector, f.Entitlement)
		if role == "" {
			f.Outcome = fmt.Sprintf("not fixed: no role of %s gives %s on %s", rep.System, f.Entitlement, f.Connector)
			continue
		}
		g, why, err := r.Engine.ReconcileReview(tx, f.Person, rep.System, role, f.Reason())
		switch {
		case err != nil:
			return err
		case why != "":
			f.Outcome = "not fixed: " + why
		default:
			f.Outcome = fmt.Sprintf("requested: grant %s of %s/%s waits for approval", g, rep.System, role)
			requested[i] = true
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	rep.planned = len(planned) + len(requested)
	defer func() {
		rep.done = len(requested)
		for _, f := range rep.Findings {
			if f.Outcome == "done" {
				rep.done++
			}
		}
	}()
	for j, why := range skipped {
		rep.Findings[idx[j]].Outcome = "not fixed: " + why
	}
	deadline := o.deadline
	pending := map[int]int64{}
	for j, id := range planned {
		pending[j] = id
		rep.Findings[idx[j]].Outcome = fmt.Sprintf("planned (operation %d)", id)
	}
	for len(pending) > 0 {
		for j, id := range pending {
			op, err := r.Ledger.Operation(ctx, id)
			if err != nil {
				return err
			}
			switch {
			case op == nil:
				return tilgang.Errorf(tilgang.Internal, "reconcile: operation %d planned but not found", id)
			case op.State == ledger.OpDone:
				rep.Findings[idx[j]].Outcome = "done"
				delete(pending, j)
			case op.State == ledger.OpFailed || op.State == ledger.OpCancelled:
				rep.Findings[idx[j]].Outcome = fmt.Sprintf("%s: %s", op.State, op.LastError)
				delete(pending, j)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rep.Fixed = len(pending) == 0 && len(skipped) == 0
	for i, f := range rep.Findings {
		if f.Fix != FixNone && f.Outcome != "done" && !requested[i] {
			rep.Fixed = false
		}
	}
	return nil
}

// roleGiving is the role of system whose entitlements on the connector
// include ent, for a review request: of several, the one giving the least
// (fewest entitlements), then the first by id; "" when none does.
func roleGiving(cat *policy.Catalogue, system, connector, ent string) string {
	sys, ok := cat.System(system)
	if !ok {
		return ""
	}
	best, size := "", 0
	for _, r := range sys.Roles {
		if !containsStr(r.Entitlements[connector], ent) {
			continue
		}
		n := 0
		for _, es := range r.Entitlements {
			n += len(es)
		}
		if best == "" || n < size || (n == size && r.ID < best) {
			best, size = r.ID, n
		}
	}
	return best
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func containsStr(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func firstOf(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// ErrHeld marks a run that held (for callers mapping reports to exits).
var ErrHeld = errors.New("reconcile: held")

// Summary is a one-line account of a report, for logs and the table.
func Summary(rep Report) string {
	var parts []string
	for _, k := range Kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, rep.Counts[k]))
	}
	return strings.Join(parts, ", ")
}
