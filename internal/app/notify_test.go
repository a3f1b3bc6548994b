package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/mailtest"
)

// story is `tilgang dev` with the example catalogue and people, mailing to
// a real SMTP server.
type story struct {
	t      *testing.T
	js     jetstream.JetStream
	sender *client.Sender
	mail   *mailtest.Server
	http   string
}

func startStory(t *testing.T) *story { return startStoryAt(t, nil) }

// startStoryAt is startStory with dev's clock now (nil: the wall clock).
func startStoryAt(t *testing.T, now func() time.Time) *story { return startStoryWith(t, now, nil) }

// startStoryWith is startStoryAt with dev's reminder days (nil: dev's own).
func startStoryWith(t *testing.T, now func() time.Time, reminders *engine.Reminders) *story {
	mp := mailtest.Start(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TILGANG_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() {
		done <- app.Dev(ctx, app.DevOptions{Data: data, Policies: "../../policies", NATSListen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
			HTTP: "127.0.0.1:0", Log: log, SMTP: mp.SMTP, Now: now, Reminders: reminders, Ready: func(u, h string) { ready <- [2]string{u, h} }})
	}()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("dev did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not start in 30 s")
	}
	t.Cleanup(func() { cancel(); <-done })
	nc, err := nats.Connect(addrs[0])
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	key, err := principals.LoadSeed(filepath.Join(data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	s := &story{t: t, js: js, sender: &client.Sender{Key: key, Via: principals.DevID, Source: "story"}, mail: mp, http: addrs[1]}
	var people []tilgang.Person
	b, err := os.ReadFile("../../deploy/examples/people.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &people))
	for _, p := range people {
		s.send(tilgang.TypeHRJoiner, p.ID, principals.HRID, envelope.HR{Version: 1, Person: p})
	}
	return s
}

func (s *story) send(typ, person, actor string, data any) string {
	s.t.Helper()
	env, err := s.sender.New(typ, person, actor, data)
	require.NoError(s.t, err)
	id, err := client.Publish(context.Background(), s.js, env)
	require.NoError(s.t, err)
	return id
}

// to waits for the mails to addr whose subject starts with prefix.
func (s *story) to(addr, prefix string, n int) []mailtest.Message {
	s.t.Helper()
	pick := func(ms []mailtest.Message) []mailtest.Message {
		var out []mailtest.Message
		for _, m := range ms {
			if slices.Contains(m.Recipients(), addr) && strings.HasPrefix(m.Subject, prefix) {
				out = append(out, m)
			}
		}
		return out
	}
	got := pick(s.mail.Wait(30*time.Second, func(ms []mailtest.Message) bool { return len(pick(ms)) >= n }))
	require.Len(s.t, got, n, "mails to %s starting %q", addr, prefix)
	return got
}

// TestStoryMails follows the README walkthrough and reads the mails it
// makes back from a real SMTP server: the approval to the right approver,
// the grant to the requester and the person, the manual task to the
// system's administrators; each with its link and no reason or comment.
func TestStoryMails(t *testing.T) {
	s := startStory(t)
	const reason = "Saksbehandling i hjemmetjenesten, fortrolig"
	const comment = "Trengs i tjenesten, kommentar"
	base := "http://" + s.http

	// Kari asks for Public 360 for Sindre: Oddbjørg (Kari's manager) approves.
	r := s.send(tilgang.TypeRequest, "1547-10412", "1547-10300", envelope.Request{Action: "grant", System: "public360", Role: "saksbehandler", Reason: reason})
	m := s.to("oddbjorg.rindaroy@aukra.kommune.no", "Godkjenning venter: saksbehandler i Public 360", 1)[0]
	require.Equal(t, "Godkjenning venter: saksbehandler i Public 360 for Sindre Hollingsæter", m.Subject)
	require.Contains(t, m.Text, base+"/approvals")
	require.Contains(t, m.HTML, `href="`+base+`/approvals"`)
	require.Equal(t, []string{"oddbjorg.rindaroy@aukra.kommune.no"}, m.Recipients())

	s.send(tilgang.TypeDecision, "1547-10412", "1547-10290", envelope.Decision{RequestID: r, Decision: "approve", Comment: comment})
	for _, a := range []string{"kari.nordhus@aukra.kommune.no", "sindre.hollingsaeter@aukra.kommune.no"} {
		m := s.to(a, "Tilgang gitt: saksbehandler i Public 360", 1)[0]
		require.Equal(t, "Tilgang gitt: saksbehandler i Public 360 for Sindre Hollingsæter", m.Subject)
		require.Contains(t, m.Text, base+"/requests/"+r)
	}

	// Gerica: manager, systemansvarlig, training; the role itself is a manual task.
	g := s.send(tilgang.TypeRequest, "1547-10412", "1547-10300", envelope.Request{Action: "grant", System: "gerica", Role: "superbruker", Reason: reason})
	s.to("oddbjorg.rindaroy@aukra.kommune.no", "Godkjenning venter: superbruker i Gerica", 1)
	s.send(tilgang.TypeDecision, "1547-10412", "1547-10290", envelope.Decision{RequestID: g, Decision: "approve", Comment: comment})
	for _, a := range []string{"marit.gjendem@aukra.kommune.no", "tor.einar.hoem@molde.kommune.no"} {
		m := s.to(a, "Godkjenning venter: superbruker i Gerica", 1)[0]
		require.Contains(t, m.Text, "trinn 2 av 2")
	}
	s.send(tilgang.TypeDecision, "1547-10412", "1547-20001", envelope.Decision{RequestID: g, Decision: "approve", Comment: comment})
	for _, a := range []string{"marit.gjendem@aukra.kommune.no", "tor.einar.hoem@molde.kommune.no"} {
		s.to(a, "Opplæring å bekrefte: superbruker i Gerica", 1)
	}
	s.send(tilgang.TypeTraining, "1547-10412", "1547-20001", envelope.Training{System: "gerica", Role: "superbruker"})
	for _, a := range []string{"marit.gjendem@aukra.kommune.no", "tor.einar.hoem@molde.kommune.no"} {
		m := s.to(a, "Manuell oppgave: superbruker i Gerica", 1)[0]
		require.Equal(t, "Manuell oppgave: superbruker i Gerica for Sindre Hollingsæter", m.Subject)
		require.Contains(t, m.Text, base+"/systems/gerica")
	}

	all, err := s.mail.Messages()
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, m := range all {
		require.NotContains(t, m.Raw, reason, "no reason in any mail")
		require.NotContains(t, m.Raw, comment, "no comment in any mail")
		require.NotContains(t, m.Raw, "sealed", "no sealed secret in any mail")
		require.False(t, ids[m.MessageID], "each mail once: %s", m.MessageID)
		ids[m.MessageID] = true
	}
	// Kari asked but is not an approver: she never got an approval mail.
	for _, m := range all {
		if slices.Contains(m.Recipients(), "kari.nordhus@aukra.kommune.no") {
			require.NotContains(t, m.Subject, "Godkjenning")
		}
	}
}

// easterClock is a clock for dev that starts on Wednesday 1 April 2026,
// the day before Skjærtorsdag, at 10:00 in Oslo, until set moves it.
func easterClock(t *testing.T) (oslo *time.Location, now func() time.Time, set func(time.Time)) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	require.NoError(t, err)
	var mu sync.Mutex
	clock := time.Date(2026, 4, 1, 10, 0, 0, 0, oslo)
	return oslo, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
		func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
}

// TestReminderOverEaster: with dev's clock injected, an approval pending
// from the Wednesday before Easter 2026 is reminded by mail on Thursday 9
// April (3 working days: Skjærtorsdag to 2. påskedag do not count) and
// escalated on Monday 13 April (5) to the manager's manager, who may then
// approve it.
func TestReminderOverEaster(t *testing.T) {
	oslo, now, set := easterClock(t)
	s := startStoryAt(t, now)
	kari, oddbjorg := "kari.nordhus@aukra.kommune.no", "oddbjorg.rindaroy@aukra.kommune.no"

	// HR asks Public 360 for Sindre: his manager Kari approves.
	r := s.send(tilgang.TypeRequest, "1547-10412", principals.HRID, envelope.Request{Action: "grant", System: "public360", Role: "saksbehandler", Reason: "ny"})
	s.to(kari, "Godkjenning venter: saksbehandler i Public 360", 1)

	set(time.Date(2026, 4, 9, 9, 59, 0, 0, oslo)) // the morning of the right day: not yet
	time.Sleep(2500 * time.Millisecond)
	ms, err := s.mail.Messages()
	require.NoError(t, err)
	for _, m := range ms {
		require.NotContains(t, m.Subject, "Påminnelse", "reminded before its working day")
	}
	set(time.Date(2026, 4, 9, 10, 0, 0, 0, oslo))
	m := s.to(kari, "Påminnelse: godkjenning venter fortsatt: saksbehandler i Public 360", 1)[0]
	require.Contains(t, m.Text, "i 3 arbeidsdager")
	require.Contains(t, m.Text, "http://"+s.http+"/approvals")
	require.Contains(t, m.Raw, "Date: Thu, 09 Apr 2026 08:00:00 +0000", "sent as of Thursday 9 April, 10:00 in Oslo")

	// Nobody has told Oddbjørg of it yet.
	set(time.Date(2026, 4, 10, 10, 0, 0, 0, oslo))
	for _, a := range []string{oddbjorg} {
		ms, err := s.mail.Messages()
		require.NoError(t, err)
		for _, m := range ms {
			require.False(t, slices.Contains(m.Recipients(), a) && strings.Contains(m.Subject, "Public 360"), "nobody tells %s before the escalation", a)
		}
	}
	set(time.Date(2026, 4, 13, 10, 0, 0, 0, oslo))
	m = s.to(oddbjorg, "Eskalert: godkjenning venter: saksbehandler i Public 360", 1)[0]
	require.Contains(t, m.Text, "Du kan nå godkjenne eller avslå den selv.")
	require.Contains(t, m.Raw, "Date: Mon, 13 Apr 2026 08:00:00 +0000")
	s.send(tilgang.TypeDecision, "1547-10412", "1547-10290", envelope.Decision{RequestID: r, Decision: "approve", Comment: "ok"})
	s.to("sindre.hollingsaeter@aukra.kommune.no", "Tilgang gitt: saksbehandler i Public 360", 1)

	// The reminder and the escalation are events out too, published like any other.
	st, err := s.js.Stream(context.Background(), streams.Events)
	require.NoError(t, err)
	for _, kind := range []string{tilgang.EvApprovalReminded, tilgang.EvApprovalEscalated} {
		require.Eventually(t, func() bool {
			_, err := st.GetLastMsgForSubject(context.Background(), "tilgang.event."+kind+".1547-10412")
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "%s published", kind)
	}
}

// TestTaskEscalatedOverEaster: dev started with --remind-after 1
// --escalate-after 2 and its clock injected. Gerica's manual task starts
// waiting on Wednesday 1 April 2026; Skjærtorsdag to 2. påskedag do not
// count, so it is reminded to the administrators on Tuesday 7 April and
// escalated on Wednesday 8 April to them and to Gerica's coordinator, each
// told what is theirs to do.
func TestTaskEscalatedOverEaster(t *testing.T) {
	oslo, now, set := easterClock(t)
	s := startStoryWith(t, now, &engine.Reminders{RemindAfter: 1, EscalateAfter: 2})
	base := "http://" + s.http
	admins := []string{"marit.gjendem@aukra.kommune.no", "tor.einar.hoem@molde.kommune.no"}
	coordinator := "hakon.stavik@molde.kommune.no"

	// Kari asks for Gerica for Sindre; both stages approve and training
	// is confirmed at once, so the role itself waits as a manual task.
	g := s.send(tilgang.TypeRequest, "1547-10412", "1547-10300", envelope.Request{Action: "grant", System: "gerica", Role: "superbruker", Reason: "ny"})
	s.to("oddbjorg.rindaroy@aukra.kommune.no", "Godkjenning venter: superbruker i Gerica", 1)
	s.send(tilgang.TypeDecision, "1547-10412", "1547-10290", envelope.Decision{RequestID: g, Decision: "approve"})
	s.to(admins[0], "Godkjenning venter: superbruker i Gerica", 1)
	s.send(tilgang.TypeDecision, "1547-10412", "1547-20001", envelope.Decision{RequestID: g, Decision: "approve"})
	s.to(admins[0], "Opplæring å bekrefte: superbruker i Gerica", 1)
	s.send(tilgang.TypeTraining, "1547-10412", "1547-20001", envelope.Training{System: "gerica", Role: "superbruker"})
	for _, a := range admins {
		s.to(a, "Manuell oppgave: superbruker i Gerica", 1)
	}

	noneYet := func(prefix string) {
		t.Helper()
		time.Sleep(2500 * time.Millisecond)
		ms, err := s.mail.Messages()
		require.NoError(t, err)
		for _, m := range ms {
			require.False(t, strings.HasPrefix(m.Subject, prefix), "%q sent too early (%v)", m.Subject, now())
		}
	}
	set(time.Date(2026, 4, 6, 10, 0, 0, 0, oslo)) // 2. påskedag: no working day has passed
	noneYet("Påminnelse: manuell oppgave")
	set(time.Date(2026, 4, 7, 10, 0, 0, 0, oslo))
	for _, a := range admins {
		m := s.to(a, "Påminnelse: manuell oppgave venter: superbruker i Gerica", 1)[0]
		require.Contains(t, m.Text, "i 1 arbeidsdager")
		require.Contains(t, m.Raw, "Date: Tue, 07 Apr 2026 08:00:00 +0000")
	}
	noneYet("Eskalert: manuell oppgave")

	set(time.Date(2026, 4, 8, 10, 0, 0, 0, oslo))
	for _, a := range admins {
		m := s.to(a, "Eskalert: manuell oppgave venter: superbruker i Gerica", 1)[0]
		require.Equal(t, "Eskalert: manuell oppgave venter: superbruker i Gerica for Sindre Hollingsæter", m.Subject)
		require.Equal(t, []string{a}, m.Recipients())
		require.Contains(t, m.Text, "i 2 arbeidsdager uten å bli gjort")
		require.Contains(t, m.Text, "Du er systemansvarlig")
		require.Contains(t, m.Text, base+"/systems/gerica")
		require.Contains(t, m.Raw, "Date: Wed, 08 Apr 2026 08:00:00 +0000")
	}
	m := s.to(coordinator, "Eskalert: manuell oppgave venter: superbruker i Gerica", 1)[0]
	require.Contains(t, m.Text, "til orientering som systemkoordinator")
	require.NotContains(t, m.Text, "Du er systemansvarlig")
	require.Contains(t, m.HTML, `href="`+base+`/systems/gerica"`)
	// The coordinator was told of nothing else about it.
	ms, err := s.mail.Messages()
	require.NoError(t, err)
	for _, m := range ms {
		if slices.Contains(m.Recipients(), coordinator) && strings.Contains(m.Subject, "superbruker i Gerica") {
			require.True(t, strings.HasPrefix(m.Subject, "Eskalert: manuell oppgave"), "the coordinator got %q", m.Subject)
		}
	}

	st, err := s.js.Stream(context.Background(), streams.Events)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := st.GetLastMsgForSubject(context.Background(), "tilgang.event."+tilgang.EvTaskEscalated+".1547-10412")
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "task.escalated published")
}

// TestDevReminderDaysChecked: dev refuses reminder days that cannot be
// meant, naming the flag, before it creates anything.
func TestDevReminderDaysChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    engine.Reminders
		want string
	}{
		{"negative reminder", engine.Reminders{RemindAfter: -1, EscalateAfter: 5}, "--remind-after -1 is negative"},
		{"negative escalation", engine.Reminders{RemindAfter: 3, EscalateAfter: -2}, "--escalate-after -2 is negative"},
		{"escalation not after reminder", engine.Reminders{RemindAfter: 4, EscalateAfter: 4}, "--escalate-after 4 is not after --remind-after 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			err := app.Dev(context.Background(), app.DevOptions{Data: data, Policies: "../../policies", HTTP: "127.0.0.1:0",
				NATSListen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), Reminders: &tc.r, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			require.ErrorContains(t, err, tc.want)
			_, err = os.Stat(data)
			require.True(t, os.IsNotExist(err), "nothing created")
		})
	}
}

// TestDevSMTPLoopbackOnly: dev sends mail without TLS, so only to this
// machine.
func TestDevSMTPLoopbackOnly(t *testing.T) {
	err := app.Dev(context.Background(), app.DevOptions{Data: t.TempDir(), Policies: testenv.WriteCatalogue(t, testenv.Catalogue),
		NATSListen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), HTTP: "127.0.0.1:0", SMTP: "192.0.2.10:25",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.ErrorContains(t, err, `--smtp "192.0.2.10:25": host "192.0.2.10" is not a loopback address`)
}

// TestImmediateMoverMails: a change of manager and unit that applies at
// once (not dated) tells both managers, the one before and the one from
// now, as a dated one does on its date; a name change tells nobody.
func TestImmediateMoverMails(t *testing.T) {
	s := startStory(t)
	kari, oddbjorg := "kari.nordhus@aukra.kommune.no", "oddbjorg.rindaroy@aukra.kommune.no"
	b, err := os.ReadFile("../../deploy/examples/people.json")
	require.NoError(t, err)
	var people []tilgang.Person
	require.NoError(t, json.Unmarshal(b, &people))
	var p tilgang.Person
	for _, x := range people {
		if x.ID == "1547-10412" {
			p = x
		}
	}
	require.Equal(t, "1547-10300", p.Employments[0].Manager)

	p.FamilyName = "Nygift"
	s.send(tilgang.TypeHRMover, p.ID, principals.HRID, envelope.HR{Version: 2, Person: p})
	p.Employments[0].OrgUnit, p.Employments[0].Position, p.Employments[0].Manager = "helse/stab", "rådgiver", "1547-10290"
	s.send(tilgang.TypeHRMover, p.ID, principals.HRID, envelope.HR{Version: 3, Person: p})
	for _, a := range []string{kari, oddbjorg} {
		m := s.to(a, "Sindre Nygift har byttet stilling", 1)[0]
		require.Equal(t, []string{a}, m.Recipients())
		require.Contains(t, m.Text, "fra sykepleier i helse/hjemmetjenesten til rådgiver i helse/stab")
		require.Contains(t, m.Text, "http://"+s.http+"/people/1547-10412")
	}
	all, err := s.mail.Messages()
	require.NoError(t, err)
	n := 0
	for _, m := range all {
		if strings.Contains(m.Subject, "har byttet stilling") {
			n++
		}
	}
	require.Equal(t, 2, n, "the name change told nobody; the move was told once to each")
}
