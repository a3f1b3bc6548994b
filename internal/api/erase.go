package api

import (
	"context"
	"encoding/json"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// MethodErase is the erasure at the end of retention (DESIGN.md
// "Operations over years"), for operators:
//
//	erase {"before": "YYYY-MM-DD", "dry_run"} -> {"before", "limit", "dry_run", "counts": {...}}
//
// It removes the free text of chain rows before 00:00 Oslo of the date,
// and the records and HR snapshot rows of people who left before it
// (ledger.Eraser), and chains an erasure entry; a dry run only counts. The
// date must be at least retention.min back (Server.EraseLimit).
const MethodErase = "erase"

func init() {
	handlers[MethodErase] = (*Server).erase
}

// EraseArgs asks for an erasure before a date (YYYY-MM-DD, Oslo).
type EraseArgs struct {
	Before string `json:"before"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// EraseResult is what was erased, or in a dry run would be; Limit is the
// newest date retention.min allowed.
type EraseResult struct {
	Before string             `json:"before"`
	Limit  string             `json:"limit"`
	DryRun bool               `json:"dry_run"`
	Counts ledger.EraseCounts `json:"counts"`
}

func (s *Server) erase(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a EraseArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if !v.operator {
		return nil, deniedf("%s may not erase personal data: operators only", v.actor)
	}
	if a.Before == "" {
		return nil, invalidf("before is missing: the date (YYYY-MM-DD) to erase before")
	}
	d, err := tilgang.ParseDate(a.Before)
	if err != nil {
		return nil, invalidf("before %q is not a date YYYY-MM-DD", short(a.Before))
	}
	now := s.now()
	// Without a configured retention.min (tilgang dev), its default: 5 years
	// (config.DefaultRetentionMin; config is not imported here, as it imports
	// the connectors).
	limitAt := now.In(tilgang.Oslo).AddDate(-5, 0, 0)
	if s.EraseLimit != nil {
		limitAt = s.EraseLimit(now)
	}
	limit := tilgang.DateOf(limitAt)
	if d.Start().After(limitAt) {
		return nil, invalidf("before %s is within the retention period (retention.min): the newest date an erasure may name today is %s", d, limit)
	}
	e, ok := s.Ledger.(ledger.Eraser)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: this worker cannot erase")
	}
	n, err := e.Erase(ctx, d.Start(), now.UTC(), v.actor, a.DryRun)
	if err != nil {
		return nil, err
	}
	return EraseResult{Before: d.String(), Limit: limit.String(), DryRun: a.DryRun, Counts: n}, nil
}
