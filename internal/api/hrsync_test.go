package api

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// hrSyncFixture serves the API over a SQLite ledger holding a snapshot of
// source visma, with feed (hr), drift (operator), hrdrift (hr and
// operator), revisor (auditor) and a person.
func hrSyncFixture(t *testing.T, people int) (*sqlledger.Store, func(actor string) *Client) {
	t.Helper()
	ctx := context.Background()
	keys := map[string]nkeys.KeyPair{}
	var ps []principals.Principal
	add := func(id, kind string, caps ...string) {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		keys[id] = kp
		ps = append(ps, principals.Principal{ID: id, Kind: kind, Key: pub, Capabilities: caps})
	}
	add(feed, principals.KindService, tilgang.CapHR)
	add(drift, principals.KindService, tilgang.CapOperator)
	add("hrdrift", principals.KindService, tilgang.CapHR, tilgang.CapOperator)
	add(revisor, principals.KindService, tilgang.CapAuditor)
	add(ase, principals.KindPerson)
	set, err := principals.New(ps)
	require.NoError(t, err)
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	tx, err := store.Begin(ctx)
	require.NoError(t, err)
	for i := 1; i <= people; i++ {
		id := fmt.Sprintf("1547-%d", 1000+i)
		require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "visma", Person: id, Version: int64(i), Present: true,
			Record: tilgang.Person{ID: id, GivenName: "A", FamilyName: "B", Municipality: "1547"}, Updated: time.Now()}))
	}
	require.NoError(t, tx.Commit())

	nc := startNATS(t, nil)
	srv := &Server{Ledger: store, Principals: func() *principals.Set { return set }}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, nc) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	client := func(actor string) *Client {
		return &Client{NC: nc, Key: keys[actor], Actor: actor, Timeout: 5 * time.Second}
	}
	require.Eventually(t, func() bool {
		return client(drift).Call(ctx, MethodGrants, GrantsArgs{}, nil) == nil
	}, 10*time.Second, 20*time.Millisecond)
	return store, client
}

func TestHRSnapshotPagesAndWhoMayRead(t *testing.T) {
	_, client := hrSyncFixture(t, ledger.MaxHRSnapshotPage+3)
	ctx := context.Background()

	all, err := client(feed).HRSnapshotAll(ctx, "visma")
	require.NoError(t, err)
	require.Len(t, all, ledger.MaxHRSnapshotPage+3, "every page")
	require.Equal(t, "1547-1001", all[0].Person)
	require.Equal(t, int64(1), all[0].Version)
	require.True(t, all[0].Present)
	require.Equal(t, ledger.DigestPerson(all[0].Record), all[0].Digest)

	var p HRSnapshotPage
	require.NoError(t, client(revisor).Call(ctx, MethodHRSnapshot, HRSnapshotArgs{Source: "visma", After: "1547-1001", Limit: 2}, &p))
	require.Equal(t, []string{"1547-1002", "1547-1003"}, []string{p.Entries[0].Person, p.Entries[1].Person})
	require.Equal(t, "1547-1003", p.Next)

	var none HRSnapshotPage
	require.NoError(t, client(feed).Call(ctx, MethodHRSnapshot, HRSnapshotArgs{Source: "fint"}, &none))
	require.Empty(t, none.Entries)
	require.Empty(t, none.Next)

	for _, tc := range []struct {
		actor string
		args  HRSnapshotArgs
		kind  tilgang.Kind
		msg   string
	}{
		{ase, HRSnapshotArgs{Source: "visma"}, tilgang.Denied, "1547-10234 may not read the snapshot of HR source visma: hr, operators and auditors only"},
		{feed, HRSnapshotArgs{Source: "vis ma"}, tilgang.Invalid, `source "vis ma" is not a source name`},
		{feed, HRSnapshotArgs{Source: "visma", Limit: ledger.MaxHRSnapshotPage + 1}, tilgang.Invalid, "limit 501 is outside 1..500"},
		{feed, HRSnapshotArgs{Source: "visma", After: "a b"}, tilgang.Invalid, `after "a b" is not a person id`},
	} {
		err := client(tc.actor).Call(ctx, MethodHRSnapshot, tc.args, nil)
		require.Equal(t, tc.kind, kindOf(err), "%v", err)
		require.ErrorContains(t, err, tc.msg)
	}
}

// A held sync is announced by hr and chained with its event; its changes
// are allowed only by a principal holding both hr and operator, as the
// worker checks.
func TestHRSyncHeldAndAllowed(t *testing.T) {
	store, client := hrSyncFixture(t, 1)
	ctx := context.Background()
	sum := hrsource.Summary{Source: "visma", People: 6, Movers: 1, Leavers: 4, Unchanged: 1, Held: true,
		Reasons: []string{"4 of 10 people would leave (40.0 %); the limit is 10.0 %"}}

	for _, tc := range []struct {
		actor, method string
		msg           string
	}{
		{drift, MethodHRSyncHeld, "drift may not announce a held HR sync: principals with the hr capability only"},
		{feed, MethodHRSyncAllow, "feed may not allow the changes of a held HR sync of visma: that takes both hr and operator, and feed lacks operator"},
		{drift, MethodHRSyncAllow, "drift may not allow the changes of a held HR sync of visma: that takes both hr and operator, and drift lacks hr"},
		{ase, MethodHRSyncAllow, "lacks hr and operator"},
	} {
		err := client(tc.actor).Call(ctx, tc.method, HRSyncArgs{Summary: sum}, nil)
		require.Equal(t, tilgang.Denied, kindOf(err), "%s %s: %v", tc.actor, tc.method, err)
		require.ErrorContains(t, err, tc.msg)
	}
	err := client(feed).Call(ctx, MethodHRSyncHeld, HRSyncArgs{Summary: hrsource.Summary{Source: "../x"}}, nil)
	require.Equal(t, tilgang.Invalid, kindOf(err), "%v", err)

	var res HRSyncResult
	require.NoError(t, client(feed).Call(ctx, MethodHRSyncHeld, HRSyncArgs{Summary: sum}, &res))
	require.Equal(t, HRSyncResult{Source: "visma", Kind: "hr.sync.held"}, res)
	require.NoError(t, client("hrdrift").Call(ctx, MethodHRSyncAllow, HRSyncArgs{Summary: sum}, &res))
	require.Equal(t, HRSyncResult{Source: "visma", Kind: "hr.sync.allowed"}, res)

	rows, err := store.Audit(ctx, ledger.AuditFilter{})
	require.NoError(t, err)
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, r.Entry.Kind)
		if r.Entry.Kind == "hr.sync.held" {
			require.Equal(t, feed, r.Entry.Actor)
			require.Equal(t, map[string]string{"source": "visma", "people": "6", "joiners": "0", "movers": "1", "leavers": "4",
				"unchanged": "1", "rejected": "0"}, r.Entry.Details)
			require.Equal(t, sum.Reasons[0], r.Entry.Text)
		}
	}
	require.Equal(t, []string{"hr.sync.held", "hr.sync.allowed"}, kinds, "refusals chain nothing")
	evs, err := store.PendingEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "only the hold is an event")
	require.Equal(t, "hr.sync.held", evs[0].Kind)
	require.Equal(t, "_", evs[0].Person)
	require.Equal(t, "visma", evs[0].Data["source"])

	report, err := store.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, report.OK, report.Problem)
}
