package reconcile

import (
	"fmt"
	"sort"

	"github.com/ror-ikt/tilgang/connectors"
)

// Kind is what a difference between the ledger and a target is; DESIGN.md
// "Reconciliation" has the table.
type Kind string

const (
	// Missing: a live grant's membership or account is not at the target.
	// Fixed by granting / ensuring the account again.
	Missing Kind = "missing"
	// Extra: a member that no live grant of any system naming the
	// entitlement explains (granted out of band). Fixed per the system's
	// reconcile.extra: report, revoke or review.
	Extra Kind = "extra"
	// Orphan: an account, carrying the correlation attribute, of a person
	// who has left or whom HR does not know. Disabled with
	// reconcile.orphan: disable, else reported.
	Orphan Kind = "orphan"
	// State: enabled where it should be disabled, or the reverse. Fixed by
	// enabling / disabling.
	State Kind = "state"
	// Disputed: more than one account for one person, a stored reference
	// that points nowhere, or a live grant that disagrees with the audit
	// chain. Only ever reported.
	Disputed Kind = "disputed"
)

// Kinds lists the five kinds in report order.
var Kinds = []Kind{Missing, Extra, Orphan, State, Disputed}

// Valid says whether k is one of the five kinds.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Fix is what --fix does (or would do) about a finding.
type Fix string

const (
	FixNone    Fix = ""        // reported only
	FixGrant   Fix = "grant"   // grant the entitlement again (missing member)
	FixEnsure  Fix = "ensure"  // ensure the account again (missing account)
	FixRevoke  Fix = "revoke"  // remove the extra member (reconcile.extra: revoke)
	FixReview  Fix = "review"  // a grant request for the systemansvarlig (reconcile.extra: review)
	FixDisable Fix = "disable" // disable the account (orphan, or state)
	FixEnable  Fix = "enable"  // enable the account (state)
)

// Removes says whether the fix takes access away; removals count against
// the threshold (reconcile.max_removals) and hold a run above it.
func (f Fix) Removes() bool { return f == FixRevoke || f == FixDisable }

// Finding is one difference, as --output json prints it.
type Finding struct {
	Kind Kind `json:"kind"`
	// Person is the person id the finding is about ("" when the target's
	// object belongs to nobody the ledger knows, e.g. a nested group).
	Person string `json:"person"`
	// Account names the account at the target (username, UPN, DN or id).
	Account string `json:"account"`
	// Entitlement is the group or role, "" for findings about the account.
	Entitlement string `json:"entitlement"`
	// Fix is what --fix does, "" when the finding is only reported.
	Fix Fix `json:"fix"`
	// Detail says why, in words, for the report and the fix's reason.
	Detail string `json:"detail,omitempty"`
	// Connector is the instance the finding was read from.
	Connector string `json:"connector,omitempty"`
	// Grant is the live grant a missing or state finding comes from.
	Grant string `json:"grant,omitempty"`
	// Outcome says what --fix made of it: planned (operation id), done,
	// failed: why, or not fixed: why.
	Outcome string `json:"outcome,omitempty"`

	target connectors.Ref // the account at the target, as read
}

// Reason is the text a fix carries into the outbox and the audit.
func (f Finding) Reason() string {
	s := fmt.Sprintf("reconcile: %s", f.Kind)
	if f.Entitlement != "" {
		s += " " + f.Entitlement
	}
	if f.Account != "" {
		s += " account " + f.Account
	}
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Read counts what a run read from the target.
type Read struct {
	Accounts int `json:"accounts"`
	Members  int `json:"members"`
}

// Report is one system's run, as `tilgang reconcile --output json` prints
// it (`--all` prints an array of these).
type Report struct {
	System   string       `json:"system"`
	Read     Read         `json:"read"`
	Findings []Finding    `json:"findings"`
	Counts   map[Kind]int `json:"counts"`
	Fixed    bool         `json:"fixed"`
	Held     bool         `json:"held"`
	// Error says why the run stopped (a read that failed or ended early);
	// such a run fixes nothing.
	Error string `json:"error,omitempty"`
	// HeldWhy says why the run held; Skipped names the system's connector
	// instances that cannot list (manual, say) and were not read.
	HeldWhy string   `json:"held_why,omitempty"`
	Skipped []string `json:"skipped,omitempty"`

	// planned counts the fixes --fix sent (operations and review
	// requests), done those done when the run stopped waiting: recorded
	// for the system page (ledger.ReconcileRun), not printed.
	planned, done int
}

// Count fills Counts from Findings, all five kinds, zeros included, and
// sorts the findings (kind, person, entitlement, account).
func (r *Report) Count() {
	r.Counts = map[Kind]int{}
	for _, k := range Kinds {
		r.Counts[k] = 0
	}
	for _, f := range r.Findings {
		r.Counts[f.Kind]++
	}
	order := map[Kind]int{}
	for i, k := range Kinds {
		order[k] = i
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Kind != b.Kind {
			return order[a.Kind] < order[b.Kind]
		}
		if a.Person != b.Person {
			return a.Person < b.Person
		}
		if a.Entitlement != b.Entitlement {
			return a.Entitlement < b.Entitlement
		}
		return a.Account < b.Account
	})
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
}

// Removals counts the findings whose fix takes access away.
func (r *Report) Removals() int {
	n := 0
	for _, f := range r.Findings {
		if f.Fix.Removes() {
			n++
		}
	}
	return n
}
