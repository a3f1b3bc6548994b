package envelope

import (
	"github.com/ror-ikt/tilgang"
)

// inKinds maps each message type in to the kind token of its NATS subject
// tilgang.in.<kind>.<person>.
var inKinds = map[string]string{
	tilgang.TypeRequest:  "request",
	tilgang.TypeDecision: "decision",
	tilgang.TypeTraining: "training",
	tilgang.TypeTask:     "task",
	tilgang.TypeRetry:    "operator",
	tilgang.TypeCancel:   "operator",
	tilgang.TypeHRJoiner: "hr",
	tilgang.TypeHRMover:  "hr",
	tilgang.TypeHRLeaver: "hr",

	tilgang.TypeReviewDecided: "review",
}

// eventKinds maps each event type out to its kind (tilgang.Ev*).
var eventKinds = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		tilgang.EvRequestAccepted, tilgang.EvRequestRejected, tilgang.EvApprovalPending,
		tilgang.EvTrainingPending, tilgang.EvGrantDenied, tilgang.EvGrantActive,
		tilgang.EvGrantFailed, tilgang.EvGrantRevoked, tilgang.EvGrantRevokeFail,
		tilgang.EvGrantExpired, tilgang.EvGrantCancelled, tilgang.EvTaskManual,
		tilgang.EvTaskCancelled, tilgang.EvCredentialIssued, tilgang.EvAuditAnchor,
		tilgang.EvHRSyncHeld, tilgang.EvDriftFound, tilgang.EvReconcileHeld,
		tilgang.EvApprovalReminded, tilgang.EvApprovalEscalated, tilgang.EvTaskReminded, tilgang.EvTaskEscalated,
		tilgang.EvPersonLeft, tilgang.EvPersonMoved,
		tilgang.EvReviewStarted, tilgang.EvReviewClosed, tilgang.EvReviewReminded, tilgang.EvReviewEscalated,
	} {
		m[EventType(k)] = k
	}
	return m
}()

// InTypes lists the message types in, in the order of DESIGN.md.
var InTypes = []string{
	tilgang.TypeRequest, tilgang.TypeDecision, tilgang.TypeTraining, tilgang.TypeTask,
	tilgang.TypeRetry, tilgang.TypeCancel,
	tilgang.TypeHRJoiner, tilgang.TypeHRMover, tilgang.TypeHRLeaver,
	tilgang.TypeReviewDecided,
}

// SubjectKind is the kind token of the NATS subject a message type in
// travels on ("request", "decision", "training", "task", "operator", "hr", "review").
func SubjectKind(typ string) (string, bool) {
	k, ok := inKinds[typ]
	return k, ok
}

// SubjectFor is the NATS subject of a message in of type typ about person,
// e.g. tilgang.in.request.1547-10234 for tilgang.TypeRequest.
func SubjectFor(typ, person string) (string, error) {
	k, ok := inKinds[typ]
	if !ok {
		return "", invalid("type %s is not a known message type", quote(typ))
	}
	if !tilgang.ValidToken(person) {
		return "", invalid("person %s must be one subject token: letters, digits, '-' or '_'", quote(person))
	}
	return "tilgang.in." + k + "." + person, nil
}

// EventType is the CloudEvents type of an event out of kind (tilgang.Ev*):
// "no.tilgang.<kind>.v1", e.g. no.tilgang.request.rejected.v1.
func EventType(kind string) string { return "no.tilgang." + kind + ".v1" }

// EventSubject is the NATS subject of an event out of kind about person,
// e.g. tilgang.event.request.rejected.1547-10234. Use "_" as person when the
// rejected message named none.
func EventSubject(kind, person string) (string, error) {
	if _, ok := eventKinds[EventType(kind)]; !ok {
		return "", invalid("event kind %s is not known", quote(kind))
	}
	if !tilgang.ValidToken(person) {
		return "", invalid("person %s must be one subject token: letters, digits, '-' or '_'", quote(person))
	}
	return "tilgang.event." + kind + "." + person, nil
}
