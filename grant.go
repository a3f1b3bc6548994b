package tilgang

// GrantState is where a grant is in its life; DESIGN.md lists who moves it.
type GrantState string

const (
	StatePendingApproval GrantState = "pending_approval"
	StatePendingTraining GrantState = "pending_training"
	StateProvisioning    GrantState = "provisioning"
	StateActive          GrantState = "active"
	StateFailed          GrantState = "failed"
	StateRevoking        GrantState = "revoking"
	StateRevokeFailed    GrantState = "revoke_failed"
	StateDenied          GrantState = "denied"
	StateRevoked         GrantState = "revoked"
	StateCancelled       GrantState = "cancelled"
	StateExpired         GrantState = "expired"
)

// Final states never change again.
func (s GrantState) Final() bool {
	switch s {
	case StateDenied, StateRevoked, StateCancelled, StateExpired:
		return true
	}
	return false
}

// Live grants are the ones whose entitlements are (being) held at the target.
func (s GrantState) Live() bool { return s == StateProvisioning || s == StateActive }

// Message types in (DESIGN.md "Messages in").
const (
	TypeRequest  = "no.tilgang.access.requested.v1"
	TypeDecision = "no.tilgang.access.decided.v1"
	TypeTraining = "no.tilgang.training.completed.v1"
	TypeTask     = "no.tilgang.task.completed.v1"
	TypeRetry    = "no.tilgang.grant.retry.v1"
	TypeCancel   = "no.tilgang.grant.cancel.v1"
	TypeHRJoiner = "no.tilgang.hr.joiner.v1"
	TypeHRMover  = "no.tilgang.hr.mover.v1"
	TypeHRLeaver = "no.tilgang.hr.leaver.v1"
	// TypeReviewDecided is a reviewer's keep or remove of one item of an
	// access review campaign (DESIGN.md "Access reviews"), on
	// tilgang.in.review.{person}; its data is envelope.ReviewDecision.
	// Starting and closing a campaign are admin calls on tilgang.api
	// (review.start, review.close), as DESIGN.md has them.
	TypeReviewDecided = "no.tilgang.review.decided.v1"
)

// Event kinds out, published on tilgang.event.<kind>.<person>.
const (
	EvRequestAccepted  = "request.accepted"
	EvRequestRejected  = "request.rejected"
	EvApprovalPending  = "approval.pending"
	EvTrainingPending  = "training.pending"
	EvGrantDenied      = "grant.denied"
	EvGrantActive      = "grant.active"
	EvGrantFailed      = "grant.failed"
	EvGrantRevoked     = "grant.revoked"
	EvGrantRevokeFail  = "grant.revoke_failed"
	EvGrantExpired     = "grant.expired"
	EvGrantCancelled   = "grant.cancelled"
	EvTaskManual       = "task.manual"
	EvTaskCancelled    = "task.cancelled"
	EvCredentialIssued = "credential.issued"
	EvAuditAnchor      = "audit.anchor"
	EvHRSyncHeld       = "hr.sync.held" // a sync the fail-safe held (DESIGN.md "HR sources")
	// DESIGN.md "Notifications": an approval stage or manual task still
	// pending after the working days of a reminder or an escalation, and a
	// leave that has run (the manager is told).
	EvApprovalReminded  = "approval.reminded"
	EvApprovalEscalated = "approval.escalated"
	EvTaskReminded      = "task.reminded"
	EvTaskEscalated     = "task.escalated"
	EvPersonLeft        = "person.left"
	EvPersonMoved       = "person.moved" // a change HR recorded ahead applied on its date: both managers are told
)

// Reconciliation's event kinds (DESIGN.md "Reconciliation").
const (
	EvDriftFound    = "drift.found"    // a run found differences
	EvReconcileHeld = "reconcile.held" // a run held: removals above the threshold
)

// Access reviews' event kinds (DESIGN.md "Access reviews and the access
// register"): a campaign started (one event per reviewer with items, for
// the mail) and closed; a reviewer's open items reminded and escalated.
const (
	EvReviewStarted   = "review.started"
	EvReviewClosed    = "review.closed"
	EvReviewReminded  = "review.reminded"
	EvReviewEscalated = "review.escalated"
)

// ReviewActor is the actor the chain records for what a closing campaign
// does by itself: the revoke of an item nobody answered.
const ReviewActor = "review"

// Review decisions.
const (
	ReviewKeep         = "keep"
	ReviewRemove       = "remove"
	ReviewAcknowledged = "acknowledged" // a birthright item: its rule, not the person, is reviewed
)

// Capabilities of principals (principals file): a service principal may
// hold hr, on_behalf, operator and auditor; a person operator, auditor and
// hr_requester (may ask for anyone, as HR advisers do).
const (
	CapHR          = "hr"
	CapOnBehalf    = "on_behalf"
	CapOperator    = "operator"
	CapAuditor     = "auditor"
	CapHRRequester = "hr_requester"
)
