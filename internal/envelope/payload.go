package envelope

import (
	"errors"
	"strings"

	"github.com/ror-ikt/tilgang"
)

// MaxText is the longest reason or comment accepted, in characters.
const MaxText = 2000

// maxID is the longest grant_id or operation_id accepted, in characters.
const maxID = 128

// Request is the data of tilgang.TypeRequest.
type Request struct {
	Action     string       `json:"action"` // grant | revoke
	System     string       `json:"system"`
	Role       string       `json:"role"`
	Reason     string       `json:"reason"`      // required for grant (Normen: every request states why)
	ValidUntil tilgang.Date `json:"valid_until"` // grant only; zero: the role's default duration
}

// Request actions.
const (
	ActionGrant  = "grant"
	ActionRevoke = "revoke"
)

// Decision is the data of tilgang.TypeDecision.
type Decision struct {
	RequestID string `json:"request_id"` // 64 lower-case hex digits
	Decision  string `json:"decision"`   // approve | deny
	Comment   string `json:"comment"`    // required for deny
}

// Decisions.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// Training is the data of tilgang.TypeTraining.
type Training struct {
	System string `json:"system"`
	Role   string `json:"role"`
}

// Task is the data of tilgang.TypeTask.
type Task struct {
	OperationID string `json:"operation_id"`
	Outcome     string `json:"outcome"` // done | failed
	Comment     string `json:"comment"`
}

// Task outcomes.
const (
	OutcomeDone   = "done"
	OutcomeFailed = "failed"
)

// Operator is the data of tilgang.TypeRetry and tilgang.TypeCancel.
type Operator struct {
	GrantID string `json:"grant_id"`
	Comment string `json:"comment"`
}

// HR is the data of tilgang.TypeHRJoiner, TypeHRMover and TypeHRLeaver: the
// whole person record at Version.
type HR struct {
	Version int64          `json:"version"`
	Person  tilgang.Person `json:"person"`
}

// ReviewDecision is the data of tilgang.TypeReviewDecided: a reviewer's
// decision on one item (a grant) of an access review campaign. The
// envelope's subject is the item's person.
type ReviewDecision struct {
	CampaignID string `json:"campaign_id"`
	GrantID    string `json:"grant_id"`
	Decision   string `json:"decision"` // keep | remove
	Comment    string `json:"comment"`  // required when the system's review.justification is required
	// Bulk marks a decision sent as one of many at once (the portal's
	// "keep all recommended"): the engine takes it only as a keep of an
	// item whose recommendation is positive.
	Bulk bool `json:"bulk,omitempty"`
}

// decodePayload decodes and validates e.Data for e.Type (a type in).
func decodePayload(e *Envelope) (any, error) {
	switch e.Type {
	case tilgang.TypeRequest:
		var p Request
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	case tilgang.TypeDecision:
		var p Decision
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	case tilgang.TypeTraining:
		var p Training
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	case tilgang.TypeTask:
		var p Task
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	case tilgang.TypeRetry, tilgang.TypeCancel:
		var p Operator
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	case tilgang.TypeHRJoiner, tilgang.TypeHRMover, tilgang.TypeHRLeaver:
		var p HR
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate(e.Subject)
	case tilgang.TypeReviewDecided:
		var p ReviewDecision
		if err := decodeStrict(e.Data, &p, "data"); err != nil {
			return nil, err
		}
		return &p, p.validate()
	}
	return nil, invalid("type %s has no payload schema", quote(e.Type))
}

func (p *Request) validate() error {
	switch p.Action {
	case ActionGrant:
		if strings.TrimSpace(p.Reason) == "" {
			return invalid("data.reason is empty: a grant request must say why")
		}
	case ActionRevoke:
		if !p.ValidUntil.IsZero() {
			return invalid("data.valid_until %s is only for grant requests", p.ValidUntil)
		}
	default:
		return invalid("data.action %s must be %q or %q", quote(p.Action), ActionGrant, ActionRevoke)
	}
	if err := checkToken("data.system", p.System); err != nil {
		return err
	}
	if err := checkToken("data.role", p.Role); err != nil {
		return err
	}
	return checkFreeText("data.reason", p.Reason, MaxText)
}

func (p *Decision) validate() error {
	if !isRequestID(p.RequestID) {
		return invalid("data.request_id %s must be 64 lower-case hex digits", quote(p.RequestID))
	}
	switch p.Decision {
	case DecisionApprove:
	case DecisionDeny:
		if strings.TrimSpace(p.Comment) == "" {
			return invalid("data.comment is empty: a deny must say why")
		}
	default:
		return invalid("data.decision %s must be %q or %q", quote(p.Decision), DecisionApprove, DecisionDeny)
	}
	return checkFreeText("data.comment", p.Comment, MaxText)
}

func (p *Training) validate() error {
	if err := checkToken("data.system", p.System); err != nil {
		return err
	}
	return checkToken("data.role", p.Role)
}

func (p *Task) validate() error {
	if err := checkID("data.operation_id", p.OperationID); err != nil {
		return err
	}
	if p.Outcome != OutcomeDone && p.Outcome != OutcomeFailed {
		return invalid("data.outcome %s must be %q or %q", quote(p.Outcome), OutcomeDone, OutcomeFailed)
	}
	return checkFreeText("data.comment", p.Comment, MaxText)
}

func (p *Operator) validate() error {
	if err := checkID("data.grant_id", p.GrantID); err != nil {
		return err
	}
	return checkFreeText("data.comment", p.Comment, MaxText)
}

func (p *ReviewDecision) validate() error {
	if err := checkID("data.campaign_id", p.CampaignID); err != nil {
		return err
	}
	if err := checkID("data.grant_id", p.GrantID); err != nil {
		return err
	}
	switch p.Decision {
	case tilgang.ReviewKeep:
	case tilgang.ReviewRemove:
		if p.Bulk {
			return invalid("data.bulk is only for keep: each removal is decided on its own")
		}
	default:
		return invalid("data.decision %s must be %q or %q", quote(p.Decision), tilgang.ReviewKeep, tilgang.ReviewRemove)
	}
	return checkFreeText("data.comment", p.Comment, MaxText)
}

func (p *HR) validate(subject string) error {
	if p.Version <= 0 {
		return invalid("data.version %d must be greater than 0", p.Version)
	}
	if err := p.Person.Validate(); err != nil {
		var te *tilgang.Error
		if errors.As(err, &te) {
			return invalid("data.%s", strings.ReplaceAll(te.Message, "; person.", "; data.person."))
		}
		return invalid("data.person: %v", err)
	}
	if p.Person.ID != subject {
		return invalid("data.person.id %s is not the envelope's subject %s", quote(p.Person.ID), quote(subject))
	}
	return nil
}

func checkToken(name, s string) error {
	if !tilgang.ValidToken(s) {
		return invalid("%s %s must be one subject token: letters, digits, '-' or '_'", name, quote(s))
	}
	return nil
}

func checkID(name, s string) error {
	if len(s) > maxID {
		return invalid("%s is %d characters, more than %d", name, len(s), maxID)
	}
	return checkToken(name, s)
}

// IsRequestID reports whether s has the shape of a request_id: 64
// lower-case hex digits (a KeyHash).
func IsRequestID(s string) bool { return isRequestID(s) }

func isRequestID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
