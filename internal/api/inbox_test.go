package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func TestInbox(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ids := func(gs []Approval) []string {
		out := []string{}
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	tests := []struct {
		name      string
		actor     string
		approvals []string
		tasks     int
	}{
		{name: "an administrator decides the systemansvarlig stage", actor: tor, approvals: []string{"g-bob"}},
		{name: "the principal a stage names decides it", actor: escalated, approvals: []string{"g-kjell"}},
		{name: "never one's own grant", actor: kjell, approvals: []string{}},
		{name: "an administrator completes the system's manual tasks", actor: marit, approvals: []string{}, tasks: 1},
		{name: "a stranger has nothing", actor: stranger, approvals: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in Inbox
			require.NoError(t, f.client(tc.actor, portal).Call(ctx, MethodInbox, nil, &in))
			require.Equal(t, tc.approvals, ids(in.Approvals))
			require.Len(t, in.Tasks, tc.tasks)
			require.Empty(t, in.Training)
		})
	}
	var in Inbox
	require.NoError(t, f.client(escalated, portal).Call(ctx, MethodInbox, nil, &in))
	require.Equal(t, "", in.Approvals[0].Reason)
	require.Equal(t, map[string]string{kjell: "G F"}, in.Names, "the person and requester, both kjell")
}

func TestPerson(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var p PersonInfo
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodPerson, PersonArgs{Person: ase}, &p))
	require.Equal(t, PersonInfo{ID: ase, GivenName: "G", FamilyName: "F", Manager: kjell}, p)
	require.Equal(t, "G F", p.Name())
	require.NoError(t, f.client(kjell, portal).Call(ctx, MethodPerson, PersonArgs{Person: ase}, &p), "the manager sees the person")

	err := f.client(stranger, portal).Call(ctx, MethodPerson, PersonArgs{Person: ase}, &p)
	require.Equal(t, tilgang.Denied, kindOf(err), "%v", err)
	err = f.client(stranger, portal).Call(ctx, MethodPerson, PersonArgs{Person: stranger}, &p)
	require.Equal(t, tilgang.NotFound, kindOf(err), "one without a record is not found: %v", err)

	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: person(ase, kjell, "helse"), Version: 2, Left: true, Updated: now}))
	tx.Audit(ledger.AuditEntry{At: now, Kind: "hr.record", Person: ase, Actor: feed})
	require.NoError(t, tx.Commit())
	require.NoError(t, f.client(ase, portal).Call(ctx, MethodPerson, PersonArgs{Person: ase}, &p))
	require.True(t, p.Left)

	var people []PersonInfo
	require.NoError(t, f.client(drift, "").Call(ctx, MethodPeople, nil, &people))
	var ids []string
	for _, p := range people {
		ids = append(ids, p.ID)
	}
	require.Equal(t, []string{kjell, ase, "1547-10555"}, ids, "everyone with a record, by id")
	require.True(t, people[1].Left)
	err = f.client(kjell, portal).Call(ctx, MethodPeople, nil, &people)
	require.Equal(t, tilgang.Denied, kindOf(err), "%v", err)
}
