package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// A principal holding only on_behalf may call the API for persons, never as
// a service principal: an operator's or auditor's capabilities count only
// when it signs for itself (the rule principals.Set.Verify applies to
// messages).
func TestOnBehalfActsForPersonsOnly(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		actor  string
		method string
		args   any
		kind   tilgang.Kind
	}{
		{name: "reload as the operator", actor: drift, method: MethodPolicyReload, kind: tilgang.Denied},
		{name: "the audit as the auditor", actor: revisor, method: MethodAudit, args: AuditArgs{}, kind: tilgang.Denied},
		{name: "verify as the auditor", actor: revisor, method: MethodAuditVerify, kind: tilgang.Denied},
		{name: "grants as the hr feed", actor: feed, method: MethodGrants, args: GrantsArgs{}, kind: tilgang.Denied},
		{name: "a person's grants", actor: kjell, method: MethodGrants, args: GrantsArgs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out json.RawMessage
			err := f.client(tc.actor, portal).Call(ctx, tc.method, tc.args, &out)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind != "" {
				require.Contains(t, err.Error(), "may not act on behalf of service principal")
			}
		})
	}
	require.Empty(t, f.reloads)
}

// plan tells nobody whether a person exists or has left unless they may
// see the person: one answer for an employee, a leaver and an unknown id.
func TestPlanHidesWhoExists(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	const leaver, nobody = "1547-10777", "1547-55555"
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: person(leaver, other, "skule"), Version: 2, Left: true, LeaveAt: now.Add(-time.Hour), Updated: now}))
	require.NoError(t, tx.Commit())

	answer := func(actor, id string, args PlanArgs) string {
		t.Helper()
		args.Person = id
		err := f.client(actor, "").Call(ctx, MethodPlan, args, nil)
		require.Error(t, err, "%s asking for %s", actor, id)
		require.Equal(t, tilgang.Denied, kindOf(err), "%s asking for %s: %v", actor, id, err)
		return strings.ReplaceAll(err.Error(), id, "PERSON")
	}
	for _, actor := range []string{stranger, feed, kjell} {
		want := answer(actor, bob, PlanArgs{})
		require.Equal(t, want, answer(actor, leaver, PlanArgs{}), "%s: a leaver looks like anyone else", actor)
		require.Equal(t, want, answer(actor, nobody, PlanArgs{}), "%s: an unknown id looks like anyone else", actor)
	}

	// The control: whoever may see the person is told.
	var res PlanResult
	require.NoError(t, f.client(other, "").Call(ctx, MethodPlan, PlanArgs{Person: leaver}, &res))
	require.True(t, res.Left)
	err = f.client(drift, "").Call(ctx, MethodPlan, PlanArgs{Person: nobody}, nil)
	require.Equal(t, tilgang.NotFound, kindOf(err), "err: %v", err)
}
