package api

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// Who may reconcile, and what the call refuses before the runner is asked
// (this fixture's worker has none: a call that gets past the checks is
// Unavailable).
func TestReconcileAccess(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		actor string
		args  ReconcileArgs
		kind  tilgang.Kind
		msg   string
	}{
		{"an auditor's dry run", revisor, ReconcileArgs{System: "gerica"}, tilgang.Unavailable, "does not reconcile"},
		{"an operator's fix", drift, ReconcileArgs{All: true, Fix: true, AllowRemovals: 3}, tilgang.Unavailable, "does not reconcile"},
		{"an auditor's fix", revisor, ReconcileArgs{System: "gerica", Fix: true}, tilgang.Denied, "operators only"},
		{"an administrator", marit, ReconcileArgs{System: "gerica"}, tilgang.Denied, "operators and auditors only"},
		{"nothing named", drift, ReconcileArgs{}, tilgang.Invalid, "exactly one of system, connector and all"},
		{"two named", drift, ReconcileArgs{System: "gerica", All: true}, tilgang.Invalid, "exactly one"},
		{"a bad name", drift, ReconcileArgs{Connector: "a d"}, tilgang.Invalid, "is not a system or connector instance name"},
		{"removals on a dry run", drift, ReconcileArgs{All: true, AllowRemovals: 2}, tilgang.Invalid, "a dry run removes nothing"},
		{"negative removals", drift, ReconcileArgs{All: true, Fix: true, AllowRemovals: -2}, tilgang.Invalid, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client(tc.actor, "").Call(ctx, MethodReconcile, tc.args, nil)
			require.Error(t, err)
			require.Equal(t, tc.kind, tilgang.KindOf(err), "%v", err)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}
