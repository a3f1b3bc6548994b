package notify_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/notify"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/mailtest"
)

const secret = "SEALED-SECRET-abc123"
const reason = "Hemmelig begrunnelse om helse"

type world struct {
	t     testing.TB
	l     *sqlledger.Store
	n     *notify.Notifier
	clock time.Time
	mu    sync.Mutex
	seen  map[string]int
}

func (w *world) now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.clock }

func (w *world) advance(d time.Duration) { w.mu.Lock(); w.clock = w.clock.Add(d); w.mu.Unlock() }

func people() []tilgang.Person {
	ps := testenv.People()
	for i := range ps {
		ps[i].Email = strings.ToLower(ps[i].ID) + "@aukra.kommune.no"
	}
	return ps
}

func newWorld(t testing.TB, smtp string, ps []tilgang.Person) *world {
	ctx := context.Background()
	l, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	cat, err := policy.Load(testenv.WriteCatalogue(t, testenv.Catalogue), []string{"noop", "manual"})
	require.NoError(t, err)
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	for _, p := range ps {
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: p, Version: 1}))
	}
	require.NoError(t, tx.Commit())
	w := &world{t: t, l: l, clock: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), seen: map[string]int{}}
	w.n = &notify.Notifier{Ledger: l, Catalogue: func() *policy.Catalogue { return cat }, From: "tilgang@ror-ikt.no",
		PublicURL: "https://tilgang.ror-ikt.no", Now: w.now, RetryMin: time.Minute, RetryMax: 10 * time.Minute,
		Observe: func(o string) { w.mu.Lock(); w.seen[o]++; w.mu.Unlock() }}
	if smtp != "" {
		w.n.Sender = &notify.SMTP{Addr: smtp, Plain: true, Timeout: 5 * time.Second}
	}
	return w
}

func (w *world) emit(evs ...ledger.Event) {
	tx, err := w.l.Begin(context.Background())
	require.NoError(w.t, err)
	for _, e := range evs {
		if e.At.IsZero() {
			e.At = w.now()
		}
		tx.Emit(e)
	}
	require.NoError(w.t, tx.Commit())
}

// grant stores a grant requested by requester for person (with the chain
// entry the ledger's rules ask for).
func (w *world) grant(id, person, requester string) {
	tx, err := w.l.Begin(context.Background())
	require.NoError(w.t, err)
	g := ledger.Grant{ID: id, Person: person, System: "kasse", Role: "leder", State: tilgang.StateActive, RequestID: "req-" + id,
		Requester: requester, Created: w.now(), Updated: w.now()}
	require.NoError(w.t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: w.now(), Kind: "grant.state", Person: person, GrantID: id, To: string(g.State), Details: ledger.GrantDetails(g, nil)})
	require.NoError(w.t, tx.Commit())
}

// drain reads every event and sends every due mail.
func (w *world) drain() {
	ctx := context.Background()
	for {
		n, err := w.n.Read(ctx)
		require.NoError(w.t, err)
		if n == 0 {
			break
		}
	}
	for {
		n, err := w.n.Send(ctx)
		require.NoError(w.t, err)
		if n == 0 {
			return
		}
	}
}

func addr(id string) string { return strings.ToLower(id) + "@aukra.kommune.no" }

func TestMailsGoToThePeopleTheEventConcerns(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	w.grant("g1", "1547-1", "1547-2")
	w.emit(
		ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "request_id": "req-g1",
			"system": "kasse", "role": "leder", "stage": 2, "stages": 2, "approvers": []string{"1547-20001", "1547-20002"}, "reason": reason}},
		ledger.Event{Kind: tilgang.EvGrantActive, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "request_id": "req-g1",
			"system": "kasse", "role": "leder"}},
		ledger.Event{Kind: tilgang.EvCredentialIssued, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "request_id": "req-g1",
			"system": "kasse", "role": "leder", "recipient": "1547-2", "sealed": secret, "sender": "XABC", "username": "ase.overgard"}},
		ledger.Event{Kind: tilgang.EvTaskManual, Person: "1547-1", Data: map[string]any{"operation_id": "7", "kind": "grant",
			"system": "kasse", "role": "manuell", "person": "1547-1", "administrators": []string{"1547-20001", "1547-20002"}}},
		ledger.Event{Kind: tilgang.EvRequestAccepted, Person: "1547-1", Data: map[string]any{"grant_id": "g1"}},
	)
	w.drain()
	ms := mp.Wait(10*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 7 })
	require.Len(t, ms, 7, "two approvers, requester and person, the credential's recipient, two administrators")
	by := map[string][]mailtest.Message{}
	for _, m := range ms {
		require.Len(t, m.To, 1)
		by[m.To[0].Address] = append(by[m.To[0].Address], m)
		require.NotContains(t, m.Raw, secret, "no secret in any mail")
		require.NotContains(t, m.Raw, reason, "no reason in any mail")
		require.NotContains(t, m.Text, secret)
		require.NotEmpty(t, m.HTML, "multipart/alternative: an HTML part")
		require.Contains(t, m.Raw, "multipart/alternative")
		require.Equal(t, "tilgang@ror-ikt.no", m.From.Address)
	}
	for _, a := range []string{"1547-20001", "1547-20002"} {
		got := by[addr(a)]
		require.Len(t, got, 2, a)
		require.Equal(t, "Godkjenning venter: leder i Kasse for Åse Øvergård-Bø", got[0].Subject)
		require.Contains(t, got[0].Text, "https://tilgang.ror-ikt.no/approvals")
		require.Contains(t, got[0].HTML, `href="https://tilgang.ror-ikt.no/approvals"`)
		require.Contains(t, got[0].Text, "trinn 2 av 2")
		require.Equal(t, "Manuell oppgave: manuell i Kasse for Åse Øvergård-Bø", got[1].Subject)
		require.Contains(t, got[1].Text, "https://tilgang.ror-ikt.no/systems/kasse")
	}
	req := by[addr("1547-2")]
	require.Len(t, req, 2, "the requester: grant active and the credential")
	require.Equal(t, "Tilgang gitt: leder i Kasse for Åse Øvergård-Bø", req[0].Subject)
	require.Contains(t, req[0].Text, "https://tilgang.ror-ikt.no/requests/req-g1")
	require.Equal(t, "Nytt passord til leder i Kasse for Åse Øvergård-Bø", req[1].Subject)
	require.Contains(t, req[1].Text, "tilgang credential open --person 1547-1")
	require.Contains(t, req[1].Text, "ase.overgard")
	person := by[addr("1547-1")]
	require.Len(t, person, 1)
	require.Equal(t, "Tilgang gitt: leder i Kasse for Åse Øvergård-Bø", person[0].Subject)

	// Message-IDs are derived from the event and the recipient.
	ids := map[string]bool{}
	for _, m := range ms {
		require.Regexp(t, `^ev\d+\.1547-\d+@tilgang\.ror-ikt\.no$`, m.MessageID)
		require.False(t, ids[m.MessageID])
		ids[m.MessageID] = true
	}
	require.Equal(t, 7, w.seen["sent"])
}

func TestSMTPDownDefersThenSends(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	mp.Stop()
	w.emit(ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "system": "kasse",
		"role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-2"}}})
	w.drain()
	require.Equal(t, 1, w.seen["deferred"])
	require.Zero(t, w.seen["sent"])
	mails, err := w.l.Mails(context.Background(), "1547-2")
	require.NoError(t, err)
	require.Len(t, mails, 1)
	require.Equal(t, ledger.MailQueued, mails[0].State)
	require.Equal(t, 1, mails[0].Attempts)
	require.Contains(t, mails[0].LastError, "connect")

	// Still down a minute later: deferred again, for longer.
	w.advance(time.Minute)
	w.drain()
	require.Equal(t, 2, w.seen["deferred"])
	w.emit(ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g2", "system": "kasse",
		"role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-3"}}})

	mp.Start()
	w.drain() // not yet: the backoff holds
	require.Zero(t, w.seen["sent"])
	w.advance(2 * time.Minute)
	w.drain()
	require.Equal(t, 2, w.seen["sent"])
	ms := mp.Wait(10*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 2 })
	require.Len(t, ms, 2)
	got := []string{ms[0].To[0].Address, ms[1].To[0].Address}
	slices.Sort(got)
	require.Equal(t, []string{addr("1547-2"), addr("1547-3")}, got)
}

func TestPersonWithoutEmailGetsNoneAndAdministratorsAreToldOnce(t *testing.T) {
	mp := mailtest.Start(t)
	ps := people()
	ps[1].Email = "" // 1547-2, the manager
	w := newWorld(t, mp.SMTP, ps)
	for i := 0; i < 2; i++ {
		w.emit(ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": fmt.Sprint("g", i),
			"system": "kasse", "role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-2"}}})
		w.drain()
	}
	w.emit(ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g9",
		"system": "kasse", "role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-2"}}})
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 2 })
	time.Sleep(300 * time.Millisecond)
	ms, err := mp.Messages()
	require.NoError(t, err)
	require.Len(t, ms, 2, "one notice to each administrator of kasse, once")
	for _, m := range ms {
		require.Contains(t, []string{addr("1547-20001"), addr("1547-20002")}, m.To[0].Address)
		require.Equal(t, "Åse Øvergård-Bø har ingen e-postadresse i Tilgang", m.Subject)
		require.Contains(t, m.Text, "1547-2")
		require.Contains(t, m.Text, "https://tilgang.ror-ikt.no/people/1547-2")
	}
}

func TestManyAtOnceBecomeADigest(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	var evs []ledger.Event
	for i := 0; i < 7; i++ {
		evs = append(evs, ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": fmt.Sprint("g", i),
			"system": "kasse", "role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-2"}}})
	}
	evs = append(evs, ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g9",
		"system": "kasse", "role": "leder", "stage": 1, "stages": 2, "approvers": []string{"1547-3"}}})
	w.emit(evs...)
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 2 })
	require.Len(t, ms, 2)
	var digest mailtest.Message
	for _, m := range ms {
		if m.To[0].Address == addr("1547-2") {
			digest = m
		} else {
			require.Equal(t, "Godkjenning venter: leder i Kasse for Åse Øvergård-Bø", m.Subject)
		}
	}
	require.Equal(t, "7 saker i Tilgang venter på deg eller gjelder deg", digest.Subject)
	require.Equal(t, 7, strings.Count(digest.Text, "Godkjenning venter: leder i Kasse"))
	require.Regexp(t, `^digest\.ev\d+\.1547-2@`, digest.MessageID)
}

func TestWithoutSMTPNothingIsQueued(t *testing.T) {
	w := newWorld(t, "", people())
	w.emit(ledger.Event{Kind: tilgang.EvApprovalPending, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "system": "kasse",
		"role": "leder", "approvers": []string{"1547-2"}}})
	w.drain()
	mails, err := w.l.Mails(context.Background(), "")
	require.NoError(t, err)
	require.Empty(t, mails)
	left, err := w.l.PendingNotifications(context.Background(), 10)
	require.NoError(t, err)
	require.Empty(t, left, "the events are read all the same, so a later SMTP server does not mail the past")
}

func TestEscalationTellsWhoMayNowApprove(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	w.emit(ledger.Event{Kind: notify.EvApprovalEscalated, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "system": "kasse",
		"role": "leder", "stage": 1, "stages": 2, "stage_kind": "manager", "days": 5, "approvers": []string{"1547-2", "1547-3"},
		"to": []string{"1547-3"}}})
	w.emit(ledger.Event{Kind: notify.EvApprovalEscalated, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "system": "kasse",
		"role": "leder", "stage": 2, "stages": 2, "stage_kind": "systemansvarlig", "days": 5, "approvers": []string{"1547-20001"},
		"to": []string{"1547-20001", "1547-3"}}})
	w.emit(ledger.Event{Kind: notify.EvApprovalReminded, Person: "1547-1", Data: map[string]any{"grant_id": "g1", "system": "kasse",
		"role": "leder", "stage": 2, "stages": 2, "days": 3, "approvers": []string{"1547-20002"}}})
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 4 })
	require.Len(t, ms, 4)
	require.Equal(t, addr("1547-3"), ms[0].To[0].Address)
	require.Equal(t, "Eskalert: godkjenning venter: leder i Kasse for Åse Øvergård-Bø", ms[0].Subject)
	require.Contains(t, ms[0].Text, "ventet på godkjenning i 5 arbeidsdager")
	require.Contains(t, ms[0].Text, "Du kan nå godkjenne eller avslå den selv.")
	require.Contains(t, ms[0].Text, "https://tilgang.ror-ikt.no/approvals")
	byAddr := map[string]mailtest.Message{}
	for _, m := range ms[1:] {
		byAddr[m.To[0].Address+strings.SplitN(m.Subject, ":", 2)[0]] = m
	}
	require.Contains(t, byAddr[addr("1547-20001")+"Eskalert"].Text, "Du kan nå godkjenne")
	require.Contains(t, byAddr[addr("1547-3")+"Eskalert"].Text, "til orientering", "the coordinator is told, does not approve")
	rem := byAddr[addr("1547-20002")+"Påminnelse"]
	require.Equal(t, "Påminnelse: godkjenning venter fortsatt: leder i Kasse for Åse Øvergård-Bø", rem.Subject)
	require.Contains(t, rem.Text, "i 3 arbeidsdager")
}

func TestLeaverIsToldToTheManager(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	w.emit(ledger.Event{Kind: notify.EvPersonLeft, Person: "1547-1", Data: map[string]any{"leave_at": "2026-03-01T23:00:00Z"}})
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 1 })
	require.Len(t, ms, 1)
	require.Equal(t, []string{addr("1547-2")}, ms[0].Recipients())
	require.Equal(t, "Åse Øvergård-Bø har sluttet", ms[0].Subject)
	require.Contains(t, ms[0].Text, "https://tilgang.ror-ikt.no/people/1547-1")
}

func TestReviewMails(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	w.emit(ledger.Event{Kind: tilgang.EvReviewStarted, Person: "1547-2", Data: map[string]any{"campaign_id": "rc-1", "system": "kasse",
		"reviewer": "1547-2", "items": 7, "ends_at": "2026-03-14T09:00:00Z"}})
	w.emit(ledger.Event{Kind: tilgang.EvReviewReminded, Person: "1547-2", Data: map[string]any{"campaign_id": "rc-1", "system": "kasse",
		"reviewer": "1547-2", "items": 3, "days": 3, "ends_at": "2026-03-14T09:00:00Z"}})
	w.emit(ledger.Event{Kind: tilgang.EvReviewEscalated, Person: "1547-2", Data: map[string]any{"campaign_id": "rc-1", "system": "kasse",
		"reviewer": "1547-2", "items": 2, "days": 5, "ends_at": "2026-03-14T09:00:00Z", "to": []string{"1547-3"}, "reviewer_kind": "manager"}})
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 3 })
	require.Len(t, ms, 3)
	bySubject := map[string]mailtest.Message{}
	for _, m := range ms {
		bySubject[m.Subject] = m
	}
	st := bySubject["Gjennomgang av tilganger i Kasse"]
	require.Equal(t, []string{addr("1547-2")}, st.Recipients())
	require.Contains(t, st.Text, "Du skal vurdere 7 tilganger, behold eller fjern, innen 14.03.2026.")
	require.Contains(t, st.Text, "https://tilgang.ror-ikt.no/reviews/rc-1")
	rem := bySubject["Påminnelse: gjennomgang av tilganger i Kasse"]
	require.Equal(t, []string{addr("1547-2")}, rem.Recipients())
	require.Contains(t, rem.Text, "Du har fortsatt 3 tilganger i Kasse å vurdere.")
	esc := bySubject["Eskalert: gjennomgang av tilganger i Kasse"]
	require.Equal(t, []string{addr("1547-3")}, esc.Recipients())
	require.Contains(t, esc.Text, "Du kan nå vurdere dem selv.")
}

// A change HR recorded ahead applies on its date: both managers, the one
// before and the one from now, are told, with the unit and position before
// and after.
func TestMoverIsToldToBothManagers(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t, mp.SMTP, people())
	w.emit(ledger.Event{Kind: notify.EvPersonMoved, Person: "1547-1", Data: map[string]any{"managers": []string{"1547-2", "1547-3"},
		"org_unit_from": "oppvekst/skule", "position_from": "lærer", "org_unit_to": "helse/heim", "position_to": "konsulent"}})
	w.drain()
	ms := mp.Wait(5*time.Second, func(ms []mailtest.Message) bool { return len(ms) >= 2 })
	require.Len(t, ms, 2)
	var to []string
	for _, m := range ms {
		to = append(to, m.Recipients()...)
		require.Equal(t, "Åse Øvergård-Bø har byttet stilling", m.Subject)
		require.Contains(t, m.Text, "fra lærer i oppvekst/skule til konsulent i helse/heim")
		require.Contains(t, m.Text, "https://tilgang.ror-ikt.no/people/1547-1")
	}
	require.ElementsMatch(t, []string{addr("1547-2"), addr("1547-3")}, to)
}
