package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// StateUnknown is the status of a request that is not recorded (yet), or,
// in status.many, not visible to the asker.
const StateUnknown = "unknown"

// StatusArgs are the args of status.
type StatusArgs struct {
	RequestID string `json:"request_id"`
}

// StatusManyArgs are the args of status.many.
type StatusManyArgs struct {
	RequestIDs []string `json:"request_ids"`
}

// Status is what became of one request (message).
type Status struct {
	RequestID string `json:"request_id"`
	GrantID   string `json:"grant_id"`
	State     string `json:"state"` // the grant's state, else the request's outcome, else unknown
	Outcome   string `json:"outcome,omitempty"`
	Why       string `json:"why,omitempty"`
	Person    string `json:"person,omitempty"`
	System    string `json:"system,omitempty"`
	Role      string `json:"role,omitempty"`
	Action    string `json:"action,omitempty"`
}

// GrantsArgs are the args of grants; empty fields do not filter.
type GrantsArgs struct {
	Person   string `json:"person,omitempty"`
	System   string `json:"system,omitempty"`
	OpenOnly bool   `json:"open_only,omitempty"`
	// Limit, when not 0, asks for one page: at most Limit (1..MaxGrants)
	// grants, those after the grant After (the last of the page before;
	// "" for the first page). A page shorter than Limit is the last.
	Limit int    `json:"limit,omitempty"`
	After string `json:"after,omitempty"`
}

// GrantArgs are the args of grant.
type GrantArgs struct {
	GrantID string `json:"grant_id"`
}

// Grant is one grant as read.
type Grant struct {
	ID         string       `json:"id"`
	Person     string       `json:"person"`
	System     string       `json:"system"`
	Role       string       `json:"role"`
	State      string       `json:"state"`
	RequestID  string       `json:"request_id"`
	Requester  string       `json:"requester"`
	Approvers  []string     `json:"approvers"`
	WaitingFor string       `json:"waiting_for,omitempty"` // pending_approval: the stage's principal, or "systemansvarlig" for any administrator
	ValidUntil tilgang.Date `json:"valid_until"`
	Created    time.Time    `json:"created"`
	Updated    time.Time    `json:"updated"`
}

// GrantDetail is a grant with its operations.
type GrantDetail struct {
	Grant
	Operations []Operation `json:"operations"`
}

// OperationArgs are the args of operation. OperationID is the decimal id,
// as events and task messages carry it.
type OperationArgs struct {
	OperationID string `json:"operation_id"`
}

// Operation is one connector operation as read.
type Operation struct {
	ID          string    `json:"id"`
	GrantID     string    `json:"grant_id,omitempty"`
	Person      string    `json:"person"`
	Kind        string    `json:"kind"`
	Connector   string    `json:"connector"`
	Entitlement string    `json:"entitlement,omitempty"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	DueAt       time.Time `json:"due_at"`
}

// TasksArgs are the args of tasks; an empty System does not filter.
type TasksArgs struct {
	System string `json:"system,omitempty"`
}

// Task is one operation waiting for people (a manual task): what to do, for
// whom, and the OperationID that `tilgang task done|failed` takes.
type Task struct {
	OperationID string `json:"operation_id"`
	Person      string `json:"person"`
	GrantID     string `json:"grant_id"` // "" for account work
	System      string `json:"system"`   // the grant's; "" for account work
	Role        string `json:"role"`     // the grant's; "" for account work
	Kind        string `json:"kind"`
	Connector   string `json:"connector"`
	Entitlement string `json:"entitlement"`
	// Since is when the operation became a task (its last update).
	Since time.Time `json:"since"`
	// Administrators may complete it: the grant's system's, or for account
	// work those of the systems engine.TaskSystems names.
	Administrators []string `json:"administrators"`
}

// AuditArgs are the args of audit; empty fields do not filter.
//
// After asks for a page: the rows after that seq (0 for the first page),
// answered as an AuditPage whose Next is the After of the page that
// follows. A call without after, as clients before paging make, is
// answered with the first page's rows alone, as a list.
type AuditArgs struct {
	Person string `json:"person,omitempty"`
	System string `json:"system,omitempty"`
	Since  string `json:"since,omitempty"` // YYYY-MM-DD (00:00 Oslo) or RFC 3339
	// Until, when set, keeps rows before it: YYYY-MM-DD (the whole day,
	// Oslo) or RFC 3339. Actor, when set, keeps the rows whose actor it is.
	Until string `json:"until,omitempty"`
	Actor string `json:"actor,omitempty"`
	After *int64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"` // rows a page holds at most: 1..MaxAuditRows, default MaxAuditRows
}

// AuditPage is one page of audit rows, oldest first. Next is the after of
// the next page, 0 when no rows follow.
type AuditPage struct {
	Rows []AuditRow `json:"rows"`
	Next int64      `json:"next"`
}

// Bounds of one audit page: at most MaxAuditRows rows and, whatever their
// free texts, about MaxAuditBytes of JSON (a single row is sent whole even
// when larger), half of NATS's default max payload, so that a page is one
// message and a worker answering 32 calls at once holds 32 pages at most.
const (
	MaxAuditRows  = ledger.MaxAuditPage
	MaxAuditBytes = 512 << 10
)

// AuditRow is one chain row as read, with its free text where still kept.
type AuditRow struct {
	Seq         int64     `json:"seq"`
	At          time.Time `json:"at"`
	Kind        string    `json:"kind"`
	Person      string    `json:"person"`
	Actor       string    `json:"actor"`
	Via         string    `json:"via"`
	System      string    `json:"system"`
	Role        string    `json:"role"`
	GrantID     string    `json:"grant_id"`
	RequestID   string    `json:"request_id"`
	OperationID string    `json:"operation_id,omitempty"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Text        string    `json:"text"`
	Catalogue   string    `json:"catalogue"`
}

// ReloadResult is the result of policy.reload: the catalogue now in force
// and what each replica that answered in time holds.
type ReloadResult struct {
	Version  string             `json:"version"`
	Replicas []ReplicaCatalogue `json:"replicas"`
}

// ReplicaCatalogue is the catalogue one replica decides with.
type ReplicaCatalogue struct {
	Replica string `json:"replica"`
	Version string `json:"version"`
	Intake  bool   `json:"intake"`          // it holds the intake lease
	Error   string `json:"error,omitempty"` // why it could not follow the ledger
}

// VerifyReport is the result of audit.verify.
type VerifyReport = ledger.VerifyReport

func grantOf(g *ledger.Grant) Grant {
	out := Grant{ID: g.ID, Person: g.Person, System: g.System, Role: g.Role, State: string(g.State),
		RequestID: g.RequestID, Requester: g.Requester, Approvers: g.Approvers, ValidUntil: g.ValidUntil,
		Created: g.Created.UTC(), Updated: g.Updated.UTC()}
	if out.Approvers == nil {
		out.Approvers = []string{}
	}
	if g.State == tilgang.StatePendingApproval {
		out.WaitingFor = g.StagePrincipal
		if out.WaitingFor == "" {
			out.WaitingFor = "systemansvarlig"
		}
	}
	return out
}

func operationOf(o *ledger.Operation) Operation {
	return Operation{ID: strconv.FormatInt(o.ID, 10), GrantID: o.GrantID, Person: o.Person, Kind: o.Kind,
		Connector: o.Connector, Entitlement: o.Entitlement, State: string(o.State), Attempts: o.Attempts,
		LastError: o.LastError, DueAt: o.DueAt.UTC()}
}

func auditRowOf(r *ledger.AuditRow) AuditRow {
	e := r.Entry
	out := AuditRow{Seq: r.Seq, At: e.At.UTC(), Kind: e.Kind, Person: e.Person, Actor: e.Actor, Via: e.Via,
		System: e.System, Role: e.Role, GrantID: e.GrantID, RequestID: e.RequestID, From: e.From, To: e.To,
		Text: e.Text, Catalogue: e.Catalogue}
	if e.OpID != 0 {
		out.OperationID = strconv.FormatInt(e.OpID, 10)
	}
	return out
}

// mustJSON marshals a result; the result types always marshal.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("api: marshal result: " + err.Error())
	}
	return b
}
