// Package testenv boots a whole `tilgang dev` in the test process, on a
// free port with a temporary data directory, and gives tests what a user
// has: a signing key, a JetStream connection, and the events out.
package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/streams"
)

// Catalogue is a small catalogue for tests: a system with a no-approval
// role, a two-stage role, and a manual role.
var Catalogue = map[string]string{
	"kasse.yaml": `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001, 1547-20002]
connectors: [noop, manual]
roles:
  - id: bruker
    entitlements: {noop: [KASSE-BRUKER]}
    requestable_by: [manager, hr, self]
    approval: []
  - id: leder
    entitlements: {noop: [KASSE-LEDER, KASSE-BRUKER]}
    requestable_by: [manager]
    approval: [manager, systemansvarlig]
  - id: manuell
    entitlements: {manual: ["Kasse: manuell rolle"]}
    requestable_by: [manager]
    approval: []
`,
}

// People: an employee (1547-1) whose manager is 1547-2, whose manager is
// 1547-3; two administrators of kasse.
func People() []tilgang.Person {
	emp := func(id, manager string) tilgang.Person {
		p := tilgang.Person{ID: id, GivenName: "Åse", FamilyName: "Øvergård-Bø", Municipality: "1547",
			Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten",
				Position: "sykepleier", Manager: manager, Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}}
		return p
	}
	return []tilgang.Person{emp("1547-1", "1547-2"), emp("1547-2", "1547-3"), emp("1547-3", ""),
		emp("1547-20001", "1547-3"), emp("1547-20002", "1547-3")}
}

// Env is a running dev instance.
type Env struct {
	T      testing.TB
	Data   string
	URL    string
	HTTP   string // a worker's HTTP address (StartWorkerWith)
	NC     *nats.Conn
	JS     jetstream.JetStream
	Sender *client.Sender
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []Event
	cond   *sync.Cond
}

// Event is an event out as received.
type Event struct {
	Kind    string
	Person  string
	Data    map[string]any
	Subject string
}

// FreePort returns a free loopback port.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WriteCatalogue writes files into a new directory.
func WriteCatalogue(t testing.TB, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// Start boots dev with the catalogue in policies (Catalogue when "").
func Start(t testing.TB, data, policies string) *Env { return StartLogged(t, data, policies, nil) }

// StartLogged is Start with dev logging to log (nil: nowhere, or to
// stderr when TILGANG_TEST_LOG is set).
func StartLogged(t testing.TB, data, policies string, log *slog.Logger) *Env {
	if policies == "" {
		policies = WriteCatalogue(t, Catalogue)
	}
	if data == "" {
		data = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	e := &Env{T: t, Data: data, cancel: cancel, done: make(chan error, 1)}
	e.cond = sync.NewCond(&e.mu)
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("TILGANG_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	go func() {
		e.done <- app.Dev(ctx, app.DevOptions{Data: data, Policies: policies, NATSListen: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			HTTP: "127.0.0.1:0", Log: log, Ready: func(url, _ string) { ready <- url }})
	}()
	select {
	case e.URL = <-ready:
	case err := <-e.done:
		t.Fatalf("dev did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not start in 30 s")
	}
	var err error
	e.NC, err = nats.Connect(e.URL)
	require.NoError(t, err)
	e.JS, err = jetstream.New(e.NC)
	require.NoError(t, err)
	key, err := principals.LoadSeed(filepath.Join(data, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	e.Sender = &client.Sender{Key: key, Via: principals.DevID, Source: "test"}
	e.watch(ctx)
	t.Cleanup(e.Stop)
	return e
}

func (e *Env) watch(ctx context.Context) {
	c, err := e.JS.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.EventsSubjects}})
	require.NoError(e.T, err)
	_, err = c.Consume(func(m jetstream.Msg) {
		var env struct {
			Type    string         `json:"type"`
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		_ = json.Unmarshal(m.Data(), &env)
		kind := strings.TrimSuffix(strings.TrimPrefix(env.Type, "no.tilgang."), ".v1")
		e.mu.Lock()
		e.events = append(e.events, Event{Kind: kind, Person: env.Subject, Data: env.Data, Subject: m.Subject()})
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	require.NoError(e.T, err)
}

// Stop stops dev (as Ctrl-C would) and waits for it.
func (e *Env) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	if e.NC != nil {
		e.NC.Close()
	}
	select {
	case err := <-e.done:
		require.NoError(e.T, err)
	case <-time.After(60 * time.Second):
		e.T.Error("dev did not stop in 60 s")
	}
}

// Send signs and publishes a message and returns its request id.
func (e *Env) Send(typ, person, actor string, data any) string {
	e.T.Helper()
	env, err := e.Sender.New(typ, person, actor, data)
	require.NoError(e.T, err)
	id, err := client.Publish(context.Background(), e.JS, env)
	require.NoError(e.T, err)
	return id
}

// SendEnv publishes a prepared envelope.
func (e *Env) SendEnv(env *envelope.Envelope) string {
	e.T.Helper()
	id, err := client.Publish(context.Background(), e.JS, env)
	require.NoError(e.T, err)
	return id
}

// Joiner sends HR records (actor hr) with increasing versions.
func (e *Env) Joiner(people ...tilgang.Person) {
	e.T.Helper()
	for _, p := range people {
		e.Send(tilgang.TypeHRJoiner, p.ID, principals.HRID, envelope.HR{Version: time.Now().UnixNano(), Person: p})
	}
}

// Wait waits for the first event matching, from the start of the stream;
// an empty kind matches any.
func (e *Env) Wait(kind, person string, match func(Event) bool) Event {
	e.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	timer := time.AfterFunc(20*time.Second, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for _, ev := range e.events {
			if (kind == "" || ev.Kind == kind) && (person == "" || ev.Person == person) && (match == nil || match(ev)) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, ev := range e.events {
				seen = append(seen, ev.Kind+"/"+ev.Person+fmt.Sprint(ev.Data))
			}
			e.T.Fatalf("no %s event for %s in 20 s; seen:\n%s", kind, person, strings.Join(seen, "\n"))
		}
		e.cond.Wait()
	}
}

// Events lists the events so far.
func (e *Env) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

// ForRequest matches an event whose data names the request id.
func ForRequest(id string) func(Event) bool {
	return func(ev Event) bool { return ev.Data["request_id"] == id || ev.Data["claimed_request_id"] == id }
}

// ForGrant matches an event whose data names the grant id.
func ForGrant(id string) func(Event) bool {
	return func(ev Event) bool { return ev.Data["grant_id"] == id }
}
