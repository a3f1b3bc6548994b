// Package ledger is tilgang's memory: the messages it has seen (the
// idempotency keys), people, requests, grants, the outbox of connector
// operations, the events waiting to be published, and the audit hash chain.
//
// Everything the engine changes for one message, or the executor for one
// operation, happens in one Tx, so a crash leaves either all of it or none.
// Audit entries and events are buffered in the Tx and written at Commit: the
// chain head is taken as the last statement, so concurrent writers never
// fork the chain and hold its lock for the shortest time.
//
// Backends (SQLite for `tilgang dev`, PostgreSQL for production) implement
// Ledger and pass the same conformance suite in ledgertest.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Ledger is a storage backend.
type Ledger interface {
	// Begin starts a writing transaction.
	Begin(ctx context.Context) (Tx, error)
	// Claim leases up to n due operations for holder until now+lease, in
	// per-(person, connector) order, raising each one's fencing token.
	Claim(ctx context.Context, holder string, now time.Time, lease time.Duration, n int) ([]Operation, error)
	// ReleaseClaims returns the holder's claimed operations to the queue:
	// for a restarted process that reuses its holder name (the embedded
	// default), so its claims need not lapse first. It reports how many.
	ReleaseClaims(ctx context.Context, holder string) (int64, error)
	// AcquireLease takes the named lease for holder until the database's
	// now+ttl when it is free or lapsed (or already the holder's), raising
	// its fencing token; it returns 0 when another holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (token int64, err error)
	// RenewLease extends a lease still held with token; a Conflict error
	// means it was lost.
	RenewLease(ctx context.Context, name, holder string, token int64, ttl time.Duration) error
	// ReleaseLease gives a held lease up at once.
	ReleaseLease(ctx context.Context, name, holder string, token int64) error
	// NextDue is the earliest time an operation becomes claimable (zero when none is queued).
	NextDue(ctx context.Context) (time.Time, error)
	Reader
	// PendingEvents lists up to n events not yet published, oldest first.
	PendingEvents(ctx context.Context, n int) ([]Event, error)
	// MarkPublished records that the events were published.
	MarkPublished(ctx context.Context, ids []int64) error
	// CatalogueVersion is the version of the catalogue in force (the newest
	// stored), "" when none is stored.
	CatalogueVersion(ctx context.Context) (string, error)
	// Catalogue reads the catalogue in force, nil when none is stored.
	Catalogue(ctx context.Context) (*Catalogue, error)
	// ChainsFrom checks, before a head is anchored, that the row at
	// from.Seq still has from.Hash (from the last anchor; seq 0 is the
	// empty chain) and that every row after it chains from it, reading
	// only those rows. It returns the newest row reached; a break is a
	// *ChainBreak error naming the row.
	ChainsFrom(ctx context.Context, from Head) (Head, error)
	// RowHashes reads the stored hashes of the chain rows at seqs; a
	// missing row is absent from the map.
	RowHashes(ctx context.Context, seqs []int64) (map[int64]string, error)
	// Untraced says, by operation id, why those of ops that do not trace
	// to the chain do not: the planner chains every operation it queues
	// (DigestOp) in an operations.planned entry, and an operation the
	// chain does not record so is not to be executed.
	Untraced(ctx context.Context, ops []Operation) (map[int64]string, error)
	Close() error
}

// ChainBreak is a chain that does not run on from an anchor.
type ChainBreak struct {
	Seq     int64
	Problem string
}

func (e *ChainBreak) Error() string { return e.Problem }

// Reader is the read side the API serves from.
type Reader interface {
	Person(ctx context.Context, id string) (*PersonRow, error)
	Request(ctx context.Context, id string) (*Request, error)
	Grant(ctx context.Context, id string) (*Grant, error)
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// SystemGrants lists one page of a system's grants (SystemGrantFilter),
	// in role, person, id order.
	SystemGrants(ctx context.Context, f SystemGrantFilter) ([]Grant, error)
	// PendingApprovals lists the grants in pending_approval whose current
	// stage principal may decide: the stage names principal, or it names
	// no one (any administrator) and the grant's system is one of systems.
	// Oldest update first, then by id. Whether principal may in fact
	// decide (not their own grant, not one they requested or approved) is
	// the caller's to judge.
	PendingApprovals(ctx context.Context, principal string, systems []string) ([]Grant, error)
	// GrantsInState lists the grants in state whose system is one of
	// systems (none when systems is empty), oldest update first, then by id.
	GrantsInState(ctx context.Context, state tilgang.GrantState, systems []string) ([]Grant, error)
	// RequestsByID reads several requests at once; one not recorded is
	// absent from the map.
	RequestsByID(ctx context.Context, ids []string) (map[string]*Request, error)
	// GrantsByID reads several grants at once; one not recorded is absent
	// from the map.
	GrantsByID(ctx context.Context, ids []string) (map[string]*Grant, error)
	// PersonNames reads the given and family names of several people at
	// once, joined by a space and trimmed ("" when the record has none);
	// a person without a record is absent from the map.
	PersonNames(ctx context.Context, ids []string) (map[string]string, error)
	Operation(ctx context.Context, id int64) (*Operation, error)
	Operations(ctx context.Context, grantID string) ([]Operation, error)
	// WaitingOperations lists the operations in state waiting (manual tasks
	// for people), oldest first: by due time, stream sequence, then id.
	WaitingOperations(ctx context.Context) ([]Operation, error)
	// Requests lists the requests (messages) recorded for a person, oldest first.
	Requests(ctx context.Context, person string) ([]Request, error)
	Account(ctx context.Context, person, connector string) (*AccountRow, error)
	// People reads the records and accounts of several people at once (an
	// executor's claimed operations): two statements, not two per person.
	// A person without a record is absent from the map.
	People(ctx context.Context, ids []string) (map[string]*PersonRow, []AccountRow, error)
	// PersonIDs lists the ids of the people whose HR record the ledger
	// holds, in id order, at most limit of them after the id after.
	PersonIDs(ctx context.Context, after string, limit int) ([]string, error)
	// Audit lists one page of the chain rows matching the filter (see
	// AuditFilter), oldest first, with their free text where it is still
	// kept.
	Audit(ctx context.Context, f AuditFilter) ([]AuditRow, error)
	// Head is the chain's newest {seq, hash}; seq 0 when empty.
	Head(ctx context.Context) (Head, error)
	// Verify checks the chain row by row, that it still reaches the anchor
	// (the newest published head, nil when none is known), that the grant
	// table agrees with the transitions the chain records (state, person,
	// system, role, requester, approvers, valid_until, entitlements), that
	// every operation traces to the chain, and that free text is kept
	// unchanged unless a chained erasure covers it. The report names the
	// first problem; err is only for failing to read.
	Verify(ctx context.Context, anchor *Head) (VerifyReport, error)
	Stats(ctx context.Context) (Stats, error)
	HRSnapshotReader
}

// Tx is one writing transaction. Methods return *tilgang.Error values:
// NotFound never (a missing row is a nil result), Conflict for a broken
// uniqueness rule, Unavailable when the database is. A backend may keep
// writes until Commit (see Preloader and Flusher), and then report a
// Conflict from Commit instead of from the write.
type Tx interface {
	// Fence extends the named lease inside the transaction and fails with
	// Conflict unless holder still holds it with token, unexpired by the
	// database's clock: a writer that lost its lease cannot commit.
	Fence(name, holder string, token int64, ttl time.Duration) error

	// RecordMessage stores a message's idempotency key. It returns
	// MsgNew the first time, MsgDuplicate for the same key and payload, and
	// MsgConflict for the same key with another payload (not stored again).
	RecordMessage(m Message) (MsgOutcome, error)

	// Person reads a person's record. Someone the Tx has not loaded (a
	// manager, say) is read without a lock, so two transactions reading
	// each other's people cannot deadlock: a transaction that changes a
	// person from what it read preloads them.
	Person(id string) (*PersonRow, error)
	PutPerson(p PersonRow) error

	Request(id string) (*Request, error)
	InsertRequest(r Request) error
	// GrantRequests lists the person's requests recorded for grantID (the
	// one that opened it, those attached to it, its decisions), oldest first.
	GrantRequests(person, grantID string) ([]Request, error)

	Grant(id string) (*Grant, error)
	// OpenGrant is the open grant of (person, system, role) that is not on
	// its way out, nil when none: at most one exists. A grant in revoking or
	// revoke_failed, or marked to be revoked once its provisioning finishes,
	// does not count, so asking again opens a new grant whose operations
	// queue behind the revokes.
	OpenGrant(person, system, role string) (*Grant, error)
	// GrantsOf lists the person's grants that are not final.
	GrantsOf(person string) ([]Grant, error)
	// AllGrantsOf lists all the person's grants, final ones too, oldest
	// first.
	AllGrantsOf(person string) ([]Grant, error)
	InsertGrant(g Grant) error
	UpdateGrant(g Grant) error

	Operation(id int64) (*Operation, error)
	InsertOperation(op Operation) (int64, error)
	// UpdateOperation writes op's grant, state, times, attempts, claim,
	// target, disabled flag and last error (its person, connector, kind,
	// entitlement and sequence never change). When expectToken is not zero
	// the row must still be claimed with that token: otherwise the claim was
	// lost and it returns a Conflict error and writes nothing.
	UpdateOperation(op Operation, expectToken int64) error
	// OperationsOf lists a grant's operations.
	OperationsOf(grantID string) ([]Operation, error)
	// PersonOperations lists the person's operations in the given states.
	PersonOperations(person string, states ...OpState) ([]Operation, error)

	Account(person, connector string) (*AccountRow, error)
	PutAccount(a AccountRow) error
	AccountsOf(person string) ([]AccountRow, error)

	// CatalogueVersion and Catalogue read the catalogue in force, as
	// Ledger's do, in this transaction and without locking it: the intake
	// checks that it decides with it, one small read per transaction.
	CatalogueVersion() (string, error)
	Catalogue() (*Catalogue, error)
	// PutCatalogue stores c as the catalogue in force.
	PutCatalogue(c Catalogue) error

	// Audit appends an entry to the chain at Commit.
	Audit(e AuditEntry)
	// Emit queues an event to be published after Commit.
	Emit(e Event)

	HRSnapshotWriter

	Commit() error
	Rollback() error
}

// Catalogue is a policy catalogue as the ledger keeps it: the newest stored
// is the one in force, and every replica decides with it, whatever its own
// files say.
type Catalogue struct {
	Version string            // the catalogue version of Files (policy.Catalogue.Version)
	Files   map[string][]byte // the policy files by name
	At      time.Time
	Actor   string // who made it the one in force: an operator, "sighup", "start"
	Holder  string // the replica that stored it
}

// Preloader is a Tx that can read ahead. The callers that know what a
// transaction will touch (the intake's batch, the executor's claimed
// operations) hand it over with Preload; a Tx without it reads as it goes.
type Preloader interface {
	// Load reads the rows of these people (their record, open grants,
	// unfinished operations and accounts) and these idempotency keys in a
	// few statements, locking the people's rows where the backend locks
	// rows. Later reads of them in this Tx are answered from memory.
	// Calling it again adds more; what is loaded already costs nothing.
	Load(persons, keys []string) error
}

// HistoryLoader is a Tx that can read people's whole operation history
// ahead: a caller about to revoke many people's grants (a review's close)
// hands them over with PreloadHistory, so PersonOperations of any state
// costs no statement per person.
type HistoryLoader interface {
	// LoadHistory reads all stored operations of these people, locking
	// them where the backend locks rows. Calling it again adds more.
	LoadHistory(persons []string) error
}

// PreloadHistory calls tx's LoadHistory when it has one.
func PreloadHistory(tx Tx, persons []string) error {
	if h, ok := tx.(HistoryLoader); ok {
		return h.LoadHistory(persons)
	}
	return nil
}

// Flusher is a Tx that keeps writes until Commit and can send them sooner.
type Flusher interface {
	// Flush sends the writes kept so far, and the events queued, now
	// rather than at Commit: what Commit then does is only the audit
	// chain, whose head every writer takes in turn, so a transaction holds
	// the shared rows (the chain head, a fenced lease) for as short a time
	// as it can. The transaction goes on as before; Commit flushes
	// whatever is left itself.
	Flush() error
}

// Preload calls tx's Load when it has one.
func Preload(tx Tx, persons, keys []string) error {
	if p, ok := tx.(Preloader); ok {
		return p.Load(persons, keys)
	}
	return nil
}

// Flush calls tx's Flush when it has one.
func Flush(tx Tx) error {
	if f, ok := tx.(Flusher); ok {
		return f.Flush()
	}
	return nil
}

// MsgOutcome is what RecordMessage found.
type MsgOutcome int

const (
	MsgNew MsgOutcome = iota
	MsgDuplicate
	MsgConflict
)

// Message is one message's idempotency record.
type Message struct {
	Key         string // DESIGN.md: SHA-256 of signer, source, id
	PayloadHash string
	Type        string
	Person      string
	Actor       string
	Seq         uint64 // stream sequence
	At          time.Time
}

// PersonRow is the stored HR record.
type PersonRow struct {
	Person  tilgang.Person
	Version int64
	LeaveAt time.Time // scheduled leave; zero when none
	LeaveOp int64     // the scheduled leave operation, 0 when none
	Left    bool      // the leave has run and no later version reopened employment
	Updated time.Time
}

// Request is one access request (grant or revoke).
type Request struct {
	ID         string // request_id
	Person     string
	System     string
	Role       string
	Action     string // grant | revoke
	Actor      string
	Via        string
	GrantID    string
	Outcome    string // accepted | attached | denied | rejected
	Reason     string // the requester's reason (free text)
	Why        string // why denied or rejected
	ValidUntil tilgang.Date
	Seq        uint64
	At         time.Time
}

// Grant is one person's (system, role) access and its life.
type Grant struct {
	ID             string
	Person         string
	System         string
	Role           string
	State          tilgang.GrantState
	RequestID      string // the request that opened it
	Requester      string
	Stage          int      // index into the role's approval stages
	StagePrincipal string   // who approves the current stage; "" = any administrator
	Approvers      []string // who approved, stage by stage
	ValidUntil     tilgang.Date
	RevokeAfter    bool   // revoke once in-flight provisioning finishes
	RevokeCause    string // revoke | leaver | expiry | operator | mover
	// Entitlements is what provisioning grants (connector -> values), kept
	// so revocation removes exactly what was given even if the policy changed.
	Entitlements map[string][]string
	Catalogue    string // catalogue version that decided its last transition
	Created      time.Time
	Updated      time.Time
}

// GrantFilter selects grants for reads.
type GrantFilter struct {
	Person   string
	System   string
	Systems  []string // any of (administrators see their systems)
	Persons  []string // any of (managers see their staff)
	OpenOnly bool
}

// SystemGrantFilter selects one page of a system's grants for
// SystemGrants: those of System in one of States (at least one), of Role
// when it is not "", whose key comes after After in role, person, id
// order (the zero key: from the first), at most Limit of them (0: all).
// The next page is the one After the key of the last grant of a page.
type SystemGrantFilter struct {
	System string
	Role   string
	States []tilgang.GrantState
	After  GrantKey
	Limit  int
}

// GrantKey is a grant's place in SystemGrants' order.
type GrantKey struct {
	Role, Person, ID string
}

// KeyOf is g's place in SystemGrants' order.
func KeyOf(g *Grant) GrantKey { return GrantKey{Role: g.Role, Person: g.Person, ID: g.ID} }

// OpState is where an operation is.
type OpState string

const (
	OpQueued    OpState = "queued"
	OpClaimed   OpState = "claimed"
	OpWaiting   OpState = "waiting" // a manual task for people
	OpDone      OpState = "done"
	OpFailed    OpState = "failed"
	OpCancelled OpState = "cancelled"
)

// Operation kinds.
const (
	KindEnsureAccount = "ensure_account"
	KindEnable        = "enable"
	KindDisable       = "disable"
	KindGrant         = "grant"
	KindRevoke        = "revoke"
	KindLeave         = "leave"  // scheduled leaver processing (internal)
	KindExpire        = "expire" // a time-bound grant's scheduled expiry (internal)
)

// Internal is the connector name of operations the engine itself runs.
const Internal = "tilgang"

// Operation is one due or scheduled piece of connector work.
type Operation struct {
	ID          int64
	GrantID     string // "" for account and internal operations
	Person      string
	Connector   string
	Kind        string
	Entitlement string
	State       OpState
	DueAt       time.Time // not before; orders the person's work on one connector
	NextAt      time.Time // next attempt after a failure (does not reorder)
	Seq         uint64    // stream sequence of the message that caused it
	Attempts    int
	Token       int64
	Holder      string
	ClaimUntil  time.Time
	Target      connectors.Ref // resolved before the first call
	Disabled    bool           // ensure_account: create disabled
	LastError   string
	Created     time.Time
	Updated     time.Time
}

// AccountRow is what a connector resolved for a person's account.
type AccountRow struct {
	Person    string
	Connector string
	Ref       connectors.Ref
	Enabled   bool
	Updated   time.Time
}

// AuditEntry is one fact for the chain. Ids only; free text goes in Text,
// stored beside the chain with only its hash chained.
type AuditEntry struct {
	At        time.Time
	Kind      string // request.accepted, grant.state, message.rejected, ...
	Person    string
	Actor     string
	Via       string
	System    string
	Role      string
	GrantID   string
	RequestID string
	OpID      int64
	From      string
	To        string
	Catalogue string
	FileHash  string
	Text      string
	Details   map[string]string
}

// AuditRow is a chain row as read back.
type AuditRow struct {
	Seq       int64
	Hash      string
	Canonical string // the exact bytes that were hashed
	Entry     AuditEntry
	TextHash  string
}

// AuditFilter selects chain rows for reads, one page at a time: the
// matching rows with a seq above After, oldest first, at most Limit of
// them. A Limit of 0, or above MaxAuditPage, is MaxAuditPage, so no read
// holds more than one page of the chain. A page shorter than its limit is
// the last; the next page is the one After the last row's Seq.
type AuditFilter struct {
	Person string
	System string
	Since  time.Time
	Until  time.Time // when not zero, rows before it only
	After  int64     // 0 from the start
	Limit  int
}

// MaxAuditPage is the most chain rows one Audit read returns.
const MaxAuditPage = 1000

// PageSize is the most rows a read with this filter returns.
func (f AuditFilter) PageSize() int {
	if f.Limit <= 0 || f.Limit > MaxAuditPage {
		return MaxAuditPage
	}
	return f.Limit
}

// AuditPages reads the rows matching f from f.After on, a page at a time,
// and hands each page to each, in chain order; it stops at the first error
// each returns. For walks over the whole chain that must not hold it.
func AuditPages(ctx context.Context, r Reader, f AuditFilter, each func([]AuditRow) error) error {
	for {
		rows, err := r.Audit(ctx, f)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := each(rows); err != nil {
				return err
			}
		}
		if len(rows) < f.PageSize() {
			return nil
		}
		f.After = rows[len(rows)-1].Seq
	}
}

// Event is one event out, published on tilgang.event.<kind>.<person>.
type Event struct {
	ID     int64
	Kind   string
	Person string // "_" when none
	Data   map[string]any
	At     time.Time
}

// Head is the chain head.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Anchor is a published chain head and the anchor it extends (nil for the
// first), as signed by the worker's key.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	Prev *Head  `json:"prev_anchor,omitempty"`
}

// Head is the anchored head.
func (a Anchor) Head() Head { return Head{Seq: a.Seq, Hash: a.Hash} }

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Rows    int64  `json:"rows"`
	Head    Head   `json:"head"`
	Grants  int    `json:"grants"`
	OK      bool   `json:"ok"`
	BadSeq  int64  `json:"bad_seq,omitempty"` // the first bad row
	Problem string `json:"problem,omitempty"`
	// Anchors is how many signed anchors were checked against the chain;
	// Ignored says which anchors were not (unsigned, not by the worker's
	// key, or not decodable) and why.
	Anchors int      `json:"anchors"`
	Ignored []string `json:"ignored_anchors,omitempty"`
}

// ChainLess reports whether a comes before b in the chain of a person's
// work on one connector instance: by due time, stream sequence, then id.
// Claim takes operations in this order.
func ChainLess(a, b Operation) bool {
	if !a.DueAt.Equal(b.DueAt) {
		return a.DueAt.Before(b.DueAt)
	}
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	return a.ID < b.ID
}

// KindPlanned is the kind of the audit entry that chains operations as they
// are queued: Details maps "op.<id>" to DigestOp of each. The executor runs
// only operations such an entry records.
const KindPlanned = "operations.planned"

// Planned is the audit entry that chains ops (one person's) as queued at at,
// by actor.
func Planned(at time.Time, actor string, ops ...Operation) AuditEntry {
	e := AuditEntry{At: at, Kind: KindPlanned, Actor: actor, Details: make(map[string]string, len(ops))}
	for _, op := range ops {
		e.Person, e.GrantID = op.Person, op.GrantID
		e.Details[fmt.Sprintf("op.%d", op.ID)] = DigestOp(op)
	}
	return e
}

// DigestOp is the chained digest of an operation's identity: id, person,
// grant, connector, kind and entitlement (what never changes once it is
// queued).
func DigestOp(op Operation) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%s\x00%s", op.ID, op.Person, op.GrantID, op.Connector, op.Kind, op.Entitlement)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// The details keys under which a grant.state entry chains the grant's
// requester, approvers (comma-separated), valid_until and entitlements
// (DigestEntitlements) as they are after the transition.
const (
	GrantRequester    = "grant.requester"
	GrantApprovers    = "grant.approvers"
	GrantValidUntil   = "grant.valid_until"
	GrantEntitlements = "grant.entitlements"
)

// GrantDetails returns a copy of details with g's chained fields added.
func GrantDetails(g Grant, details map[string]string) map[string]string {
	out := make(map[string]string, len(details)+4)
	for k, v := range details {
		out[k] = v
	}
	out[GrantRequester] = g.Requester
	out[GrantApprovers] = strings.Join(g.Approvers, ",")
	out[GrantValidUntil] = g.ValidUntil.String()
	out[GrantEntitlements] = DigestEntitlements(g.Entitlements)
	return out
}

// DigestEntitlements is the chained digest of a grant's entitlements
// (connector -> values, in order).
func DigestEntitlements(ents map[string][]string) string {
	conns := make([]string, 0, len(ents))
	for c := range ents {
		conns = append(conns, c)
	}
	sort.Strings(conns)
	h := sha256.New()
	for _, c := range conns {
		fmt.Fprintf(h, "%s\x00", c)
		for _, v := range ents[c] {
			fmt.Fprintf(h, "%s\x01", v)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Stats counts rows for health and benchmarks.
type Stats struct {
	Messages     int64
	Requests     int64
	Grants       map[tilgang.GrantState]int64
	OpsByState   map[OpState]int64
	EventsUnsent int64
}

// --- HR sync snapshots (DESIGN.md "HR sources") ---

// HRSnapshotRow is what the ledger keeps of one person of one HR source:
// the record as the source's sync last sent it, at its version. Present is
// false once the person went missing from the source (the sync sent a
// leaver).
type HRSnapshotRow struct {
	Source  string
	Person  string
	Version int64
	Digest  string // DigestPerson of Record
	Present bool
	Record  tilgang.Person
	Updated time.Time
}

// MaxHRSnapshotPage is the most rows one HRSnapshot read returns.
const MaxHRSnapshotPage = 500

// HRSnapshotReader reads the snapshot kept of an HR source.
type HRSnapshotReader interface {
	// HRSnapshot lists the rows of source with a person id above after, in
	// person id order, at most limit of them (0 or above
	// MaxHRSnapshotPage: MaxHRSnapshotPage). A page shorter than its limit
	// is the last.
	HRSnapshot(ctx context.Context, source, after string, limit int) ([]HRSnapshotRow, error)
}

// HRSnapshotWriter keeps the snapshot of an HR source.
type HRSnapshotWriter interface {
	// PutHRSnapshot stores r as the row of (r.Source, r.Person), replacing
	// what was kept; Digest is computed from Record when empty.
	PutHRSnapshot(r HRSnapshotRow) error
}

// DigestPerson is the digest of a person record as JSON.
func DigestPerson(p tilgang.Person) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("ledger: digest person %s: %v", p.ID, err))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// --- end HR sync snapshots ---

// --- retention erasure (DESIGN.md "Operations over years") ---

// ErasureKind is the chained entry of an erasure: details "before" (an RFC
// 3339 time; verify also reads a date) and the counts, by EraseCounts'
// keys.
const ErasureKind = "erasure"

// EraseCounts is what an erasure removed, or in a dry run would remove.
type EraseCounts struct {
	Texts      int64 `json:"texts"`      // free texts (reasons, comments) whose every chain row is before the date
	Requests   int64 `json:"requests"`   // request rows before the date whose reason or why was cleared
	Operations int64 `json:"operations"` // finished operations before the date whose last error was cleared
	Events     int64 `json:"events"`     // published (and notified) events before the date
	Mails      int64 `json:"mails"`      // mails made before the date and sent or failed (they hold names and addresses)
	Snapshots  int64 `json:"snapshots"`  // HR snapshot rows of people who left before the date
	Persons    int64 `json:"persons"`    // person records (the HR record) of people who left before the date
	// Listed is the people who left before the date whom an HR source
	// still lists (its snapshot has them present): kept, record and
	// snapshot row, until the source drops them; erased, the next sync
	// would send them again as joiners.
	Listed int64 `json:"listed"`
	// Reviews is the access review items decided before the date whose
	// comment was cleared (the comment is kept beside the chain as well).
	Reviews int64 `json:"reviews"`
	// ReconcileRuns is the reconciliation runs before the date removed
	// (all but each system's newest) or whose failed read's error was
	// replaced by ErasedReconcileError (the target's words may name an account).
	// The counts stay in the chain (reconcile.run).
	ReconcileRuns int64 `json:"reconcile_runs"`
	// Traces is the trace contexts of messages before the date whose
	// operations have all run: nothing will be traced as their child again.
	Traces int64 `json:"traces"`
}

// Details is the counts as chained: each key to its decimal count.
func (c EraseCounts) Details() map[string]string {
	return map[string]string{
		"texts": fmt.Sprint(c.Texts), "requests": fmt.Sprint(c.Requests), "operations": fmt.Sprint(c.Operations),
		"events": fmt.Sprint(c.Events), "mails": fmt.Sprint(c.Mails), "snapshots": fmt.Sprint(c.Snapshots), "persons": fmt.Sprint(c.Persons),
		"listed": fmt.Sprint(c.Listed), "reviews": fmt.Sprint(c.Reviews), "reconcile_runs": fmt.Sprint(c.ReconcileRuns),
		"traces": fmt.Sprint(c.Traces),
	}
}

// Eraser erases personal data at the end of retention.
type Eraser interface {
	// Erase removes, in one transaction, the free text of the chain rows
	// before `before` (a text still chained by a later row stays), the
	// reasons and other free text kept beside them, and the HR snapshot
	// rows and person records of people who left before `before`, have no
	// operation still to run and whom no HR source still lists, the
	// reconciliation runs before it but each system's newest (whose read
	// error it replaces), and the trace contexts of messages before it whose
	// operations have all run; ids, grants and the chain stay. It chains
	// an ErasureKind entry at `at` by actor. With dryRun it only counts:
	// nothing changes and nothing is chained.
	Erase(ctx context.Context, before, at time.Time, actor string, dryRun bool) (EraseCounts, error)
}

// --- end retention erasure ---
