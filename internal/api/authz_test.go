package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
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

// Account work belongs to the systems on its connector instance that the
// person has, or (for a leaver's disable) had, a grant in: with two manual
// systems on one instance, the other system's administrator neither sees
// nor may open the task.
func TestAccountTaskOfTwoSystemsOnOneInstance(t *testing.T) {
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	cat := &policy.Catalogue{Version: "v1", Systems: map[string]*policy.System{
		"gerica": {ID: "gerica", Administrators: []string{marit}, Connectors: []string{"manual"}},
		"plania": {ID: "plania", Administrators: []string{tor}, Connectors: []string{"manual"}},
	}}
	s := &Server{Ledger: store, Catalogue: func() *policy.Catalogue { return cat }}

	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: person(bob, other, "eigedom"), Version: 2, Left: true, LeaveAt: now, Updated: now}))
	require.NoError(t, tx.InsertGrant(ledger.Grant{ID: "g-plania", Person: bob, System: "plania", Role: "bruker", State: tilgang.StateRevoked,
		RevokeCause: "leaver", Requester: other, Created: now, Updated: now}))
	disable, err := tx.InsertOperation(ledger.Operation{Person: bob, Connector: "manual", Kind: ledger.KindDisable,
		State: ledger.OpWaiting, DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	opID := strconv.FormatInt(disable, 10)

	tasks := func(actor string, args TasksArgs) []Task {
		t.Helper()
		res, err := s.tasks(ctx, s.viewer(ctx, actor), mustJSON(args))
		require.NoError(t, err)
		return res.([]Task)
	}
	require.Empty(t, tasks(marit, TasksArgs{}), "gerica's administrator")
	require.Empty(t, tasks(marit, TasksArgs{System: "gerica"}))
	got := tasks(tor, TasksArgs{})
	require.Len(t, got, 1)
	require.Equal(t, opID, got[0].OperationID)
	require.Equal(t, []string{tor}, got[0].Administrators)
	require.Len(t, tasks(tor, TasksArgs{System: "plania"}), 1)

	_, err = s.operation(ctx, s.viewer(ctx, marit), mustJSON(OperationArgs{OperationID: opID}))
	require.Equal(t, tilgang.Denied, kindOf(err), "err: %v", err)
	_, err = s.operation(ctx, s.viewer(ctx, tor), mustJSON(OperationArgs{OperationID: opID}))
	require.NoError(t, err)
}
