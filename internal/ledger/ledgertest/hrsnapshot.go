package ledgertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// hrSnapshotTests: the last snapshot of each HR source, kept per person.
var hrSnapshotTests = []test{
	{"PutAndPage", func(t *testing.T, l ledger.Ledger) {
		rec := func(id, given string) tilgang.Person {
			return tilgang.Person{ID: id, GivenName: given, FamilyName: "Bø", Municipality: "1547",
				Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "oppvekst",
					Position: "lærer", Start: tilgang.Date{Y: 2024, M: 8, D: 1}}}}
		}
		inTx(t, l, func(tx ledger.Tx) {
			for i := 5; i >= 1; i-- {
				id := fmt.Sprintf("1547-1000%d", i)
				require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "hr-sync/visma", Person: id, Version: int64(i),
					Present: true, Record: rec(id, "Åse"), Updated: t0}))
			}
			require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "hr-sync/other", Person: "1547-10001", Version: 9,
				Present: true, Record: rec("1547-10001", "Other"), Updated: t0}))
		})
		ctx := context.Background()
		all, err := l.HRSnapshot(ctx, "hr-sync/visma", "", 0)
		require.NoError(t, err)
		require.Len(t, all, 5, "only the source asked for")
		require.Equal(t, "1547-10001", all[0].Person, "by person id")
		require.Equal(t, int64(1), all[0].Version)
		require.Equal(t, rec("1547-10001", "Åse"), all[0].Record)
		require.Equal(t, ledger.DigestPerson(rec("1547-10001", "Åse")), all[0].Digest, "computed when not given")
		require.True(t, all[0].Present)
		require.Equal(t, t0.Truncate(time.Millisecond), all[0].Updated)

		page, err := l.HRSnapshot(ctx, "hr-sync/visma", "1547-10002", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"1547-10003", "1547-10004"}, []string{page[0].Person, page[1].Person})

		// A later row replaces the kept one.
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "hr-sync/visma", Person: "1547-10003", Version: 12,
				Present: false, Record: rec("1547-10003", "Åsa"), Updated: t0.Add(time.Hour)}))
		})
		page, err = l.HRSnapshot(ctx, "hr-sync/visma", "1547-10002", 1)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, int64(12), page[0].Version)
		require.False(t, page[0].Present)
		require.Equal(t, "Åsa", page[0].Record.GivenName)
		require.NotEqual(t, all[2].Digest, page[0].Digest, "the digest follows the record")

		none, err := l.HRSnapshot(ctx, "hr-sync/nobody", "", 10)
		require.NoError(t, err)
		require.Empty(t, none)
	}},
	{"RolledBack", func(t *testing.T, l ledger.Ledger) {
		tx, err := l.Begin(context.Background())
		require.NoError(t, err)
		require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "hr-sync/visma", Person: "1547-10001", Version: 1,
			Record: tilgang.Person{ID: "1547-10001"}, Updated: t0}))
		require.NoError(t, tx.Rollback())
		rows, err := l.HRSnapshot(context.Background(), "hr-sync/visma", "", 0)
		require.NoError(t, err)
		require.Empty(t, rows)
	}},
	{"Invalid", func(t *testing.T, l ledger.Ledger) {
		tx, err := l.Begin(context.Background())
		require.NoError(t, err)
		defer tx.Rollback()
		err = tx.PutHRSnapshot(ledger.HRSnapshotRow{Person: "1547-10001"})
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%v", err)
	}},
}
