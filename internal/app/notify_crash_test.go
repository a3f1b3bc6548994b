package app_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/mailtest"
)

// TestNotifyCrash kills `tilgang dev` with SIGKILL while events are read
// into mails (before the outbox commit), while mails are handed to the
// SMTP server (after the server took one, before it was recorded) and at
// random moments. Afterwards every person got the mail of their grant, and
// a mail reached the server twice only when a kill came while it was in
// flight, with the same Message-ID.
func TestNotifyCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	const n = 60
	mp := mailtest.Start(t)
	c := &child{t: t, data: t.TempDir(), policies: testenv.WriteCatalogue(t, testenv.Catalogue), smtp: mp.SMTP,
		natsAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), httpAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	c.start("")
	key, err := principals.LoadSeed(filepath.Join(c.data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	sender := &client.Sender{Key: key, Via: principals.DevID, Source: "notify-crash"}
	var msgs []*nats.Msg
	base := testenv.People()[0]
	addr := func(i int) string { return fmt.Sprintf("person%d@aukra.kommune.no", i) }
	for i := 0; i < n; i++ {
		p := base
		p.ID = fmt.Sprintf("1547-%d", 1000+i)
		p.Email = addr(i)
		p.Employments = []tilgang.Employment{base.Employments[0]}
		p.Employments[0].Manager = ""
		env, err := sender.New(tilgang.TypeHRJoiner, p.ID, principals.HRID, envelope.HR{Version: 1, Person: p})
		require.NoError(t, err)
		m, err := client.Msg(env)
		require.NoError(t, err)
		msgs = append(msgs, m)
		// hr asks: the requester has no address, so each grant makes one mail, to its person.
		env, err = sender.New(tilgang.TypeRequest, p.ID, principals.HRID, envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
		require.NoError(t, err)
		m, err = client.Msg(env)
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	c.stop()

	schedule := []string{"notify.before-queue:1", "notify.after-send:3", "", "notify.after-send:5", "notify.before-queue:2",
		"notify.after-send:10", "", "notify.after-send:1", ""}
	kills := 0
	published := publishThroughKills(t, c.natsAddr, msgs, func(i int) {
		if i%10 == 9 {
			time.Sleep(150 * time.Millisecond) // events arrive over time, between the kills
		}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, point := range schedule {
		c.start(point)
		wait := 5 * time.Second
		if point == "" {
			wait = time.Duration(300+rng.IntN(900)) * time.Millisecond
		}
		select {
		case <-c.exited:
			t.Logf("crashed at %q", point)
			kills++
		case <-time.After(wait):
			t.Logf("killed from outside (point %q)", point)
			c.kill()
			kills++
		}
	}
	c.start("")
	<-published
	ms := mp.Wait(90*time.Second, func(ms []mailtest.Message) bool {
		got := map[string]bool{}
		for _, m := range ms {
			got[m.To[0].Address] = true
		}
		return len(got) == n
	})
	c.stop()
	time.Sleep(200 * time.Millisecond)
	ms, err = mp.Messages()
	require.NoError(t, err)

	idsOf := map[string]map[string]int{} // address -> Message-ID -> times received
	for _, m := range ms {
		require.Len(t, m.To, 1)
		a := m.To[0].Address
		if idsOf[a] == nil {
			idsOf[a] = map[string]int{}
		}
		idsOf[a][m.MessageID]++
		require.Equal(t, "Tilgang gitt: bruker i Kasse for Åse Øvergård-Bø", m.Subject)
	}
	repeats := 0
	for i := 0; i < n; i++ {
		ids := idsOf[addr(i)]
		require.Len(t, ids, 1, "%s: one mail (one Message-ID), got %v", addr(i), ids)
		for _, times := range ids {
			repeats += times - 1
		}
	}
	require.Len(t, idsOf, n, "every person got their mail")
	t.Logf("%d mails, %d repeated after %d kills", len(ms), repeats, kills)
	require.LessOrEqual(t, repeats, kills, "at most the one mail in flight repeats at each kill")
	require.GreaterOrEqual(t, repeats, 1, "the kills after the server took a mail repeated it (with the same Message-ID)")
}
