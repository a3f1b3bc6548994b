package app_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/app"
	"github.com/ror-ikt/tilgang/internal/client"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestSIGHUPLoadsPrincipals: a principal added to the principals file
// (as `tilgang principal add` does) signs nothing the worker accepts until
// SIGHUP, and everything after; a principals file broken afterwards is
// refused on the next SIGHUP, and the principals in force stay.
func TestSIGHUPLoadsPrincipals(t *testing.T) {
	e := testenv.Start(t, "", "")
	e.Joiner(testenv.People()...)
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	path := filepath.Join(e.Data, app.DevPrincipalsFile)
	require.NoError(t, principals.WriteFile(path, []byte("principals:\n  - id: 1547-2\n    kind: person\n    name: Leder\n    key: "+pub+"\n")))

	own := &client.Sender{Key: kp}
	ask := func() (string, bool) {
		env, err := own.New(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "SIGHUP"})
		require.NoError(t, err)
		id := e.SendEnv(env)
		select {
		case ev := <-first(e, id):
			return ev.Kind, ev.Kind == tilgang.EvRequestAccepted
		case <-time.After(30 * time.Second):
			t.Fatalf("request %s: no outcome in 30 s", id)
			return "", false
		}
	}
	kind, ok := ask()
	require.False(t, ok, "not loaded yet: %s", kind)

	hup := func() { require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP)) }
	hup()
	require.Eventually(t, func() bool { _, ok := ask(); return ok }, 20*time.Second, 200*time.Millisecond,
		"after SIGHUP the new principal's key is known")

	require.NoError(t, os.WriteFile(path, []byte("principals: [{id: 1547-2, kind: nobody}]\n"), 0o600))
	hup()
	time.Sleep(500 * time.Millisecond) // the reload, refused, happens beside the test
	for range 3 {
		kind, ok := ask()
		require.True(t, ok, "a broken file leaves the principals in force: %s", kind)
	}
}

// first delivers the first request.accepted or request.rejected event of
// the request id.
func first(e *testenv.Env, id string) <-chan testenv.Event {
	ch := make(chan testenv.Event, 1)
	go func() {
		match := testenv.ForRequest(id)
		for {
			for _, ev := range e.Events() {
				if (ev.Kind == tilgang.EvRequestAccepted || ev.Kind == tilgang.EvRequestRejected) && match(ev) {
					ch <- ev
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return ch
}
