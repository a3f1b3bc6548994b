package ledgertest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

var accountTests = []test{
	{"RoundTrip", func(t *testing.T, l ledger.Ledger) {
		want := ledger.AccountRow{Person: "1547-10234", Connector: "ad",
			Ref:     connectors.Ref{"sam": "ase.overgard", "upn": "ase.overgard@ror.test", "object_guid": "6f1c-..."},
			Enabled: true, Updated: t0}
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.PutAccount(want))
			got, err := tx.Account(want.Person, "ad")
			require.NoError(t, err)
			require.Equal(t, &want, got)
		})
		got, err := l.Account(t.Context(), want.Person, "ad")
		require.NoError(t, err)
		require.Equal(t, &want, got)

		want.Ref, want.Enabled, want.Updated = connectors.Ref{"sam": "ase.overgard2"}, false, t0.Add(time.Hour)
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.PutAccount(want)) })
		got, err = l.Account(t.Context(), want.Person, "ad")
		require.NoError(t, err)
		require.Equal(t, &want, got, "Put replaces")

		got, err = l.Account(t.Context(), want.Person, "entra")
		require.NoError(t, err)
		require.Nil(t, got)
	}},
	{"AccountsOfByConnector", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			for _, c := range []string{"manual", "ad", "entra"} {
				require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: c, Ref: connectors.Ref{"id": c}, Updated: t0}))
			}
			require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p2", Connector: "ad", Ref: connectors.Ref{"id": "x"}, Updated: t0}))
		})
		tx := begin(t, l)
		defer tx.Rollback()
		got, err := tx.AccountsOf("p1")
		require.NoError(t, err)
		var conns []string
		for _, a := range got {
			require.Equal(t, "p1", a.Person)
			require.Equal(t, connectors.Ref{"id": a.Connector}, a.Ref)
			conns = append(conns, a.Connector)
		}
		require.Equal(t, []string{"ad", "entra", "manual"}, conns)
		none, err := tx.AccountsOf("nobody")
		require.NoError(t, err)
		require.Empty(t, none)
	}},
}

// entry is the i-th of a series of chain entries, every field set.
func entry(i int, person, system string) ledger.AuditEntry {
	return ledger.AuditEntry{At: t0.Add(time.Duration(i) * time.Hour), Kind: "request.accepted", Person: person,
		Actor: "1547-10001", Via: "portal", System: system, Role: "bruker", GrantID: "g1", RequestID: "r1", OpID: int64(i + 1),
		From: "pending_approval", To: "provisioning", Catalogue: "cat-1", FileHash: "f00d",
		Details: map[string]string{"stage": "1", "n": string(rune('a' + i))}}
}

func auditAll(t *testing.T, l ledger.Ledger) []ledger.AuditRow {
	t.Helper()
	rows, err := l.Audit(t.Context(), ledger.AuditFilter{})
	require.NoError(t, err)
	return rows
}

// checkChain checks what any backend's chain rows promise: seq 1..n, each
// row's bytes hash to its hash and name the previous row's hash.
func checkChain(t *testing.T, rows []ledger.AuditRow) {
	t.Helper()
	prev := Genesis
	for i, r := range rows {
		require.EqualValues(t, i+1, r.Seq)
		require.Equal(t, sha256hex(r.Canonical), r.Hash, "row %d's bytes hash to its hash", r.Seq)
		require.Contains(t, r.Canonical, prev, "row %d names the previous hash", r.Seq)
		prev = r.Hash
	}
}

var auditTests = []test{
	{"Empty", func(t *testing.T, l ledger.Ledger) {
		require.Equal(t, ledger.Head{Seq: 0, Hash: Genesis}, head(t, l))
		require.Empty(t, auditAll(t, l))
	}},
	{"WrittenAtCommit", func(t *testing.T, l ledger.Ledger) {
		var want []ledger.AuditEntry
		for i := range 5 {
			want = append(want, entry(i, "p1", "gerica"))
		}
		want[1].Via, want[1].Details, want[1].OpID = "", nil, 0
		tx := begin(t, l)
		defer tx.Rollback()
		for _, e := range want[:3] {
			tx.Audit(e)
		}
		require.Empty(t, auditAll(t, l), "buffered until Commit")
		require.NoError(t, tx.Commit())
		inTx(t, l, func(tx ledger.Tx) {
			for _, e := range want[3:] {
				tx.Audit(e)
			}
		})
		rows := auditAll(t, l)
		require.Len(t, rows, 5)
		checkChain(t, rows)
		require.Contains(t, rows[0].Canonical, Genesis)
		for i, r := range rows {
			require.Equal(t, want[i], r.Entry, "row %d", r.Seq)
			require.Empty(t, r.TextHash)
		}
		require.Equal(t, ledger.Head{Seq: 5, Hash: rows[4].Hash}, head(t, l))
	}},
	{"RollbackWritesNoRows", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) { tx.Audit(entry(0, "p1", "gerica")) })
		before := head(t, l)
		tx := begin(t, l)
		tx.Audit(entry(1, "p1", "gerica"))
		tx.Audit(entry(2, "p1", "gerica"))
		require.NoError(t, tx.Rollback())
		require.Equal(t, before, head(t, l), "the head does not move")
		require.Len(t, auditAll(t, l), 1)

		inTx(t, l, func(tx ledger.Tx) { tx.Audit(entry(3, "p1", "gerica")) })
		rows := auditAll(t, l)
		require.Len(t, rows, 2)
		checkChain(t, rows)
		require.Equal(t, entry(3, "p1", "gerica"), rows[1].Entry, "the next commit follows the last committed row")
		require.True(t, verify(t, l, nil).OK)
	}},
	{"FreeTextBesideTheChain", func(t *testing.T, l ledger.Ledger) {
		reason := "Kari Nordmann begynner i heimetenesta 1. august"
		e := entry(0, "p1", "gerica")
		e.Text = reason
		same := entry(1, "p1", "gerica")
		same.Text = reason // the same text twice is stored once and read twice
		inTx(t, l, func(tx ledger.Tx) {
			tx.Audit(e)
			tx.Audit(same)
			tx.Audit(entry(2, "p1", "gerica"))
		})
		rows := auditAll(t, l)
		require.Len(t, rows, 3)
		for _, r := range rows[:2] {
			require.Equal(t, reason, r.Entry.Text)
			require.Equal(t, sha256hex(reason), r.TextHash)
			require.NotContains(t, r.Canonical, "Kari", "free text is not chained")
			require.Contains(t, r.Canonical, r.TextHash, "its hash is")
		}
		require.Equal(t, e, rows[0].Entry)
		require.Empty(t, rows[2].Entry.Text)
		require.Empty(t, rows[2].TextHash)
		checkChain(t, rows)
	}},
	{"Filter", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			tx.Audit(entry(0, "p1", "gerica")) // seq 1, t0
			tx.Audit(entry(1, "p2", "gerica")) // seq 2, t0+1h
			tx.Audit(entry(2, "p1", "visma"))  // seq 3, t0+2h
			tx.Audit(entry(3, "p2", "visma"))  // seq 4, t0+3h
			tx.Audit(entry(4, "", ""))         // seq 5, t0+4h: about no one
		})
		for _, tc := range []struct {
			name string
			f    ledger.AuditFilter
			want []int64
		}{
			{"everything", ledger.AuditFilter{}, []int64{1, 2, 3, 4, 5}},
			{"person", ledger.AuditFilter{Person: "p1"}, []int64{1, 3}},
			{"system", ledger.AuditFilter{System: "visma"}, []int64{3, 4}},
			{"person and system", ledger.AuditFilter{Person: "p2", System: "visma"}, []int64{4}},
			{"since is inclusive", ledger.AuditFilter{Since: t0.Add(2 * time.Hour)}, []int64{3, 4, 5}},
			{"since between rows", ledger.AuditFilter{Since: t0.Add(2*time.Hour + time.Millisecond)}, []int64{4, 5}},
			{"person since", ledger.AuditFilter{Person: "p2", Since: t0.Add(time.Hour)}, []int64{2, 4}},
			{"limit keeps the oldest", ledger.AuditFilter{Limit: 2}, []int64{1, 2}},
			{"person limit", ledger.AuditFilter{Person: "p2", Limit: 1}, []int64{2}},
			{"nobody", ledger.AuditFilter{Person: "p9"}, nil},
			{"after", ledger.AuditFilter{After: 2}, []int64{3, 4, 5}},
			{"person after", ledger.AuditFilter{Person: "p1", After: 1}, []int64{3}},
			{"after and limit", ledger.AuditFilter{After: 1, Limit: 2}, []int64{2, 3}},
			{"after the last", ledger.AuditFilter{After: 5}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rows, err := l.Audit(t.Context(), tc.f)
				require.NoError(t, err)
				var got []int64
				for _, r := range rows {
					got = append(got, r.Seq)
					require.Equal(t, sha256hex(r.Canonical), r.Hash)
				}
				require.Equal(t, tc.want, got)
			})
		}
	}},
	{"Pages", func(t *testing.T, l ledger.Ledger) {
		// More rows than a page holds: a read without a limit is one full
		// page, and the pages, each read after the last row of the one
		// before, are the whole chain in order with the filters applied.
		n := ledger.MaxAuditPage + 150
		inTx(t, l, func(tx ledger.Tx) {
			for i := range n {
				e := ledger.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Kind: "grant.state", Person: "p1", System: "gerica"}
				switch {
				case i%3 == 1:
					e.Person = "p2"
				case i%3 == 2:
					e.System = "visma"
				}
				if i%10 == 0 {
					e.Text = "grunn " + string(rune('a'+i%26))
				}
				tx.Audit(e)
			}
		})
		first, err := l.Audit(t.Context(), ledger.AuditFilter{})
		require.NoError(t, err)
		require.Equal(t, ledger.MaxAuditPage, len(first), "no limit is the largest page")
		over, err := l.Audit(t.Context(), ledger.AuditFilter{Limit: n})
		require.NoError(t, err)
		require.Equal(t, ledger.MaxAuditPage, len(over), "a larger limit is cut to the largest page")

		since := t0.Add(100 * time.Second)
		for _, tc := range []struct {
			name  string
			f     ledger.AuditFilter
			keep  func(i int) bool
			limit int
		}{
			{"everything", ledger.AuditFilter{}, func(int) bool { return true }, 0},
			{"small pages", ledger.AuditFilter{Limit: 97}, func(int) bool { return true }, 97},
			{"person", ledger.AuditFilter{Person: "p1", Limit: 200}, func(i int) bool { return i%3 != 1 }, 200},
			{"system since", ledger.AuditFilter{System: "gerica", Since: since, Limit: 300}, func(i int) bool { return i%3 != 2 && i >= 100 }, 300},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []int64
				for i := range n {
					if tc.keep(i) {
						want = append(want, int64(i+1))
					}
				}
				limit := tc.limit
				if limit == 0 {
					limit = ledger.MaxAuditPage
				}
				var got []int64
				f, pages := tc.f, 0
				for {
					rows, err := l.Audit(t.Context(), f)
					require.NoError(t, err)
					require.LessOrEqual(t, len(rows), limit)
					pages++
					for _, r := range rows {
						got = append(got, r.Seq)
						if (r.Seq-1)%10 == 0 {
							require.Equal(t, "grunn "+string(rune('a'+(r.Seq-1)%26)), r.Entry.Text, "row %d keeps its text", r.Seq)
						}
					}
					if len(rows) < limit {
						break
					}
					f.After = rows[len(rows)-1].Seq
				}
				require.Equal(t, want, got)
				require.Greater(t, pages, 1)

				got, pages = nil, 0
				require.NoError(t, ledger.AuditPages(t.Context(), l, tc.f, func(rows []ledger.AuditRow) error {
					for _, r := range rows {
						got = append(got, r.Seq)
					}
					pages++
					return nil
				}))
				require.Equal(t, want, got, "AuditPages")
				require.Greater(t, pages, 1)
			})
		}
	}},
}

// grantHistory writes two grants through their states, each transition
// with its chain row, and one other row: 6 rows, 2 grants.
func grantHistory(t *testing.T, l ledger.Ledger) {
	t.Helper()
	a := grant("g-a", "p1", "gerica", "bruker", tilgang.StatePendingApproval)
	b := grant("g-b", "p2", "visma", "laerer", tilgang.StateProvisioning)
	putGrants(t, l, a, b)
	for i, to := range []tilgang.GrantState{tilgang.StateProvisioning, tilgang.StateActive, tilgang.StateRevoking} {
		inTx(t, l, func(tx ledger.Tx) {
			from := a.State
			a.State, a.Updated = to, t0.Add(time.Duration(i+1)*time.Minute)
			require.NoError(t, tx.UpdateGrant(a))
			tx.Audit(stateEntry(a, from))
		})
	}
	inTx(t, l, func(tx ledger.Tx) {
		e := entry(9, "p3", "")
		e.Kind, e.Text = "message.rejected", "signature does not verify"
		tx.Audit(e)
	})
}

var verifyTests = []test{
	{"Empty", func(t *testing.T, l ledger.Ledger) {
		rep := verify(t, l, nil)
		require.True(t, rep.OK, rep.Problem)
		require.Zero(t, rep.Rows)
		require.Zero(t, rep.Grants)
		require.Equal(t, ledger.Head{Seq: 0, Hash: Genesis}, rep.Head)
	}},
	{"Untouched", func(t *testing.T, l ledger.Ledger) {
		grantHistory(t, l)
		rep := verify(t, l, nil)
		require.True(t, rep.OK, rep.Problem)
		require.Zero(t, rep.BadSeq)
		require.EqualValues(t, 6, rep.Rows)
		require.Equal(t, 2, rep.Grants)
		require.Equal(t, head(t, l), rep.Head)
	}},
	{"Anchors", func(t *testing.T, l ledger.Ledger) {
		grantHistory(t, l)
		h := head(t, l)
		rows := auditAll(t, l)

		rep := verify(t, l, &h)
		require.True(t, rep.OK, "anchored at the head: %s", rep.Problem)
		mid := ledger.Head{Seq: 3, Hash: rows[2].Hash}
		rep = verify(t, l, &mid)
		require.True(t, rep.OK, "anchored at an older row: %s", rep.Problem)
		rep = verify(t, l, &ledger.Head{Hash: Genesis})
		require.True(t, rep.OK, "an anchor of the empty chain: %s", rep.Problem)

		forged := ledger.Head{Seq: 3, Hash: rows[3].Hash}
		rep = verify(t, l, &forged)
		require.False(t, rep.OK, "an anchor the chain does not reach")
		require.EqualValues(t, 3, rep.BadSeq)
		require.Contains(t, rep.Problem, "3")

		ahead := ledger.Head{Seq: h.Seq + 2, Hash: sha256hex("a later head")}
		rep = verify(t, l, &ahead)
		require.False(t, rep.OK, "anchored rows that are gone")
		require.Equal(t, h.Seq+1, rep.BadSeq, "the first missing row")
		require.Contains(t, rep.Problem, "deleted")
	}},
	{"GrantStateNotChained", func(t *testing.T, l ledger.Ledger) {
		grantHistory(t, l)
		inTx(t, l, func(tx ledger.Tx) {
			g, err := tx.Grant("g-b")
			require.NoError(t, err)
			g.State = tilgang.StateActive // and no chain row
			require.NoError(t, tx.UpdateGrant(*g))
		})
		rep := verify(t, l, nil)
		require.False(t, rep.OK)
		require.Contains(t, rep.Problem, "g-b")
		require.Contains(t, rep.Problem, string(tilgang.StateActive))
		require.Contains(t, rep.Problem, string(tilgang.StateProvisioning))
	}},
	{"GrantNotChained", func(t *testing.T, l ledger.Ledger) {
		grantHistory(t, l)
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertGrant(grant("g-x", "p9", "gerica", "admin", tilgang.StateActive)))
		})
		rep := verify(t, l, nil)
		require.False(t, rep.OK)
		require.Contains(t, rep.Problem, "g-x")
		require.Contains(t, rep.Problem, "not in the chain")
	}},
}

var eventTests = []test{
	{"PendingAfterCommit", func(t *testing.T, l ledger.Ledger) {
		e1 := ledger.Event{Kind: tilgang.EvRequestAccepted, Person: "p1", At: t0, Data: map[string]any{"request_id": "r1", "grant_id": "g1"}}
		e2 := ledger.Event{Kind: tilgang.EvRequestRejected, Person: "", At: t0.Add(time.Second), Data: map[string]any{"reason": "bad signature"}}
		e3 := ledger.Event{Kind: tilgang.EvGrantActive, Person: "p1", At: t0.Add(2 * time.Second)}
		tx := begin(t, l)
		defer tx.Rollback()
		tx.Emit(e1)
		tx.Emit(e2)
		pending, err := l.PendingEvents(t.Context(), 10)
		require.NoError(t, err)
		require.Empty(t, pending, "nothing is pending before Commit")
		require.NoError(t, tx.Commit())

		rolled := begin(t, l)
		rolled.Emit(ledger.Event{Kind: tilgang.EvGrantDenied, Person: "p1", At: t0})
		require.NoError(t, rolled.Rollback())
		inTx(t, l, func(tx ledger.Tx) { tx.Emit(e3) })

		pending, err = l.PendingEvents(t.Context(), 10)
		require.NoError(t, err)
		require.Len(t, pending, 3, "the rolled-back event is not there")
		e2.Person, e3.Data = "_", map[string]any{}
		for i, want := range []ledger.Event{e1, e2, e3} {
			got := pending[i]
			require.Positive(t, got.ID)
			if i > 0 {
				require.Greater(t, got.ID, pending[i-1].ID, "oldest first")
			}
			want.ID = got.ID
			require.Equal(t, want, got)
		}

		first, err := l.PendingEvents(t.Context(), 2)
		require.NoError(t, err)
		require.Equal(t, pending[:2], first, "at most n")
	}},
	{"MarkPublished", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			for i := range 4 {
				tx.Emit(ledger.Event{Kind: tilgang.EvGrantActive, Person: "p1", At: t0.Add(time.Duration(i) * time.Second),
					Data: map[string]any{"n": strings.Repeat("x", i)}})
			}
		})
		pending, err := l.PendingEvents(t.Context(), 10)
		require.NoError(t, err)
		require.Len(t, pending, 4)
		require.NoError(t, l.MarkPublished(t.Context(), []int64{pending[0].ID, pending[2].ID}))
		require.NoError(t, l.MarkPublished(t.Context(), nil))
		require.NoError(t, l.MarkPublished(t.Context(), []int64{pending[0].ID}), "marking twice is harmless")
		left, err := l.PendingEvents(t.Context(), 10)
		require.NoError(t, err)
		require.Equal(t, []ledger.Event{pending[1], pending[3]}, left)
		require.EqualValues(t, 2, stats(t, l).EventsUnsent)
	}},
}

var statsTests = []test{
	{"Counts", func(t *testing.T, l ledger.Ledger) {
		st := stats(t, l)
		require.Zero(t, st.Messages)
		require.Zero(t, st.Requests)
		require.Zero(t, st.EventsUnsent)
		require.Empty(t, st.Grants)
		require.Empty(t, st.OpsByState)

		inTx(t, l, func(tx ledger.Tx) {
			record(t, tx, message("k1", "h"))
			record(t, tx, message("k2", "h"))
			require.NoError(t, tx.InsertRequest(request("r1", "p1", 1)))
			require.NoError(t, tx.InsertRequest(request("r2", "p1", 2)))
			require.NoError(t, tx.InsertRequest(request("r3", "p2", 3)))
			tx.Emit(ledger.Event{Kind: tilgang.EvGrantActive, Person: "p1", At: t0})
			tx.Emit(ledger.Event{Kind: tilgang.EvGrantActive, Person: "p2", At: t0})
		})
		putGrants(t, l,
			grant("g1", "p1", "gerica", "bruker", tilgang.StateActive),
			grant("g2", "p2", "gerica", "bruker", tilgang.StateActive),
			grant("g3", "p1", "visma", "laerer", tilgang.StateDenied))
		waiting := op("p1", "manual", t0, 2)
		waiting.State = ledger.OpWaiting
		insertOps(t, l, op("p1", "ad", t0, 1), op("p2", "ad", t0, 1), waiting)
		claim(t, l, "x1", t0, 1)

		st = stats(t, l)
		require.EqualValues(t, 2, st.Messages)
		require.EqualValues(t, 3, st.Requests)
		require.EqualValues(t, 2, st.EventsUnsent)
		require.Equal(t, map[tilgang.GrantState]int64{tilgang.StateActive: 2, tilgang.StateDenied: 1}, st.Grants)
		require.Equal(t, map[ledger.OpState]int64{ledger.OpQueued: 1, ledger.OpClaimed: 1, ledger.OpWaiting: 1}, st.OpsByState)
	}},
}
