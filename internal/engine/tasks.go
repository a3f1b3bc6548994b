package engine

import (
	"maps"
	"slices"

	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// TaskSystems lists, sorted, the systems an operation belongs to as a
// manual task: their administrators may see it and complete it (mayDoTask
// here, the task list of package api). An operation of a grant g belongs
// to g's system. Account work without a grant (g nil) belongs to the
// catalogue's systems that use op's connector instance and on which the
// person holds an open grant, and a disable also to those whose grant the
// person's leave ended: never to every system on the instance, so one
// system's administrators do not do another's account work. grants are the
// person's grants, final ones included (ledger.Tx.AllGrantsOf, or
// ledger.Reader.Grants for the person).
func TaskSystems(cat *policy.Catalogue, op *ledger.Operation, g *ledger.Grant, grants []ledger.Grant) []string {
	if g != nil {
		return []string{g.System}
	}
	if op.GrantID != "" || cat == nil {
		return nil
	}
	set := map[string]bool{}
	for _, gr := range grants {
		if gr.Person != op.Person || set[gr.System] {
			continue
		}
		if gr.State.Final() && (op.Kind != ledger.KindDisable || gr.RevokeCause != "leaver") {
			continue
		}
		if s, ok := cat.System(gr.System); ok && slices.Contains(s.Connectors, op.Connector) {
			set[gr.System] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
