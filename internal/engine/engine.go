// Package engine decides what a message or a finished operation means for
// the ledger: it authorises the actor, applies the grant state machine of
// DESIGN.md (states.go: the state table, and the one function every change
// of a grant's state goes through), plans connector operations into the
// outbox (plan.go: each at its place in the person's chain), records
// operation results (lifecycle.go), writes the audit entries and queues
// the events out. It does all of that inside one ledger
// transaction handed to it and does no other I/O, so intake and executor
// decide when to commit, acknowledge or retry.
//
// The policy itself is policy.Decide, a pure function the engine calls with
// the person's HR record and open grants: at a grant request, again just
// before provisioning (after the last approval and after training: a
// refusal then denies the grant, by the worker, with the policy's reason),
// and on each HR record (mover re-evaluation: a live grant the person is no
// longer eligible for is revoked with cause mover). Birthright grants are
// asked for as the HR principal inside the HR record's transaction, through
// the same path as any request, and carry the requester "birthright" so
// that only they are withdrawn when the person stops matching (see
// birthright.go). Durations count from activation and end with an internal
// expire operation in the outbox (see expiry.go).
package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// Worker is the actor the ledger records for what tilgang does by itself.
const Worker = "tilgang"

// Engine applies messages and operation results. It is safe for concurrent
// use; each call works only in the transaction it is given.
type Engine struct {
	catalogue  atomic.Pointer[policy.Catalogue]
	principals atomic.Pointer[principals.Set]
	manual     map[string]bool // connector instances whose work people do (connectors.Tasker)
	Now        func() time.Time
	Log        *slog.Logger
	// MaxAttempts bounds the attempts of an operation before it fails.
	MaxAttempts int
	// SealTo, when set, is the principal every initial credential is sealed
	// to (`tilgang dev`: dev); otherwise the role's credentials_to decides.
	SealTo string
	// Reminders, when set, schedule reminders and escalations of pending
	// approvals and manual tasks (reminders.go).
	Reminders Reminders

	unverified unverifiedLimit // see unverified.go
}

// New makes an engine for the connector instances conns: those with the
// connectors.Tasker capability are done by people (see IsManual).
func New(cat *policy.Catalogue, ps *principals.Set, conns connectors.Set, now func() time.Time, log *slog.Logger) *Engine {
	e := &Engine{manual: map[string]bool{}, Now: now, Log: log, MaxAttempts: 8}
	for name, c := range conns {
		if t, ok := c.(connectors.Tasker); ok && t.Manual() {
			e.manual[name] = true
		}
	}
	e.catalogue.Store(cat)
	e.principals.Store(ps)
	return e
}

// Catalogue is the catalogue in force.
func (e *Engine) Catalogue() *policy.Catalogue { return e.catalogue.Load() }

// SetCatalogue replaces the catalogue; work in flight keeps its grants'
// recorded entitlements.
func (e *Engine) SetCatalogue(c *policy.Catalogue) { e.catalogue.Store(c) }

// Principals is the principals set in force.
func (e *Engine) Principals() *principals.Set { return e.principals.Load() }

// SetPrincipals makes ps the principals messages are verified against from
// the next message on (a reload of the principals file).
func (e *Engine) SetPrincipals(ps *principals.Set) { e.principals.Store(ps) }

// Input is one message as it came off the stream.
type Input struct {
	Subject   string
	Raw       []byte
	Seq       uint64             // stream sequence
	Env       *envelope.Envelope // nil when DecodeErr is set
	DecodeErr error
	// ByBytes records it as rejected under its bytes, whatever key it
	// claims (the last resort when it could not be recorded under that key).
	ByBytes bool
	// checked is set by Check: the signature was verified outside the
	// transaction, with verifyErr its outcome.
	checked   bool
	verifyErr error
}

// Check verifies the signature of a decoded input ahead of Apply, so the
// costly part runs outside the ledger transaction (and in parallel).
func (e *Engine) Check(in *Input) {
	if in.Env != nil {
		_, in.verifyErr = e.Principals().Verify(in.Env)
		in.checked = true
	}
}

// Outcome says what became of a message, for logs and metrics.
type Outcome string

const (
	Accepted  Outcome = "accepted"
	Rejected  Outcome = "rejected"
	DeniedOut Outcome = "denied"
	Duplicate Outcome = "duplicate"
	Conflict  Outcome = "conflict"
	Ignored   Outcome = "ignored"
)

// msg carries one message through the handlers.
type msg struct {
	in     Input
	env    *envelope.Envelope
	key    string
	now    time.Time
	cat    *policy.Catalogue
	action string
	// birthright, when set, is the rule ("file:line") on whose behalf
	// the engine asks for a grant while applying an HR record.
	birthright string
	// review is set when reconciliation asks for a grant that explains a
	// member found at the target (reconcile.extra: review).
	review bool
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Decode decodes a raw message into an Input (no I/O; call outside the
// transaction).
func Decode(subject string, raw []byte, seq uint64) Input {
	in := Input{Subject: subject, Raw: raw, Seq: seq}
	in.Env, in.DecodeErr = envelope.Decode(subject, raw)
	return in
}

// Apply applies one message in tx. An error means nothing of it may be
// committed: roll back and let the message be redelivered.
func (e *Engine) Apply(tx ledger.Tx, in Input) (Outcome, error) {
	m, out, err := e.admit(tx, in)
	if m == nil || err != nil {
		return out, err
	}
	switch p := in.Env.Payload.(type) {
	case *envelope.Request:
		if p.Action == "revoke" {
			return e.revokeRequest(tx, m, p)
		}
		return e.grantRequest(tx, m, p)
	case *envelope.Decision:
		return e.decision(tx, m, p)
	case *envelope.Training:
		return e.training(tx, m, p)
	case *envelope.Task:
		return e.task(tx, m, p)
	case *envelope.Operator:
		return e.operator(tx, m, p)
	case *envelope.HR:
		return e.hr(tx, m, p)
	case *envelope.ReviewDecision:
		return e.reviewDecision(tx, m, p)
	}
	return e.reject(tx, m, fmt.Sprintf("message type %s is not handled", in.Env.Type))
}

// admit checks a message and records its idempotency key. It returns the
// message to apply, or nil and the outcome when there is nothing to apply
// (not authenticated, a duplicate, a conflict: recorded here).
func (e *Engine) admit(tx ledger.Tx, in Input) (*msg, Outcome, error) {
	m := &msg{in: in, env: in.Env, now: e.Now().UTC(), cat: e.Catalogue()}
	if in.Env == nil {
		reason := fmt.Sprintf("invalid message: %v", in.DecodeErr)
		// A signed message that fails validation is rejected under its own
		// key, so its sender finds the rejection by its request_id.
		// Only on the subject its type and person give: a signed message
		// moved to another subject is anyone's doing, not its sender's.
		if c, signable := envelope.Claimed(in.Raw); c != nil && signable && !in.ByBytes && subjectOf(c) == in.Subject {
			if _, err := e.Principals().Verify(c); err == nil {
				m.env, m.key = c, c.Key()
				if out, err := e.record(tx, m); out != "" || err != nil {
					return nil, out, err
				}
				out, err := e.reject(tx, m, reason)
				return nil, out, err
			}
		}
		out, err := e.rejectUnauthenticated(tx, m, reason)
		return nil, out, err
	}
	if !in.checked {
		e.Check(&in)
	}
	if in.verifyErr != nil {
		out, err := e.rejectUnauthenticated(tx, m, in.verifyErr.Error())
		return nil, out, err
	}
	m.key = in.Env.Key()
	if out, err := e.record(tx, m); out != "" || err != nil {
		return nil, out, err
	}
	return m, "", nil
}

// subjectOf is the NATS subject c belongs on, "" when its type is not a
// message in.
func subjectOf(c *envelope.Envelope) string {
	s, err := envelope.SubjectFor(c.Type, c.Subject)
	if err != nil {
		return ""
	}
	return s
}

// record records the idempotency key of an authenticated message: "" when
// it is new, else Duplicate or Conflict (a conflict is audited and
// announced here).
func (e *Engine) record(tx ledger.Tx, m *msg) (Outcome, error) {
	if err := ledger.Preload(tx, []string{m.env.Subject}, []string{m.key}); err != nil {
		return "", err
	}
	switch out, err := tx.RecordMessage(ledger.Message{
		Key: m.key, PayloadHash: sha(m.env.SigningInput()), Type: m.env.Type, Person: m.env.Subject,
		Actor: m.env.Actor, Seq: m.in.Seq, At: m.now,
	}); {
	case err != nil:
		return "", err
	case out == ledger.MsgDuplicate:
		return Duplicate, nil
	case out == ledger.MsgConflict:
		tx.Audit(ledger.AuditEntry{At: m.now, Kind: "message.conflict", Person: m.env.Subject, Actor: m.env.Actor, Via: m.env.Via,
			RequestID: m.key, Text: "the same source and id were sent before with another payload; this one is not applied",
			Details: map[string]string{"type": m.env.Type, "source": m.env.Source, "id": m.env.ID}})
		tx.Emit(ledger.Event{Kind: tilgang.EvRequestRejected, Person: m.env.Subject, At: m.now, Data: map[string]any{
			"request_id": m.key, "reason": "conflict: this source and id were used before for another payload"}})
		return Conflict, nil
	}
	return "", nil
}

// RejectUnapplied records a message that could not be applied (it failed
// on every try) as rejected with reason, under its own idempotency key, so
// a copy of it still on its way (a redelivery) is a duplicate and is not
// applied late, out of order. A message that is not authenticated is
// recorded under its bytes, as Apply does. When even this fails, the
// caller records it with Apply and the envelope left out (under its bytes).
func (e *Engine) RejectUnapplied(tx ledger.Tx, in Input, reason string) (Outcome, error) {
	m, out, err := e.admit(tx, in)
	if m == nil || err != nil {
		return out, err
	}
	return e.reject(tx, m, reason)
}

// rejectUnauthenticated records a message that cannot be trusted (it does
// not decode or its signature fails). It is keyed by its own bytes, never by
// the key it claims, so a forged message cannot occupy a real sender's key.
func (e *Engine) rejectUnauthenticated(tx ledger.Tx, m *msg, reason string) (Outcome, error) {
	person, typ := "_", ""
	claimed := m.env
	if claimed == nil {
		// What it claims, when that can be read: its sender matches the
		// rejection by claimed_request_id, or by source and id.
		claimed, _ = envelope.Claimed(m.in.Raw)
	}
	if m.env != nil {
		person, typ = m.env.Subject, m.env.Type
	} else if parts := strings.Split(m.in.Subject, "."); len(parts) == 4 && tilgang.ValidToken(parts[3]) {
		person = parts[3]
	} else if claimed != nil {
		person = claimed.Subject
	}
	if claimed != nil {
		typ = claimed.Type
	}
	out, err := tx.RecordMessage(ledger.Message{Key: "raw:" + sha(m.in.Raw), PayloadHash: sha(m.in.Raw), Type: typ, Person: person, Seq: m.in.Seq, At: m.now})
	if err != nil || out != ledger.MsgNew {
		return Duplicate, err
	}
	// Who it claims to be from is not known: the actor column stays empty
	// and the claim goes in the details.
	e2 := ledger.AuditEntry{At: m.now, Kind: "message.rejected", Person: person, Text: reason,
		Details: map[string]string{"subject": m.in.Subject, "seq": fmt.Sprint(m.in.Seq), "bytes_sha256": sha(m.in.Raw)}}
	data := map[string]any{"reason": reason}
	if claimed != nil {
		e2.Details["claimed_actor"], e2.Details["claimed_via"] = claimed.Actor, claimed.Via
		e2.Details["type"], e2.Details["source"], e2.Details["id"] = claimed.Type, claimed.Source, claimed.ID
		data["claimed_request_id"] = claimed.Key()
		data["source"], data["id"] = claimed.Source, claimed.ID
	}
	chain, summary := e.unverified.take(m.now)
	if summary != nil {
		tx.Audit(*summary)
	}
	if chain {
		tx.Audit(e2)
	}
	tx.Emit(ledger.Event{Kind: tilgang.EvRequestRejected, Person: person, At: m.now, Data: data})
	return Rejected, nil
}

// reject records an authenticated message that may not do what it asks.
func (e *Engine) reject(tx ledger.Tx, m *msg, reason string) (Outcome, error) {
	if err := e.recordRequest(tx, m, "rejected", reason, "", nil); err != nil {
		return "", err
	}
	tx.Audit(ledger.AuditEntry{At: m.now, Kind: "message.rejected", Person: m.env.Subject, Actor: m.env.Actor, Via: m.env.Via,
		RequestID: m.key, Text: reason, Details: map[string]string{"type": m.env.Type}})
	tx.Emit(ledger.Event{Kind: tilgang.EvRequestRejected, Person: m.env.Subject, At: m.now, Data: map[string]any{
		"request_id": m.key, "reason": reason, "type": m.env.Type}})
	return Rejected, nil
}

// recordRequest stores the request row that `tilgang status` reads.
func (e *Engine) recordRequest(tx ledger.Tx, m *msg, outcome, why, grantID string, p *envelope.Request) error {
	r := ledger.Request{ID: m.key, Person: m.env.Subject, Actor: m.env.Actor, Via: m.env.Via, GrantID: grantID,
		Outcome: outcome, Why: why, Seq: m.in.Seq, At: m.now, Action: actionOf(m.env)}
	if p != nil {
		r.System, r.Role, r.Reason, r.ValidUntil = p.System, p.Role, p.Reason, p.ValidUntil
	}
	return tx.InsertRequest(r)
}

func actionOf(env *envelope.Envelope) string {
	switch p := env.Payload.(type) {
	case *envelope.Request:
		return p.Action
	case *envelope.Decision:
		return p.Decision
	case *envelope.Task:
		return "task." + p.Outcome
	}
	t := strings.TrimPrefix(env.Type, "no.tilgang.")
	return strings.TrimSuffix(t, ".v1")
}

func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// managerAt is the person's manager at now: the main employment's then
// (tilgang.Person.At).
func managerAt(p *ledger.PersonRow, now time.Time) string {
	v := p.Person.At(now)
	return v.Manager()
}

// hasLeft reports whether the person has left at now.
func hasLeft(p *ledger.PersonRow, now time.Time) bool {
	return p.Left || (!p.LeaveAt.IsZero() && !p.LeaveAt.After(now))
}

// relations lists what the actor is to the person for the system.
func (e *Engine) relations(actor string, p *ledger.PersonRow, sys *policy.System) []string {
	var rel []string
	if actor == p.Person.ID {
		rel = append(rel, policy.BySelf)
	}
	if m := managerAt(p, e.Now()); m != "" && actor == m {
		rel = append(rel, policy.ByManager)
	}
	if sys != nil && sys.IsAdministrator(actor) {
		rel = append(rel, policy.ByAdministrator)
	}
	if set := e.Principals(); set.Can(actor, tilgang.CapHR) || set.Can(actor, tilgang.CapHRRequester) {
		rel = append(rel, policy.ByHR)
	}
	return rel
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cloneEntitlements(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// Prefetch reads, in a few statements, what applying ins will read of the
// ledger (the people they are about and their idempotency keys), so that
// applying them one by one in tx costs no round trip per read. Call it
// right after Begin with the messages the transaction will apply, in order.
func (e *Engine) Prefetch(tx ledger.Tx, ins []Input) error {
	persons, keys := make([]string, 0, len(ins)), make([]string, 0, len(ins))
	for i := range ins {
		in := &ins[i]
		if in.Env == nil {
			continue
		}
		if !in.checked {
			e.Check(in)
		}
		if in.verifyErr != nil {
			continue
		}
		persons, keys = append(persons, in.Env.Subject), append(keys, in.Env.Key())
	}
	return ledger.Preload(tx, persons, keys)
}
