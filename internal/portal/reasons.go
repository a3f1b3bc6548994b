package portal

import (
	"regexp"
	"slices"
	"strings"

	"github.com/ror-ikt/tilgang/internal/portal/i18n"
)

// The worker records why it rejected a message or denied a request in
// English (the ledger, the CLI and the logs read it so). The portal shows
// a person the same reason in bokmål: each format the engine, the policy
// and the API write a reason with is listed here, exactly as in their
// source (TestReasonsCoverEngine reads those sources and fails when a
// format is missing here), with the catalogue key saying it in Norwegian
// and which of the format's values that text uses (1-based, in the order
// the catalogue text names them). A reason no format matches is shown as
// a general Norwegian sentence, never in English.
type reasonFormat struct {
	format string
	key    string
	args   []int
	states []int // the values that are grant or operation states, shown translated
}

var reasonFormats = []reasonFormat{
	// internal/engine/engine.go
	{format: "message type %s is not handled", key: "why.type", args: []int{1}},
	{format: "invalid message: %v", key: "why.invalid"},
	// internal/engine/hr.go
	{format: "operation_id %q is not an operation id", key: "why.task.id", args: []int{1}},
	{format: "%s has no operation %s", key: "why.task.none", args: []int{2, 1}},
	{format: "operation %d is %s, not a task waiting for people", key: "why.task.done", args: []int{1, 2}, states: []int{2}},
	{format: "%s is not an administrator of the system operation %d belongs to", key: "why.task.notadmin", args: []int{1, 2}},
	{format: "%s has no hr capability", key: "why.nohr", args: []int{1}},
	// internal/engine/requests.go
	{format: "unknown person %s: no HR record has been received", key: "why.person.unknown", args: []int{1}},
	{format: "unknown person %s", key: "why.person.unknown", args: []int{1}},
	{format: "unknown system %q", key: "why.system.unknown", args: []int{1}},
	{format: "system %s has no role %q", key: "why.role.unknown", args: []int{1, 2}},
	{format: "%s has left (%s)", key: "why.left", args: []int{1, 2}},
	{format: "no grant request %s", key: "why.decision.norequest"},
	{format: "request %s is for %s, not %s", key: "why.decision.person", args: []int{2, 3}},
	{format: "grant %s is %s, not waiting for approval", key: "why.decision.notwaiting", args: []int{2}, states: []int{2}},
	{format: "%s/%s is no longer in the catalogue", key: "why.decision.gone", args: []int{2, 1}},
	{format: "%s may not decide their own grant", key: "why.decision.own"},
	{format: "%s requested grant %s and may not decide it", key: "why.decision.requester"},
	{format: "%s already approved a stage of grant %s; one principal approves one stage", key: "why.decision.twice"},
	{format: "stage %d (%s) of grant %s is %s's to decide, not %s", key: "why.decision.notyours", args: []int{1, 4}},
	{format: "stage %d (%s) of grant %s is for an administrator of %s; %s is not one", key: "why.decision.notadmin", args: []int{1, 4}},
	{format: "unknown system or role %s/%s", key: "why.role.unknown", args: []int{1, 2}},
	{format: "%s is not an administrator of %s and may not confirm training", key: "why.training.notadmin", args: []int{2}},
	{format: "%s has no grant of %s/%s waiting for training", key: "why.training.none", args: []int{1, 3, 2}},
	{format: "%s may not confirm their own training: another administrator of %s must", key: "why.training.own", args: []int{2}},
	{format: "%s may not revoke %s's access: only the manager, an administrator of %s or HR may", key: "why.revoke.notallowed", args: []int{2, 3}},
	{format: "%s has no open grant of %s/%s", key: "why.revoke.none", args: []int{1, 3, 2}},
	{format: "%s is not an operator", key: "why.notoperator"},
	{format: "no grant %s", key: "why.grant.none", args: []int{1}},
	{format: "grant %s is %s's, not %s's", key: "why.grant.person", args: []int{1}},
	{format: "grant %s is %s and cannot be %s", key: "why.grant.state", args: []int{2}, states: []int{2}},
	// internal/engine/review.go (access reviews)
	{format: "no review campaign %s", key: "why.review.none", args: []int{1}},
	{format: "review campaign %s has no item for grant %s", key: "why.review.noitem", args: []int{2}},
	{format: "review campaign %s requires a comment with every decision", key: "why.review.comment"},
	{format: "grant %s is given by a birthright rule: it is acknowledged, not removed; the rule is changed in the policy", key: "why.review.birthright"},
	{format: "a bulk keep is only for items the target's sign-ins recommend keeping; grant %s is to be decided on its own", key: "why.review.bulk"},
	{format: "review campaign %s is %s: decisions are taken only while it is open", key: "why.review.closed"},
	{format: "%s may not review their own access", key: "why.review.own"},
	{format: "%s is not a reviewer of %s's %s access in campaign %s", key: "why.review.notyours", args: []int{3, 2}},
	// internal/policy/decide.go (joined by "; " when several refuse)
	{format: "%s/%s is not in the catalogue", key: "why.role.unknown", args: []int{1, 2}},
	{format: "requestable_by: %s/%s is requestable by %s; %s is none of them for %s", key: "why.policy.requestable", args: []int{2, 1, 4, 5}},
	{format: "valid_until %s has passed", key: "why.policy.until", args: []int{1}},
	{format: "eligible: %s/%s (%s) could not be decided: %v", key: "why.policy.undecided", args: []int{2, 1}},
	{format: "eligible: %s is not eligible for %s/%s (%s, %s:%d)", key: "why.policy.eligible", args: []int{1, 3, 2}},
	{format: "conflicts: %s/%s may not be held together with %s (grant %s, %s)", key: "why.policy.conflict", args: []int{2, 1, 3}},
	// internal/api/methods.go (a failed grant's status)
	{format: "operation %d (%s %s on %s) failed: %s", key: "why.op.failed", args: []int{4, 5}},
}

// recheckPrefix starts the reason of a grant the worker denied just
// before provisioning (internal/engine/policy.go), followed by the
// policy's reasons.
const recheckPrefix = "denied before provisioning: "

// policyPrefixes start each of the policy's reasons, so that several
// joined by "; " can be told apart from a "; " inside one.
var policyPrefixes = []string{"requestable_by: ", "valid_until ", "eligible: ", "conflicts: "}

type compiledReason struct {
	reasonFormat
	re *regexp.Regexp
}

var compiledReasons = func() []compiledReason {
	verb := regexp.MustCompile(`%[sqdv]`)
	out := make([]compiledReason, 0, len(reasonFormats))
	for _, f := range reasonFormats {
		var b strings.Builder
		b.WriteString("^")
		last := 0
		for _, m := range verb.FindAllStringIndex(f.format, -1) {
			b.WriteString(regexp.QuoteMeta(f.format[last:m[0]]))
			switch f.format[m[0]+1] {
			case 'd':
				b.WriteString(`(-?\d+)`)
			case 'q':
				b.WriteString(`"((?:[^"\\]|\\.)*)"`)
			default:
				b.WriteString(`(.+?)`)
			}
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(f.format[last:]))
		b.WriteString("$")
		out = append(out, compiledReason{reasonFormat: f, re: regexp.MustCompile(b.String())})
	}
	return out
}()

// Why is the worker's reason in bokmål: every part of it a sentence from
// the catalogue, or the general sentence when a part is not known.
func Why(reason string) string {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return ""
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(reason, recheckPrefix); ok {
		prefix, reason = i18n.T("why.recheck")+" ", rest
	}
	parts := splitPolicy(reason)
	out := make([]string, 0, len(parts))
	for _, part := range parts {
		s, ok := whyOne(part)
		if !ok {
			s = i18n.T("why.unknown")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return prefix + strings.Join(out, " ")
}

// whyOne translates one reason; false when no format matches it.
func whyOne(reason string) (string, bool) {
	for _, f := range compiledReasons {
		m := f.re.FindStringSubmatch(reason)
		if m == nil {
			continue
		}
		args := make([]any, 0, len(f.args))
		for _, i := range f.args {
			v := m[i]
			for _, s := range f.states {
				if s == i {
					v = stateText(v)
				}
			}
			args = append(args, v)
		}
		return i18n.T(f.key, args...), true
	}
	return "", false
}

// splitPolicy splits reasons the policy joined with "; ", at a "; " that
// a policy reason's prefix follows.
func splitPolicy(s string) []string {
	var out []string
	start := 0
	for i := 0; i+2 <= len(s); i++ {
		if s[i:i+2] != "; " {
			continue
		}
		for _, p := range policyPrefixes {
			if strings.HasPrefix(s[i+2:], p) {
				out = append(out, s[start:i])
				start = i + 2
				break
			}
		}
	}
	return append(out, s[start:])
}

// stateText is a state in words, or the state itself when the catalogue
// has no words for it.
func stateText(s string) string {
	if k := "state." + s; i18n.Has(k) {
		return strings.ToLower(i18n.T(k))
	}
	return s
}
