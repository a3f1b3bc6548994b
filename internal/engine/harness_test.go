package engine_test

// The harness drives the engine as intake and the executor do, without NATS:
// messages are signed envelopes decoded and applied one per transaction
// against a real SQLite ledger in a temporary directory, and due operations
// are claimed from the ledger and completed through the engine's result
// calls, as a connector that succeeds (or fails as a test says) would. The
// clock is the harness's own and moves only when a test moves it.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// testConnectors are the connector instances the engine is told of: of
// the catalogue's (ad, manual, noop), manual is done by people
// (connectors.Tasker); the harness plays the others.
var testConnectors = connectors.Set{"manual": manual.Connector{}}

// t0 is where every harness clock starts: a Monday in winter time.
var t0 = time.Date(2025, 3, 10, 10, 0, 0, 0, tilgang.Oslo)

// moreSystems extends testenv.Catalogue (kasse: bruker without approval,
// leder with [manager, systemansvarlig], manuell on the manual connector):
//   - gerica needs training, without (bruker) and after (kurs) an approval;
//   - sak/les and arkiv/leser share two AD groups across systems (DESIGN.md
//     invariant 4); arkiv/leser needs a systemansvarlig of arkiv's two;
//   - arkiv/arkivar has [manager, systemansvarlig] stages, and hr may ask.
var moreSystems = map[string]string{
	"gerica.yaml": `system: gerica
name: Gerica
owner: Helse og omsorg
administrators: [1547-20005]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [GERICA-BRUKER]}
    requestable_by: [manager, hr]
    approval: []
    requires_training: true
  - id: kurs
    entitlements: {noop: [GERICA-KURS]}
    requestable_by: [manager]
    approval: [systemansvarlig]
    requires_training: true
`,
	"sak.yaml": `system: sak
name: Sak
owner: Fellestjenester
administrators: [1547-20005]
connectors: [ad]
roles:
  - id: les
    entitlements: {ad: ["CN=Felles-A,OU=Groups", "CN=Felles-B,OU=Groups", "CN=Sak-Les,OU=Groups"]}
    requestable_by: [manager]
    approval: []
`,
	"arkiv.yaml": `system: arkiv
name: Arkiv
owner: Dokumentsenteret
administrators: [1547-20003, 1547-20004]
connectors: [ad]
roles:
  - id: leser
    entitlements: {ad: ["CN=Felles-A,OU=Groups", "CN=Felles-B,OU=Groups"]}
    requestable_by: [manager, administrator]
    approval: [systemansvarlig]
  - id: arkivar
    entitlements: {ad: ["CN=Arkivar,OU=Groups"]}
    requestable_by: [manager, hr]
    approval: [manager, systemansvarlig]
`,
}

// Entitlements of the catalogue, by name.
const (
	fellesA = "CN=Felles-A,OU=Groups"
	fellesB = "CN=Felles-B,OU=Groups"
	sakLes  = "CN=Sak-Les,OU=Groups"
)

// The people: testenv.People() (1547-1 reports to 1547-2, who reports to
// 1547-3; 1547-20001 and 1547-20002 administer kasse) and 1547-4, a second
// employee of 1547-2, and the administrators of arkiv (1547-20003,
// 1547-20004) and of gerica and sak (1547-20005).
const (
	emp     = "1547-1"
	emp2    = "1547-4"
	mgr     = "1547-2"
	mgrMgr  = "1547-3"
	kasseA1 = "1547-20001"
	kasseA2 = "1547-20002"
	arkivA1 = "1547-20003"
	arkivA2 = "1547-20004"
	gericaA = "1547-20005"
)

func people() []tilgang.Person {
	ps := testenv.People()
	for _, id := range []string{emp2, arkivA1, arkivA2, gericaA} {
		manager := mgrMgr
		if id == emp2 {
			manager = mgr
		}
		ps = append(ps, employee(id, manager, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{}))
	}
	return ps
}

// employee is a person with one primary employment.
func employee(id, manager string, start, end tilgang.Date) tilgang.Person {
	return tilgang.Person{ID: id, GivenName: "Åse", FamilyName: "Øvergård-Bø", Municipality: "1547",
		Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten",
			Position: "sykepleier", Manager: manager, Start: start, End: end}}}
}

type harness struct {
	t   *testing.T
	ctx context.Context
	led *sqlledger.Store
	eng *engine.Engine
	now time.Time
	seq uint64
	ids int

	dev      nkeys.KeyPair // service principal dev: on_behalf, operator, auditor
	portal   nkeys.KeyPair // service principal bareportal: no capabilities
	kari     nkeys.KeyPair // person principal 1547-20001, signing for herself
	stranger nkeys.KeyPair // in no principals file

	files map[string]string // the catalogue's files, by name
	path  string            // of the ledger file

	// fail, when set, decides the result of a connector call: nil is success.
	fail func(op ledger.Operation) error
}

// newHarness starts a harness on the test catalogue, with extra files added
// (policy_test.go's systems, say).
func newHarness(t *testing.T, extraFiles ...map[string]string) *harness {
	t.Helper()
	return newHarnessOn(t, false, extraFiles...)
}

// newHarnessOn is newHarness on a PostgreSQL ledger (a schema of the
// test's own) when postgres is set, else on SQLite.
func newHarnessOn(t *testing.T, postgres bool, extraFiles ...map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), now: t0}

	files := maps.Clone(testenv.Catalogue)
	maps.Copy(files, moreSystems)
	for _, x := range extraFiles {
		maps.Copy(files, x)
	}
	h.files = files
	cat, err := policy.Load(testenv.WriteCatalogue(t, files), []string{"ad", "manual", "noop"})
	require.NoError(t, err)

	keys := t.TempDir()
	devSet, err := principals.EnsureDev(keys)
	require.NoError(t, err)
	h.dev, err = principals.LoadSeed(filepath.Join(keys, "keys", principals.DevSeedFile))
	require.NoError(t, err)
	pub := func(kp nkeys.KeyPair) string {
		p, err := kp.PublicKey()
		require.NoError(t, err)
		return p
	}
	for _, kp := range []*nkeys.KeyPair{&h.portal, &h.kari, &h.stranger} {
		*kp, err = nkeys.CreateUser()
		require.NoError(t, err)
	}
	extra, err := principals.New([]principals.Principal{
		{ID: "bareportal", Kind: principals.KindService, Key: pub(h.portal)},
		{ID: kasseA1, Kind: principals.KindPerson, Key: pub(h.kari)},
	})
	require.NoError(t, err)
	ps, err := principals.Merge(devSet, extra)
	require.NoError(t, err)

	if postgres {
		h.led, err = sqlledger.OpenPostgres(h.ctx, pgtest.Schema(t), 4)
	} else {
		h.path = filepath.Join(t.TempDir(), "ledger.db")
		h.led, err = sqlledger.OpenSQLite(h.ctx, h.path)
	}
	require.NoError(t, err)
	t.Cleanup(func() { h.led.Close() })
	// Whatever a test did, the grant table must agree with the chain.
	t.Cleanup(func() {
		rep, err := h.led.Verify(h.ctx, nil)
		require.NoError(t, err)
		require.True(t, rep.OK, "ledger verify: %s", rep.Problem)
	})

	h.eng = engine.New(cat, ps, testConnectors, func() time.Time { return h.now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return h
}

// join sends the HR records of people() at version 1.
func (h *harness) join() *harness {
	h.t.Helper()
	for _, p := range people() {
		require.Equal(h.t, engine.Accepted, h.hr(1, p))
	}
	return h
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

// ---- messages ----

// envelope builds a message signed with the dev key: via dev unless the
// actor is dev itself, as the CLI does.
func (h *harness) envelope(typ, person, actor string, data any) *envelope.Envelope {
	h.t.Helper()
	h.ids++
	e := &envelope.Envelope{SpecVersion: envelope.SpecVersion, ID: fmt.Sprintf("m-%d", h.ids), Source: "engine-test", Type: typ,
		Subject: person, Time: h.now.UTC().Format(time.RFC3339), Actor: actor}
	if actor != principals.DevID {
		e.Via = principals.DevID
	}
	require.NoError(h.t, e.SetData(data))
	require.NoError(h.t, e.Sign(h.dev))
	return e
}

// send builds, signs and applies a message; it returns the outcome and the
// request id.
func (h *harness) send(typ, person, actor string, data any) (engine.Outcome, string) {
	h.t.Helper()
	e := h.envelope(typ, person, actor, data)
	return h.sendEnv(e), e.Key()
}

func (h *harness) sendEnv(e *envelope.Envelope) engine.Outcome {
	h.t.Helper()
	raw, err := e.Marshal()
	require.NoError(h.t, err)
	subject, err := envelope.SubjectFor(e.Type, e.Subject)
	require.NoError(h.t, err)
	return h.apply(subject, raw)
}

// apply applies raw bytes as they came off the stream, with the next
// stream sequence, in one transaction.
func (h *harness) apply(subject string, raw []byte) engine.Outcome {
	h.t.Helper()
	h.seq++
	in := engine.Decode(subject, raw, h.seq)
	var out engine.Outcome
	h.inTx(func(tx ledger.Tx) (err error) {
		out, err = h.eng.Apply(tx, in)
		return err
	})
	return out
}

func (h *harness) inTx(f func(tx ledger.Tx) error) {
	h.t.Helper()
	tx, err := h.led.Begin(h.ctx)
	require.NoError(h.t, err)
	if err := f(tx); err != nil {
		tx.Rollback()
		require.NoError(h.t, err)
	}
	require.NoError(h.t, tx.Commit())
}

func (h *harness) hr(version int64, p tilgang.Person) engine.Outcome {
	h.t.Helper()
	out, _ := h.send(tilgang.TypeHRMover, p.ID, principals.HRID, envelope.HR{Version: version, Person: p})
	return out
}

// request asks for a grant and returns the outcome, the request id and the
// grant id the request was given ("" when none).
func (h *harness) request(person, actor, system, role string) (engine.Outcome, string, string) {
	h.t.Helper()
	out, id := h.send(tilgang.TypeRequest, person, actor, envelope.Request{Action: envelope.ActionGrant, System: system, Role: role,
		Reason: "trenger tilgang i tjenesten"})
	return out, id, h.request1(id).GrantID
}

// granted requests a grant that must be accepted, and returns its id.
func (h *harness) granted(person, actor, system, role string) string {
	h.t.Helper()
	out, _, gid := h.request(person, actor, system, role)
	require.Equal(h.t, engine.Accepted, out)
	require.NotEmpty(h.t, gid)
	return gid
}

func (h *harness) revoke(person, actor, system, role string) (engine.Outcome, string) {
	h.t.Helper()
	return h.send(tilgang.TypeRequest, person, actor, envelope.Request{Action: envelope.ActionRevoke, System: system, Role: role,
		Reason: "trenger det ikke lenger"})
}

func (h *harness) decide(person, actor, requestID, decision string) engine.Outcome {
	h.t.Helper()
	out, _ := h.send(tilgang.TypeDecision, person, actor, envelope.Decision{RequestID: requestID, Decision: decision, Comment: "vurdert"})
	return out
}

func (h *harness) train(person, actor, system, role string) engine.Outcome {
	h.t.Helper()
	out, _ := h.send(tilgang.TypeTraining, person, actor, envelope.Training{System: system, Role: role})
	return out
}

// operator sends a retry or cancel (tilgang.TypeRetry, TypeCancel) as dev.
func (h *harness) operator(typ, person, grantID string) engine.Outcome {
	h.t.Helper()
	out, _ := h.send(typ, person, principals.DevID, envelope.Operator{GrantID: grantID, Comment: "operatør"})
	return out
}

func (h *harness) task(person, actor string, opID int64, outcome string) engine.Outcome {
	h.t.Helper()
	out, _ := h.send(tilgang.TypeTask, person, actor, envelope.Task{OperationID: fmt.Sprint(opID), Outcome: outcome})
	return out
}

// ---- operations ----

// claim claims the next due operation, as an executor with one worker.
func (h *harness) claim() (ledger.Operation, bool) {
	h.t.Helper()
	ops, err := h.led.Claim(h.ctx, "test", h.now, 30*time.Second, 1)
	require.NoError(h.t, err)
	if len(ops) == 0 {
		return ledger.Operation{}, false
	}
	return ops[0], true
}

// run claims and completes due operations one at a time until none is
// claimable, and returns them in claim order.
func (h *harness) run() []ledger.Operation {
	h.t.Helper()
	var ran []ledger.Operation
	for {
		require.Less(h.t, len(ran), 500, "operations keep coming")
		op, ok := h.claim()
		if !ok {
			return ran
		}
		h.complete(op)
		ran = append(ran, op)
	}
}

// complete finishes a claimed operation the way the executor would.
func (h *harness) complete(op ledger.Operation) {
	h.t.Helper()
	switch {
	case op.Connector == ledger.Internal:
		h.opTx(op, func(tx ledger.Tx) error { return h.eng.RunInternal(tx, op) })
	case h.eng.IsManual(op.Connector):
		h.opTx(op, func(tx ledger.Tx) error { return h.eng.Waiting(tx, op) })
	default:
		var err error
		if h.fail != nil {
			err = h.fail(op)
		}
		if err != nil {
			h.failed(op, err)
		} else {
			h.done(op)
		}
	}
}

func (h *harness) done(op ledger.Operation) {
	h.t.Helper()
	var ref connectors.Ref
	if op.Kind == ledger.KindEnsureAccount {
		ref = connectors.Ref{"username": op.Person}
	}
	h.opTx(op, func(tx ledger.Tx) error { return h.eng.Done(tx, op, ref) })
}

func (h *harness) failed(op ledger.Operation, cause error) {
	h.t.Helper()
	h.opTx(op, func(tx ledger.Tx) error { return h.eng.Failed(tx, op, cause) })
}

// opTx records an operation's result as the executor does: in a
// transaction that has loaded the operation's person.
func (h *harness) opTx(op ledger.Operation, f func(tx ledger.Tx) error) {
	h.t.Helper()
	h.inTx(func(tx ledger.Tx) error {
		if err := ledger.Preload(tx, []string{op.Person}, nil); err != nil {
			return err
		}
		return f(tx)
	})
}

// ---- reads ----

func (h *harness) grant(id string) *ledger.Grant {
	h.t.Helper()
	g, err := h.led.Grant(h.ctx, id)
	require.NoError(h.t, err)
	require.NotNil(h.t, g, "grant %s", id)
	return g
}

func (h *harness) state(grantID string) tilgang.GrantState { return h.grant(grantID).State }

func (h *harness) request1(id string) *ledger.Request {
	h.t.Helper()
	r, err := h.led.Request(h.ctx, id)
	require.NoError(h.t, err)
	require.NotNil(h.t, r, "request %s", id)
	return r
}

func (h *harness) person(id string) *ledger.PersonRow {
	h.t.Helper()
	p, err := h.led.Person(h.ctx, id)
	require.NoError(h.t, err)
	require.NotNil(h.t, p, "person %s", id)
	return p
}

func (h *harness) account(person, connector string) *ledger.AccountRow {
	h.t.Helper()
	a, err := h.led.Account(h.ctx, person, connector)
	require.NoError(h.t, err)
	return a
}

// ops lists a grant's operations in chain order.
func (h *harness) ops(grantID string) []ledger.Operation {
	h.t.Helper()
	ops, err := h.led.Operations(h.ctx, grantID)
	require.NoError(h.t, err)
	return ops
}

// personOps lists the person's operations in the states (all when none).
func (h *harness) personOps(person string, states ...ledger.OpState) []ledger.Operation {
	h.t.Helper()
	tx, err := h.led.Begin(h.ctx)
	require.NoError(h.t, err)
	defer tx.Rollback()
	ops, err := tx.PersonOperations(person, states...)
	require.NoError(h.t, err)
	return ops
}

// events lists the events not yet published, oldest first.
func (h *harness) events() []ledger.Event {
	h.t.Helper()
	evs, err := h.led.PendingEvents(h.ctx, 100000)
	require.NoError(h.t, err)
	return evs
}

// eventsOf lists the events of a kind whose data names the grant id, or
// all of the kind when grantID is "".
func (h *harness) eventsOf(kind, grantID string) []ledger.Event {
	h.t.Helper()
	var out []ledger.Event
	for _, e := range h.events() {
		if e.Kind == kind && (grantID == "" || e.Data["grant_id"] == grantID) {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) audit(kind string) []ledger.AuditEntry {
	h.t.Helper()
	rows, err := h.led.Audit(h.ctx, ledger.AuditFilter{})
	require.NoError(h.t, err)
	var out []ledger.AuditEntry
	for _, r := range rows {
		if kind == "" || r.Entry.Kind == kind {
			out = append(out, r.Entry)
		}
	}
	return out
}

// transitions lists a grant's chained state changes as "from>to".
func (h *harness) transitions(grantID string) []string {
	h.t.Helper()
	var out []string
	for _, e := range h.audit("grant.state") {
		if e.GrantID == grantID {
			out = append(out, e.From+">"+e.To)
		}
	}
	return out
}

// kinds describes operations as "kind connector entitlement".
func kinds(ops []ledger.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.Kind + " " + op.Connector
		if op.Entitlement != "" {
			out[i] += " " + op.Entitlement
		}
	}
	return out
}

// ofGrant keeps the operations of one grant.
func ofGrant(ops []ledger.Operation, grantID string) []ledger.Operation {
	return slices.DeleteFunc(slices.Clone(ops), func(op ledger.Operation) bool { return op.GrantID != grantID })
}

// opStates maps "kind connector entitlement" to the operation's state.
func opStates(ops []ledger.Operation) map[string]ledger.OpState {
	m := map[string]ledger.OpState{}
	for i, k := range kinds(ops) {
		m[k] = ops[i].State
	}
	return m
}

// toActive provisions a grant of a role without approval or training.
func (h *harness) toActive(person, actor, system, role string) string {
	h.t.Helper()
	gid := h.granted(person, actor, system, role)
	h.run()
	require.Equal(h.t, tilgang.StateActive, h.state(gid))
	return gid
}

var (
	permanent = tilgang.Errorf(tilgang.Denied, "the target refused")
	transient = tilgang.Errorf(tilgang.Unavailable, "the target is down")
)
