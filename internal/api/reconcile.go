package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// MethodReconcile runs reconciliation in the worker (DESIGN.md
// "Reconciliation"):
//
//	reconcile {"system" | "connector" | "all", "fix", "allow_removals"} -> [report, ...]
//
// A dry run (fix false) is for operators and auditors; --fix for operators.
// Each report is reconcile.Report: what was read, the findings, their
// counts by kind, and whether the run fixed or held.
const MethodReconcile = "reconcile"

func init() {
	handlers[MethodReconcile] = (*Server).reconcile
}

// ReconcileArgs name what to reconcile: exactly one of System, Connector
// and All.
type ReconcileArgs struct {
	System        string `json:"system,omitempty"`
	Connector     string `json:"connector,omitempty"`
	All           bool   `json:"all,omitempty"`
	Fix           bool   `json:"fix,omitempty"`
	AllowRemovals int    `json:"allow_removals,omitempty"`
}

// fixWait is how long a --fix call waits for its operations: less than
// the call's own minute.
const fixWait = 45 * time.Second

func (s *Server) reconcile(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a ReconcileArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	n := 0
	for _, set := range []bool{a.System != "", a.Connector != "", a.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, invalidf("name exactly one of system, connector and all")
	}
	for _, id := range []string{a.System, a.Connector} {
		if id != "" && !tilgang.ValidToken(id) {
			return nil, invalidf("%q is not a system or connector instance name (letters, digits, '-', '_')", short(id))
		}
	}
	if a.AllowRemovals < 0 {
		return nil, invalidf("allow_removals %d is negative", a.AllowRemovals)
	}
	if a.AllowRemovals > 0 && !a.Fix {
		return nil, invalidf("allow_removals is for a run with fix: a dry run removes nothing")
	}
	switch {
	case a.Fix && !v.operator:
		return nil, deniedf("%s may not fix drift: operators only", v.actor)
	case !v.all:
		return nil, deniedf("%s may not reconcile: operators and auditors only", v.actor)
	}
	if s.Reconcile == nil {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker does not reconcile")
	}
	reps, err := s.Reconcile(ctx, reconcile.Options{System: a.System, Connector: a.Connector, All: a.All, Fix: a.Fix,
		AllowRemovals: a.AllowRemovals, Wait: fixWait, Actor: v.actor})
	if err != nil {
		return nil, err
	}
	return reps, nil
}
