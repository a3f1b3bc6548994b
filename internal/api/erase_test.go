package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// TestErase: only an operator erases, only before a date at least
// retention.min back; the erasure removes old free text and the records of
// people who left long ago, and is chained.
func TestErase(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	const leaver = "1547-40001"
	old := time.Date(2019, time.May, 6, 8, 0, 0, 0, time.UTC)
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: person(leaver, kjell, "helse"), Version: 2, LeaveAt: old, Left: true, Updated: old}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r-old", Person: leaver, System: "gerica", Role: "bruker", Action: "grant",
		Actor: kjell, Outcome: "denied", Reason: "vikar i heimetenesta", Why: "no approver", At: old}))
	tx.Audit(ledger.AuditEntry{At: old, Kind: "request.denied", Person: leaver, Actor: kjell, System: "gerica", Role: "bruker",
		RequestID: "r-old", Text: "vikar i heimetenesta"})
	require.NoError(t, tx.Commit())
	head, err := f.store.Head(ctx)
	require.NoError(t, err)
	today := tilgang.DateOf(time.Now())
	limit := tilgang.DateOf(time.Now().In(tilgang.Oslo).AddDate(-5, 0, 0))
	unchanged := func(t *testing.T) {
		t.Helper()
		now, err := f.store.Head(ctx)
		require.NoError(t, err)
		require.Equal(t, head, now, "nothing chained")
		p, err := f.store.Person(ctx, leaver)
		require.NoError(t, err)
		require.NotNil(t, p, "the record stays")
		r, err := f.store.Request(ctx, "r-old")
		require.NoError(t, err)
		require.Equal(t, "vikar i heimetenesta", r.Reason)
	}

	for _, tc := range []struct {
		name, actor, via string
		args             any
		kind             tilgang.Kind
		msg              string
	}{
		{name: "an auditor", actor: revisor, args: EraseArgs{Before: "2020-01-01"}, kind: tilgang.Denied, msg: "operators only"},
		{name: "an administrator", actor: marit, args: EraseArgs{Before: "2020-01-01"}, kind: tilgang.Denied, msg: "operators only"},
		{name: "the hr feed", actor: feed, args: EraseArgs{Before: "2020-01-01"}, kind: tilgang.Denied, msg: "operators only"},
		{name: "an operator via a portal", actor: drift, via: portal, args: EraseArgs{Before: "2020-01-01"}, kind: tilgang.Denied},
		{name: "no date", actor: drift, args: EraseArgs{}, kind: tilgang.Invalid, msg: "before is missing"},
		{name: "not a date", actor: drift, args: EraseArgs{Before: "01.01.2020"}, kind: tilgang.Invalid, msg: `before "01.01.2020" is not a date`},
		{name: "an unknown argument", actor: drift, args: map[string]any{"before": "2020-01-01", "all": true}, kind: tilgang.Invalid},
		{name: "today", actor: drift, args: EraseArgs{Before: today.String()}, kind: tilgang.Invalid,
			msg: "within the retention period (retention.min): the newest date an erasure may name today is " + limit.String()},
		{name: "a day within retention", actor: drift, args: EraseArgs{Before: tilgang.DateOf(limit.Start().AddDate(0, 0, 1)).String()},
			kind: tilgang.Invalid, msg: "within the retention period"},
		{name: "within retention, as a dry run", actor: drift, args: EraseArgs{Before: today.String(), DryRun: true}, kind: tilgang.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client(tc.actor, tc.via).Call(ctx, MethodErase, tc.args, nil)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			require.ErrorContains(t, err, tc.msg)
			unchanged(t)
		})
	}

	t.Run("a dry run", func(t *testing.T) {
		var res EraseResult
		require.NoError(t, f.client(drift, "").Call(ctx, MethodErase, EraseArgs{Before: "2020-01-01", DryRun: true}, &res))
		require.Equal(t, EraseResult{Before: "2020-01-01", Limit: limit.String(), DryRun: true,
			Counts: ledger.EraseCounts{Texts: 1, Requests: 1, Persons: 1}}, res)
		unchanged(t)
	})
	t.Run("the oldest date retention allows", func(t *testing.T) {
		var res EraseResult
		require.NoError(t, f.client(drift, "").Call(ctx, MethodErase, EraseArgs{Before: limit.String()}, &res))
		require.Equal(t, ledger.EraseCounts{Texts: 1, Requests: 1, Persons: 1}, res.Counts)
		p, err := f.store.Person(ctx, leaver)
		require.NoError(t, err)
		require.Nil(t, p)
		r, err := f.store.Request(ctx, "r-old")
		require.NoError(t, err)
		require.Equal(t, "", r.Reason)
		rows, err := f.store.Audit(ctx, ledger.AuditFilter{After: head.Seq})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		require.Equal(t, ledger.ErasureKind, rows[0].Entry.Kind)
		require.Equal(t, drift, rows[0].Entry.Actor)
		require.Equal(t, limit.Start().Format(time.RFC3339), rows[0].Entry.Details["before"])
		var rep VerifyReport
		require.NoError(t, f.client(revisor, "").Call(ctx, MethodAuditVerify, nil, &rep))
		require.True(t, rep.OK, rep.Problem)
	})
}

// EraseLimit, from retention.min, moves the newest date allowed.
func TestEraseLimit(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	srv := &Server{Ledger: f.store, Now: func() time.Time { return time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC) },
		EraseLimit: func(now time.Time) time.Time { return now.AddDate(-10, 0, 0) }}
	v := &viewer{actor: drift, operator: true}
	_, err := srv.erase(ctx, v, []byte(`{"before": "2017-01-01"}`))
	require.ErrorContains(t, err, "the newest date an erasure may name today is 2016-03-02")
	res, err := srv.erase(ctx, v, []byte(`{"before": "2016-03-02", "dry_run": true}`))
	require.NoError(t, err)
	require.Equal(t, "2016-03-02", res.(EraseResult).Limit)
}
