package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// portalTests: the portal's sign-out list, the audit verify runs and the
// look-up of people by e-mail address, for backends that keep them.
var portalTests = []test{
	{"SignOut", func(t *testing.T, l ledger.Ledger) {
		so, ok := l.(ledger.SignOuts)
		if !ok {
			t.Skip("this backend keeps no sign-out list")
		}
		ctx := t.Context()
		out, err := so.SignedOut(ctx, "s1", "1547-1")
		require.NoError(t, err)
		require.False(t, out, "nothing is signed out at first")
		require.NoError(t, so.SignOut(ctx, "s1", "1547-1", t0.Add(8*time.Hour), t0))
		out, err = so.SignedOut(ctx, "s1", "1547-1")
		require.NoError(t, err)
		require.True(t, out, "the session is listed")
		out, err = so.SignedOut(ctx, "s1", "1547-2")
		require.NoError(t, err)
		require.False(t, out, "the same id of another person is another session")
		out, err = so.SignedOut(ctx, "s2", "1547-1")
		require.NoError(t, err)
		require.False(t, out, "another session of the person is not")
		require.NoError(t, so.SignOut(ctx, "s1", "1547-1", t0.Add(time.Hour), t0), "twice is fine")
		out, err = so.SignedOut(ctx, "s1", "1547-1")
		require.NoError(t, err)
		require.True(t, out)
		// A sign-out after s1 would have ended drops it: it is dead anyway.
		require.NoError(t, so.SignOut(ctx, "s3", "1547-1", t0.Add(20*time.Hour), t0.Add(9*time.Hour)))
		out, err = so.SignedOut(ctx, "s1", "1547-1")
		require.NoError(t, err)
		require.False(t, out, "an entry past its until is dropped")
		require.Error(t, so.SignOut(ctx, "", "1547-1", t0, t0), "a session id is needed")
	}},
	{"VerifyRuns", func(t *testing.T, l ledger.Ledger) {
		vr, ok := l.(ledger.VerifyRuns)
		if !ok {
			t.Skip("this backend records no verify runs")
		}
		ctx := t.Context()
		last, err := vr.LastVerify(ctx)
		require.NoError(t, err)
		require.Nil(t, last, "none yet")
		first := ledger.VerifyRun{At: t0, Actor: "1547-7", Report: ledger.VerifyReport{Rows: 10, OK: true, Anchors: 2}}
		second := ledger.VerifyRun{At: t0.Add(time.Minute), Actor: "worker",
			Report: ledger.VerifyReport{Rows: 12, BadSeq: 7, Problem: "row 7 does not chain"}}
		require.NoError(t, vr.RecordVerify(ctx, first))
		require.NoError(t, vr.RecordVerify(ctx, second))
		last, err = vr.LastVerify(ctx)
		require.NoError(t, err)
		require.Equal(t, &second, last, "the newest run")
	}},
	{"PeopleByEmail", func(t *testing.T, l ledger.Ledger) {
		pe, ok := l.(ledger.PeopleByEmail)
		if !ok {
			t.Skip("this backend finds nobody by e-mail")
		}
		a, b, c, d := person("1547-1"), person("1547-2"), person("1547-3"), person("1547-4")
		a.Person.Email = "Kari.Nordmann@Aukra.kommune.no"
		b.Person.Email = "kari.nordmann@aukra.kommune.no.example" // longer: not the same address
		c.Person.Email = "per_ola@aukra.kommune.no"
		d.Person.Email = "perxola@aukra.kommune.no" // _ is no wildcard
		inTx(t, l, func(tx ledger.Tx) {
			for _, p := range []ledger.PersonRow{a, b, c, d} {
				require.NoError(t, tx.PutPerson(p))
			}
		})
		ctx := t.Context()
		ids, err := pe.PersonIDsByEmail(ctx, "KARI.nordmann@aukra.kommune.no", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"1547-1"}, ids, "case-insensitive, the whole address")
		ids, err = pe.PersonIDsByEmail(ctx, "per_ola@aukra.kommune.no", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"1547-3"}, ids)
		ids, err = pe.PersonIDsByEmail(ctx, "nobody@aukra.kommune.no", 2)
		require.NoError(t, err)
		require.Empty(t, ids)
		c.Person.Email, d.Person.Email = "same@aukra.kommune.no", "Same@aukra.kommune.no"
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.PutPerson(c))
			require.NoError(t, tx.PutPerson(d))
		})
		ids, err = pe.PersonIDsByEmail(ctx, "same@aukra.kommune.no", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"1547-3", "1547-4"}, ids, "two people with one address: both, so the caller sees it is ambiguous")
		ids, err = pe.PersonIDsByEmail(ctx, "åse@aukra.kommune.no", 2)
		require.NoError(t, err)
		require.Empty(t, ids)
	}},
}
