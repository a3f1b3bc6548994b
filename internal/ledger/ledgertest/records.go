package ledgertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func message(key, payloadHash string) ledger.Message {
	return ledger.Message{Key: key, PayloadHash: payloadHash, Type: tilgang.TypeRequest, Person: "1547-10234",
		Actor: "1547-10001", Seq: 42, At: t0}
}

func record(t *testing.T, tx ledger.Tx, m ledger.Message) ledger.MsgOutcome {
	t.Helper()
	out, err := tx.RecordMessage(m)
	require.NoError(t, err)
	return out
}

var messageTests = []test{
	{"New", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgNew, record(t, tx, message("k1", "h1")))
			require.Equal(t, ledger.MsgNew, record(t, tx, message("k2", "h1")), "another key is new")
		})
		require.EqualValues(t, 2, stats(t, l).Messages)
	}},
	{"Duplicate", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) { record(t, tx, message("k1", "h1")) })
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgDuplicate, record(t, tx, message("k1", "h1")))
		})
		inTx(t, l, func(tx ledger.Tx) {
			m := message("k1", "h1")
			m.Seq, m.At = 99, t0.Add(time.Hour) // a redelivery: same key and payload, later
			require.Equal(t, ledger.MsgDuplicate, record(t, tx, m))
		})
		require.EqualValues(t, 1, stats(t, l).Messages)
	}},
	{"DuplicateInOneTx", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgNew, record(t, tx, message("k1", "h1")))
			require.Equal(t, ledger.MsgDuplicate, record(t, tx, message("k1", "h1")))
			require.Equal(t, ledger.MsgConflict, record(t, tx, message("k1", "h2")))
		})
		require.EqualValues(t, 1, stats(t, l).Messages)
	}},
	{"Conflict", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) { record(t, tx, message("k1", "h1")) })
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgConflict, record(t, tx, message("k1", "h2")))
		})
		// The conflicting payload was not stored over the first.
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgDuplicate, record(t, tx, message("k1", "h1")))
			require.Equal(t, ledger.MsgConflict, record(t, tx, message("k1", "h2")))
		})
		require.EqualValues(t, 1, stats(t, l).Messages)
	}},
	{"RolledBackIsNewAgain", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		require.Equal(t, ledger.MsgNew, record(t, tx, message("k1", "h1")))
		require.NoError(t, tx.Rollback())
		require.EqualValues(t, 0, stats(t, l).Messages)
		inTx(t, l, func(tx ledger.Tx) {
			require.Equal(t, ledger.MsgNew, record(t, tx, message("k1", "h1")))
		})
	}},
}

func person(id string) ledger.PersonRow {
	return ledger.PersonRow{
		Person: tilgang.Person{ID: id, GivenName: "Åse", FamilyName: "Øvergård-Bø", Email: "ase@aukra.kommune.no", Municipality: "1547",
			Employments: []tilgang.Employment{
				{ID: "10234-1", Primary: true, Percent: 80, OrgUnit: "oppvekst/aukra-skule", Position: "lærer", Manager: "1547-10001",
					Start: tilgang.Date{Y: 2024, M: 8, D: 1}},
				{ID: "10234-2", Percent: 20, OrgUnit: "helse/hjemmetjenesten", Position: "assistent", Manager: "1547-10300",
					Start: tilgang.Date{Y: 2025, M: 1, D: 1}, End: tilgang.Date{Y: 2025, M: 12, D: 31}},
			}},
		Version: 1722500000000,
		LeaveAt: time.Date(2025, time.December, 31, 23, 0, 0, 0, time.UTC),
		LeaveOp: 17,
		Left:    true,
		Updated: t0,
	}
}

var personTests = []test{
	{"PersonIDs", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			for _, id := range []string{"p3", "p1", "p2"} {
				require.NoError(t, tx.PutPerson(person(id)))
			}
		})
		ids, err := l.PersonIDs(t.Context(), "", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"p1", "p2"}, ids)
		ids, err = l.PersonIDs(t.Context(), "p2", 2)
		require.NoError(t, err)
		require.Equal(t, []string{"p3"}, ids)
		ids, err = l.PersonIDs(t.Context(), "p3", 2)
		require.NoError(t, err)
		require.Empty(t, ids)
	}},
	{"PeopleAtOnce", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			for _, id := range []string{"p1", "p2", "p3"} {
				require.NoError(t, tx.PutPerson(person(id)))
			}
			require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: "ad", Ref: connectors.Ref{"sam": "p1"}, Enabled: true, Updated: t0}))
			require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p2", Connector: "entra", Ref: connectors.Ref{"upn": "p2"}, Updated: t0}))
			require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p3", Connector: "ad", Ref: connectors.Ref{"sam": "p3"}, Updated: t0}))
		})
		people, accts, err := l.People(t.Context(), []string{"p1", "p2", "nobody"})
		require.NoError(t, err)
		require.Len(t, people, 2)
		want := person("p1")
		require.Equal(t, &want, people["p1"])
		require.Equal(t, "p2", people["p2"].Person.ID)
		require.Nil(t, people["nobody"])
		var got []string
		for _, a := range accts {
			got = append(got, a.Person+"/"+a.Connector+"/"+a.Ref["sam"]+a.Ref["upn"])
		}
		require.Equal(t, []string{"p1/ad/p1", "p2/entra/p2"}, got, "the accounts of the people asked for, by person and connector")
		none, accts, err := l.People(t.Context(), nil)
		require.NoError(t, err)
		require.Empty(t, none)
		require.Empty(t, accts)
	}},
	{"RoundTrip", func(t *testing.T, l ledger.Ledger) {
		want := person("1547-10234")
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.PutPerson(want))
			got, err := tx.Person(want.Person.ID)
			require.NoError(t, err)
			require.Equal(t, &want, got, "the transaction reads its own write")
		})
		got, err := l.Person(t.Context(), want.Person.ID)
		require.NoError(t, err)
		require.Equal(t, &want, got)
	}},
	{"PutReplaces", func(t *testing.T, l ledger.Ledger) {
		p := person("1547-10234")
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.PutPerson(p)) })
		p.Version++
		p.Person.Employments = p.Person.Employments[:1]
		p.Person.Employments[0].End = tilgang.Date{Y: 2026, M: 6, D: 30}
		p.LeaveAt, p.LeaveOp, p.Left, p.Updated = time.Time{}, 0, false, t0.Add(time.Hour)
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.PutPerson(p)) })
		got, err := l.Person(t.Context(), p.Person.ID)
		require.NoError(t, err)
		require.Equal(t, &p, got)
	}},
	{"Missing", func(t *testing.T, l ledger.Ledger) {
		got, err := l.Person(t.Context(), "nobody")
		require.NoError(t, err)
		require.Nil(t, got)
		inTx(t, l, func(tx ledger.Tx) {
			got, err := tx.Person("nobody")
			require.NoError(t, err)
			require.Nil(t, got)
		})
	}},
}

func request(id, person string, seq uint64) ledger.Request {
	return ledger.Request{ID: id, Person: person, System: "gerica", Role: "bruker", Action: "grant", Actor: "1547-10001",
		Via: "portal", GrantID: "g-" + id, Outcome: "accepted", Reason: "ny i heimetenesta", Why: "",
		ValidUntil: tilgang.Date{Y: 2026, M: 1, D: 31}, Seq: seq, At: t0.Add(time.Duration(seq) * time.Second)}
}

var requestTests = []test{
	{"RoundTrip", func(t *testing.T, l ledger.Ledger) {
		want := request("r1", "1547-10234", 7)
		want.Outcome, want.Why = "denied", "not eligible: org_unit"
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertRequest(want))
			got, err := tx.Request("r1")
			require.NoError(t, err)
			require.Equal(t, &want, got)
		})
		got, err := l.Request(t.Context(), "r1")
		require.NoError(t, err)
		require.Equal(t, &want, got)

		none := request("r2", "1547-10234", 8)
		none.ValidUntil, none.Via, none.GrantID = tilgang.Date{}, "", ""
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.InsertRequest(none)) })
		got, err = l.Request(t.Context(), "r2")
		require.NoError(t, err)
		require.Equal(t, &none, got, "no end date, no via, no grant")
	}},
	{"DuplicateID", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) { require.NoError(t, tx.InsertRequest(request("r1", "p", 1))) })
		tx := begin(t, l)
		defer tx.Rollback()
		conflict(t, tx, tx.InsertRequest(request("r1", "p", 2)))
	}},
	{"PersonOldestFirst", func(t *testing.T, l ledger.Ledger) {
		inTx(t, l, func(tx ledger.Tx) {
			require.NoError(t, tx.InsertRequest(request("late", "p1", 9)))
			require.NoError(t, tx.InsertRequest(request("other", "p2", 1)))
			require.NoError(t, tx.InsertRequest(request("early", "p1", 3)))
		})
		got, err := l.Requests(t.Context(), "p1")
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "early", got[0].ID)
		require.Equal(t, "late", got[1].ID)
		none, err := l.Requests(t.Context(), "nobody")
		require.NoError(t, err)
		require.Empty(t, none)
	}},
	{"Missing", func(t *testing.T, l ledger.Ledger) {
		got, err := l.Request(t.Context(), "nothing")
		require.NoError(t, err)
		require.Nil(t, got)
	}},
}

var txTests = []test{
	{"RollbackAfterCommit", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		record(t, tx, message("k1", "h1"))
		require.NoError(t, tx.Commit())
		require.NoError(t, tx.Rollback(), "Rollback after Commit is a no-op")
		require.EqualValues(t, 1, stats(t, l).Messages)
	}},
	{"CommitAfterRollback", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		record(t, tx, message("k1", "h1"))
		require.NoError(t, tx.Rollback())
		require.Error(t, tx.Commit())
		require.EqualValues(t, 0, stats(t, l).Messages)
	}},
	{"UncommittedIsInvisible", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		defer tx.Rollback()
		g := grant("g1", "p1", "gerica", "bruker", tilgang.StateActive)
		require.NoError(t, tx.InsertGrant(g))
		tx.Audit(stateEntry(g, ""))
		tx.Emit(ledger.Event{Kind: tilgang.EvGrantActive, Person: "p1", At: t0})
		got, err := l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.Nil(t, got, "readers do not see an open transaction's writes")
		require.Zero(t, head(t, l).Seq)
		require.NoError(t, tx.Commit())
		got, err = l.Grant(t.Context(), "g1")
		require.NoError(t, err)
		require.NotNil(t, got)
		require.EqualValues(t, 1, head(t, l).Seq)
	}},
	{"RolledBackWritesNothing", func(t *testing.T, l ledger.Ledger) {
		tx := begin(t, l)
		record(t, tx, message("k1", "h1"))
		require.NoError(t, tx.PutPerson(person("p1")))
		require.NoError(t, tx.InsertRequest(request("r1", "p1", 1)))
		g := grant("g1", "p1", "gerica", "bruker", tilgang.StateActive)
		require.NoError(t, tx.InsertGrant(g))
		_, err := tx.InsertOperation(op("p1", "ad", t0, 1))
		require.NoError(t, err)
		require.NoError(t, tx.PutAccount(ledger.AccountRow{Person: "p1", Connector: "ad", Updated: t0}))
		tx.Audit(stateEntry(g, ""))
		tx.Emit(ledger.Event{Kind: tilgang.EvGrantActive, Person: "p1", At: t0})
		require.NoError(t, tx.Rollback())

		st := stats(t, l)
		require.Zero(t, st.Messages)
		require.Zero(t, st.Requests)
		require.Empty(t, st.Grants)
		require.Empty(t, st.OpsByState)
		require.Zero(t, st.EventsUnsent)
		p, err := l.Person(t.Context(), "p1")
		require.NoError(t, err)
		require.Nil(t, p)
		a, err := l.Account(t.Context(), "p1", "ad")
		require.NoError(t, err)
		require.Nil(t, a)
		require.Equal(t, ledger.Head{Seq: 0, Hash: Genesis}, head(t, l))
		due, err := l.NextDue(t.Context())
		require.NoError(t, err)
		require.True(t, due.IsZero())
	}},
}
