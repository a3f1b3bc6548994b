package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
