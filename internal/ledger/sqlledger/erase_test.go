package sqlledger

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The people of the erasure tests: one who left long ago, one who left
// long ago but still has a manual task open, one who left long ago but
// whom the HR source still lists, one who left recently and one still
// employed.
const (
	eraseLeft    = "1547-30001"
	eraseWaiting = "1547-30002"
	eraseRecent  = "1547-30003"
	eraseStaying = "1547-30004"
	eraseListed  = "1547-30005"
)

var (
	eraseOld    = time.Date(2019, time.March, 1, 9, 0, 0, 0, time.UTC)
	eraseNew    = time.Date(2021, time.June, 1, 9, 0, 0, 0, time.UTC)
	eraseBefore = time.Date(2020, time.January, 1, 0, 0, 0, 0, tilgang.Oslo)
)

// buildErase writes, as the engine and the HR sync do, rows before and
// after eraseBefore: people and their HR snapshot rows, requests with
// reasons, a grant whose transitions carry comments (one comment repeated
// after the date), a finished operation with an error, and events.
func buildErase(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.Begin(ctx)
	require.NoError(t, err)
	for _, p := range []struct {
		id            string
		leaveAt       time.Time
		left, present bool
	}{
		{eraseLeft, eraseOld.Add(24 * time.Hour), true, false},
		{eraseWaiting, eraseOld.Add(24 * time.Hour), true, false},
		{eraseRecent, eraseNew, true, false},
		{eraseStaying, time.Time{}, false, true},
		{eraseListed, eraseOld.Add(24 * time.Hour), true, true}, // the export still has the ended employment
	} {
		rec := tilgang.Person{ID: p.id, GivenName: "Kari", FamilyName: "Nordmann " + p.id}
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: rec, Version: 3, LeaveAt: p.leaveAt, Left: p.left, Updated: eraseOld}))
		require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "visma", Person: p.id, Version: 3, Present: p.present, Record: rec, Updated: eraseOld}))
	}
	// A row of someone the source dropped and the ledger never knew.
	require.NoError(t, tx.PutHRSnapshot(ledger.HRSnapshotRow{Source: "visma", Person: "1547-30009", Version: 1, Record: tilgang.Person{ID: "1547-30009"}, Updated: eraseOld}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r-old", Person: eraseLeft, System: "gerica", Role: "bruker", Action: "grant",
		Actor: "1547-10001", GrantID: "g-old", Outcome: "accepted", Reason: "ho treng journaltilgang", At: eraseOld}))
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: "r-new", Person: eraseStaying, System: "gerica", Role: "bruker", Action: "grant",
		Actor: "1547-10001", GrantID: "g-new", Outcome: "denied", Reason: "ny i heimetenesta", Why: "no approver", At: eraseNew}))
	g := ledger.Grant{ID: "g-old", Person: eraseLeft, System: "gerica", Role: "bruker", RequestID: "r-old", Requester: "1547-10001",
		Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker"}}, State: tilgang.StateRevoked, Created: eraseOld, Updated: eraseOld}
	require.NoError(t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: eraseOld, Kind: "grant.state", Person: eraseLeft, Actor: "1547-10001", System: "gerica", Role: "bruker",
		GrantID: g.ID, To: string(g.State), Text: "ho treng journaltilgang", Details: ledger.GrantDetails(g, nil)})
	tx.Audit(ledger.AuditEntry{At: eraseOld, Kind: "person.left", Person: eraseLeft, Actor: "worker", Text: "sluttar ved eiga oppseiing"})
	tx.Audit(ledger.AuditEntry{At: eraseOld, Kind: "request.denied", Person: eraseStaying, Actor: "1547-10001", Text: "ny i heimetenesta"})
	op := ledger.Operation{GrantID: g.ID, Person: eraseLeft, Connector: "ad", Kind: ledger.KindRevoke, Entitlement: "CN=APP-Gerica-Bruker",
		State: ledger.OpDone, LastError: "ldap: no such object CN=Kari Nordmann", DueAt: eraseOld, NextAt: eraseOld, Created: eraseOld, Updated: eraseOld}
	op.ID, err = tx.InsertOperation(op)
	require.NoError(t, err)
	tx.Audit(ledger.AuditEntry{At: eraseOld, Kind: planned, Person: op.Person, Actor: "worker", GrantID: op.GrantID,
		Details: map[string]string{opKey(op.ID): ledger.DigestOp(op)}})
	task := ledger.Operation{Person: eraseWaiting, Connector: "manual", Kind: ledger.KindRevoke, Entitlement: "nøkkelkort",
		State: ledger.OpWaiting, DueAt: eraseOld, NextAt: eraseOld, Created: eraseOld, Updated: eraseOld}
	task.ID, err = tx.InsertOperation(task)
	require.NoError(t, err)
	tx.Audit(ledger.AuditEntry{At: eraseOld, Kind: planned, Person: task.Person, Actor: "worker",
		Details: map[string]string{opKey(task.ID): ledger.DigestOp(task)}})
	tx.Emit(ledger.Event{Kind: "grant.revoked", Person: eraseLeft, At: eraseOld, Data: map[string]any{"reason": "ho treng journaltilgang"}})
	require.NoError(t, tx.Commit())
	pending, err := s.PendingEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.NoError(t, s.MarkPublished(ctx, []int64{pending[0].ID}))
	// The notifier read it, and mailed it before the date; a mail still
	// waiting to be sent stays.
	require.NoError(t, s.QueueMails(ctx, []int64{pending[0].ID}, []ledger.Mail{
		{Key: "ev-old.sent", Kind: "grant.revoked", Recipient: eraseLeft, Address: "a@example.no", MessageID: "<a>", Message: []byte("x"), Created: eraseOld},
		{Key: "ev-old.queued", Kind: "grant.revoked", Recipient: eraseLeft, Address: "a@example.no", MessageID: "<b>", Message: []byte("x"), Created: eraseOld},
	}))
	mails, err := s.Mails(ctx, eraseLeft)
	require.NoError(t, err)
	require.NoError(t, s.MailSent(ctx, mails[0].ID, eraseOld))

	tx, err = s.Begin(ctx)
	require.NoError(t, err)
	// The same comment again after the date: it stays.
	tx.Audit(ledger.AuditEntry{At: eraseNew, Kind: "request.denied", Person: eraseStaying, Actor: "1547-10001", Text: "ny i heimetenesta"})
	tx.Audit(ledger.AuditEntry{At: eraseNew, Kind: "person.left", Person: eraseRecent, Actor: "worker", Text: "pensjon"})
	tx.Emit(ledger.Event{Kind: "person.left", Person: eraseRecent, At: eraseNew, Data: map[string]any{}})
	require.NoError(t, tx.Commit())

	rep, err := s.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}

// texts reads the free text of the chain rows, by seq ("" once erased).
func eraseTexts(t *testing.T, s *Store) map[int64]string {
	t.Helper()
	rows, err := s.Audit(t.Context(), ledger.AuditFilter{})
	require.NoError(t, err)
	out := map[int64]string{}
	for _, r := range rows {
		out[r.Seq] = r.Entry.Text
	}
	return out
}

func TestErase(t *testing.T) {
	t.Parallel()
	for _, target := range []struct {
		name   string
		target tamperTarget
	}{{"sqlite", sqliteTarget()}, {"postgres", postgresTarget()}} {
		t.Run(target.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, _ := target.target.open(t)
			buildErase(t, s)
			before := eraseTexts(t, s)
			head, err := s.Head(ctx)
			require.NoError(t, err)
			want := ledger.EraseCounts{Texts: 2, Requests: 1, Operations: 1, Events: 1, Mails: 1, Snapshots: 2, Persons: 1, Listed: 1}
			at := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)

			n, err := s.Erase(ctx, eraseBefore, at, "drift", true)
			require.NoError(t, err)
			require.Equal(t, want, n, "a dry run counts")
			require.Equal(t, before, eraseTexts(t, s), "a dry run changes nothing")
			again, err := s.Head(ctx)
			require.NoError(t, err)
			require.Equal(t, head, again, "a dry run chains nothing")
			p, err := s.Person(ctx, eraseLeft)
			require.NoError(t, err)
			require.NotNil(t, p)

			n, err = s.Erase(ctx, eraseBefore, at, "drift", false)
			require.NoError(t, err)
			require.Equal(t, want, n)

			// Free text before the date is gone; text also chained after it stays.
			texts := eraseTexts(t, s)
			require.Equal(t, "", texts[1], "the grant's comment")
			require.Equal(t, "", texts[2], "the leaver's comment")
			require.Equal(t, "ny i heimetenesta", texts[3], "chained again after the date")
			require.Equal(t, "pensjon", texts[7])
			r, err := s.Request(ctx, "r-old")
			require.NoError(t, err)
			require.Equal(t, "", r.Reason)
			require.Equal(t, eraseLeft, r.Person)
			r, err = s.Request(ctx, "r-new")
			require.NoError(t, err)
			require.Equal(t, "ny i heimetenesta", r.Reason)
			require.Equal(t, "no approver", r.Why)
			ops, err := s.Operations(ctx, "g-old")
			require.NoError(t, err)
			require.Len(t, ops, 1)
			require.Equal(t, "", ops[0].LastError)
			pending, err := s.PendingEvents(ctx, 10)
			require.NoError(t, err)
			require.Len(t, pending, 1, "the event not yet published stays")
			left, err := s.Mails(ctx, eraseLeft)
			require.NoError(t, err)
			require.Len(t, left, 1, "the mail sent before the date is gone; the one still to send stays")
			require.Equal(t, ledger.MailQueued, left[0].State)

			// The leaver's record and snapshot row are gone; the others stay.
			for id, kept := range map[string]bool{eraseLeft: false, eraseWaiting: true, eraseRecent: true, eraseStaying: true, eraseListed: true} {
				p, err := s.Person(ctx, id)
				require.NoError(t, err)
				require.Equal(t, kept, p != nil, id)
			}
			snap, err := s.HRSnapshot(ctx, "visma", "", 0)
			require.NoError(t, err)
			var people []string
			for _, r := range snap {
				people = append(people, r.Person)
			}
			require.Equal(t, []string{eraseWaiting, eraseRecent, eraseStaying, eraseListed}, people)

			// Ids stay: the leaver's grants and chain rows still answer.
			grants, err := s.Grants(ctx, ledger.GrantFilter{Person: eraseLeft})
			require.NoError(t, err)
			require.Len(t, grants, 1)
			require.Equal(t, "g-old", grants[0].ID)
			rows, err := s.Audit(ctx, ledger.AuditFilter{Person: eraseLeft})
			require.NoError(t, err)
			require.Len(t, rows, 3)

			// The erasure is chained with its date and counts, and the chain verifies.
			rep, err := s.Verify(ctx, nil)
			require.NoError(t, err)
			require.True(t, rep.OK, rep.Problem)
			require.Equal(t, head.Seq+1, rep.Head.Seq)
			last, err := s.Audit(ctx, ledger.AuditFilter{After: head.Seq})
			require.NoError(t, err)
			require.Len(t, last, 1)
			e := last[0].Entry
			require.Equal(t, ledger.ErasureKind, e.Kind)
			require.Equal(t, "drift", e.Actor)
			require.True(t, at.Equal(e.At))
			require.Equal(t, "2020-01-01T00:00:00+01:00", e.Details["before"])
			require.Equal(t, "2", e.Details["texts"])
			require.Equal(t, "1", e.Details["persons"])

			// The same date again erases nothing more, and is chained too.
			n, err = s.Erase(ctx, eraseBefore, at.Add(time.Hour), "drift", false)
			require.NoError(t, err)
			require.Equal(t, ledger.EraseCounts{Listed: 1}, n)
			rep, err = s.Verify(ctx, nil)
			require.NoError(t, err)
			require.True(t, rep.OK, rep.Problem)
			require.Equal(t, head.Seq+2, rep.Head.Seq)

			// Someone who joins again with the leaver's id starts fresh.
			tx, err := s.Begin(ctx)
			require.NoError(t, err)
			p, err = tx.Person(eraseLeft)
			require.NoError(t, err)
			require.Nil(t, p)
			require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: tilgang.Person{ID: eraseLeft, GivenName: "Ola"}, Version: 1, Updated: at}))
			require.NoError(t, tx.Commit())
			p, err = s.Person(ctx, eraseLeft)
			require.NoError(t, err)
			require.Equal(t, "Ola", p.Person.GivenName)
			require.False(t, p.Left)
		})
	}
}

// Verify flags free text removed by hand, which no erasure covers, but not
// what an erasure removed.
func TestEraseVerifyFlagsTextRemovedByHand(t *testing.T) {
	t.Parallel()
	d := dialect{}
	for _, tc := range []struct {
		name   string
		erase  bool
		tamper string
		bad    int64
	}{
		{name: "no erasure, old text deleted", tamper: `DELETE FROM texts WHERE text = 'sluttar ved eiga oppseiing'`, bad: 2},
		{name: "no erasure, old text nulled", tamper: `UPDATE texts SET text = NULL WHERE text = 'ho treng journaltilgang'`, bad: 1},
		{name: "after an erasure, newer text deleted", erase: true, tamper: `DELETE FROM texts WHERE text = 'pensjon'`, bad: 7},
		{name: "after an erasure, text chained again after the date deleted", erase: true,
			tamper: `DELETE FROM texts WHERE text = 'ny i heimetenesta'`, bad: 6},
		{name: "after an erasure", erase: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, raw := sqliteTarget().open(t)
			buildErase(t, s)
			if tc.erase {
				_, err := s.Erase(t.Context(), eraseBefore, eraseNew.Add(time.Hour), "drift", false)
				require.NoError(t, err)
			}
			if tc.tamper != "" {
				s = raw(func(db *sql.DB) { rawExec(t, d, db, tc.tamper) })
			}
			rep, err := s.Verify(t.Context(), nil)
			require.NoError(t, err)
			if tc.bad == 0 {
				require.True(t, rep.OK, rep.Problem)
				return
			}
			require.False(t, rep.OK)
			require.Equal(t, tc.bad, rep.BadSeq, rep.Problem)
			require.Contains(t, rep.Problem, "no chained erasure covers it")
		})
	}
}

func TestEraseNeedsADate(t *testing.T) {
	t.Parallel()
	s, _ := sqliteTarget().open(t)
	_, err := s.Erase(t.Context(), time.Time{}, eraseNew, "drift", false)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
}
