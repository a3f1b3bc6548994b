package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func fakeID(i int) string {
	h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
	return hex.EncodeToString(h[:])
}

// StatusAll reads any number of statuses in calls that each fit the
// request limit (2,500 ids are about 170 KB of ids), in order.
func TestStatusAll(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, n := range []int{0, 1, StatusPerCall, StatusPerCall + 1, 2500} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fakeID(i)
		}
		if n > 0 {
			ids[n-1] = f.reqAse
		}
		var calls []int
		sts, err := f.client(kjell, "").StatusAll(ctx, ids, func(done int) { calls = append(calls, done) })
		require.NoError(t, err, "%d ids", n)
		require.Len(t, sts, n)
		for i, st := range sts[:max(n-1, 0)] {
			require.Equal(t, Status{RequestID: ids[i], State: StateUnknown}, st)
		}
		if n > 0 {
			require.Equal(t, "active", sts[n-1].State)
		}
		require.Len(t, calls, (n+StatusPerCall-1)/StatusPerCall, "%d ids: one call per %d", n, StatusPerCall)
	}
}

// A request over the limit is refused by the client before it is sent,
// saying how to do better; the server refuses one that is sent anyway.
func TestRequestOverLimit(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ids := make([]string, MaxStatusMany)
	for i := range ids {
		ids[i] = fakeID(i)
	}
	err := f.client(kjell, "").Call(ctx, MethodStatusMany, StatusManyArgs{RequestIDs: ids}, nil)
	require.Equal(t, tilgang.Invalid, kindOf(err), "err: %v", err)
	require.Contains(t, err.Error(), "more than the 65536 the API takes: ask in smaller parts")

	_, _, err = (&Server{}).Call(ctx, MethodStatusMany, []byte(`{"args": {"request_ids": ["`+strings.Repeat("a", MaxRequest)+`"]}}`))
	require.Equal(t, tilgang.Invalid, kindOf(err), "err: %v", err)
	require.Contains(t, err.Error(), "more than the 65536 allowed")
}

// status.many cuts a long why (so an answer's size is bounded by its
// number of ids) at a character boundary; status gives all of it.
func TestStatusManyCutsWhy(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	long := strings.Repeat("ø", 3000) // two bytes each
	req := envelope.KeyHash(bob, "test", "long")
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: req, Person: bob, System: "gerica", Role: "admin", Action: "grant", Actor: bob,
		Outcome: "rejected", Why: "x" + long, At: time.Now()}))
	require.NoError(t, tx.Commit())

	var sts []Status
	require.NoError(t, f.client(bob, "").Call(ctx, MethodStatusMany, StatusManyArgs{RequestIDs: []string{req, f.reqRej}}, &sts))
	require.Len(t, sts, 2)
	why := sts[0].Why
	require.LessOrEqual(t, len(why), MaxManyWhy)
	require.Greater(t, len(why), MaxManyWhy-8)
	require.True(t, utf8.ValidString(why), "cut at a character boundary")
	require.True(t, strings.HasPrefix("x"+long, strings.TrimSuffix(why, "…")))
	require.True(t, strings.HasSuffix(why, "…"))
	require.Equal(t, "bob may not ask for gerica/admin", sts[1].Why, "a short why is whole")

	var st Status
	require.NoError(t, f.client(bob, "").Call(ctx, MethodStatus, StatusArgs{RequestID: req}, &st))
	require.Equal(t, "x"+long, st.Why)
}

// A system with many holders: grants answers at most MaxGrants at a time;
// GrantsAll pages through all of them, and a call without a limit that
// would answer more is refused, saying how to page.
func TestGrantsPages(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 2*MaxGrants + 500
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, tx.InsertGrant(ledger.Grant{ID: fmt.Sprintf("g-many-%05d", i), Person: fmt.Sprintf("1547-3%05d", i), System: "public360",
			Role: "saksbehandler", State: tilgang.StateActive, RequestID: fakeID(i), Requester: feed, Created: now, Updated: now}))
	}
	require.NoError(t, tx.Commit())

	var gs []Grant
	err = f.client(drift, "").Call(ctx, MethodGrants, GrantsArgs{System: "public360"}, &gs)
	require.Equal(t, tilgang.Invalid, kindOf(err), "err: %v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("%d grants match, more than the %d one answer holds: ask in pages with limit and after", n+1, MaxGrants))

	all, err := f.client(drift, "").GrantsAll(ctx, GrantsArgs{System: "public360"})
	require.NoError(t, err)
	require.Len(t, all, n+1, "the fixture's grant of Bob's and the many")
	seen := map[string]bool{}
	for _, g := range all {
		require.False(t, seen[g.ID], "grant %s twice", g.ID)
		seen[g.ID] = true
	}

	// Tor, administrator of public360, pages the same way; Åse sees none
	// of them.
	all, err = f.client(tor, "").GrantsAll(ctx, GrantsArgs{System: "public360"})
	require.NoError(t, err)
	require.Len(t, all, n+1)
	none, err := f.client(ase, "").GrantsAll(ctx, GrantsArgs{System: "public360"})
	require.NoError(t, err)
	require.Empty(t, none)

	for _, tc := range []struct {
		name string
		args GrantsArgs
		want string
	}{
		{"a limit over the most", GrantsArgs{System: "public360", Limit: MaxGrants + 1}, "limit 1001 is outside 1..1000"},
		{"a negative limit", GrantsArgs{System: "public360", Limit: -1}, "limit -1 is outside 1..1000"},
		{"after a grant not in the list", GrantsArgs{System: "public360", Limit: 10, After: "g-ase"}, `after "g-ase" is not one of the grants asked for`},
		{"after not a grant id", GrantsArgs{System: "public360", Limit: 10, After: "a b"}, `after "a b" is not a grant id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client(drift, "").Call(ctx, MethodGrants, tc.args, nil)
			require.Equal(t, tilgang.Invalid, kindOf(err), "err: %v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
