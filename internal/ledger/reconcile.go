package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ror-ikt/tilgang"
)

// ReconcileReader is what a reconciliation run reads of one connector
// instance from the ledger, in a few statements rather than one per person.
type ReconcileReader interface {
	// ConnectorAccounts calls fn for each account row on the connector
	// instance, in person order.
	ConnectorAccounts(ctx context.Context, connector string, fn func(AccountRow) error) error
	// BusyPeople lists the people with unfinished operations (queued,
	// claimed, waiting) on the connector instance: their work is in flight.
	BusyPeople(ctx context.Context, connector string) (map[string]bool, error)
}

// ReconcileRun is one reconciliation run of one system, as recorded for the
// portal's system page: what it read and found, counted by finding kind,
// what it fixed, and whether it held or failed. It holds counts and the
// run's own words, never a finding's person or account: every run is
// chained as reconcile.run too, and the findings are the command's output.
type ReconcileRun struct {
	System string    `json:"system"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // who asked: an operator, an auditor, or reconcile (the schedule)
	// Fix is a --fix run; false: a dry run, which changes nothing.
	Fix    bool            `json:"fix"`
	Read   ReconcileRead   `json:"read"`
	Counts ReconcileCounts `json:"counts"`
	// Planned is how many fixes the run sent (outbox operations and review
	// requests), Fixed how many of them were done (operations done,
	// requests made) when the run stopped waiting. Both 0 in a dry run.
	Planned int `json:"planned"`
	Fixed   int `json:"fixed"`
	// Held: removals above the threshold held the run; HeldWhy says so.
	Held    bool   `json:"held"`
	HeldWhy string `json:"held_why,omitempty"`
	// Error is why the run stopped without fixing: a read that failed or
	// ended early (then Read and Counts are zero).
	Error string `json:"error,omitempty"`
}

// ReconcileRead counts what a run read from the target.
type ReconcileRead struct {
	Accounts int `json:"accounts"`
	Members  int `json:"members"`
}

// ReconcileCounts counts a run's findings by kind (DESIGN.md
// "Reconciliation").
type ReconcileCounts struct {
	Missing  int `json:"missing"`
	Extra    int `json:"extra"`
	Orphan   int `json:"orphan"`
	State    int `json:"state"`
	Disputed int `json:"disputed"`
}

// Total is the number of findings.
func (c ReconcileCounts) Total() int { return c.Missing + c.Extra + c.Orphan + c.State + c.Disputed }

// ErasedReconcileError replaces a failed run's error at the end of
// retention (Eraser): the run still reads as failed.
const ErasedReconcileError = "(erased at the end of retention)"

// MaxReconcileText bounds a run's HeldWhy and Error, in bytes.
const MaxReconcileText = 2000

// Check names what is wrong with a run to record, nil when nothing is.
func (r ReconcileRun) Check() error {
	var bad []string
	if !tilgang.ValidToken(r.System) {
		bad = append(bad, fmt.Sprintf("system %q is not a system id", r.System))
	}
	if r.At.IsZero() {
		bad = append(bad, "no time")
	}
	if r.Actor == "" {
		bad = append(bad, "no actor")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"accounts", r.Read.Accounts}, {"members", r.Read.Members}, {"missing", r.Counts.Missing}, {"extra", r.Counts.Extra},
		{"orphan", r.Counts.Orphan}, {"state", r.Counts.State}, {"disputed", r.Counts.Disputed}, {"planned", r.Planned}, {"fixed", r.Fixed}} {
		if n.v < 0 {
			bad = append(bad, fmt.Sprintf("%s %d is negative", n.name, n.v))
		}
	}
	if r.Fixed > r.Planned {
		bad = append(bad, fmt.Sprintf("fixed %d is more than planned %d", r.Fixed, r.Planned))
	}
	if r.Planned > 0 && (!r.Fix || r.Held || r.Error != "") {
		bad = append(bad, "a dry run, a held run or a failed one plans no fixes")
	}
	if r.Held && !r.Fix {
		bad = append(bad, "only a --fix run holds")
	}
	if r.Held != (r.HeldWhy != "") {
		bad = append(bad, "a held run, and only a held one, says why it held")
	}
	if r.Held && r.Error != "" {
		bad = append(bad, "a failed run does not hold")
	}
	if len(r.HeldWhy) > MaxReconcileText || len(r.Error) > MaxReconcileText {
		bad = append(bad, fmt.Sprintf("held_why or error is longer than %d bytes", MaxReconcileText))
	}
	if !utf8.ValidString(r.HeldWhy) || !utf8.ValidString(r.Error) {
		bad = append(bad, "held_why or error is not UTF-8")
	}
	if len(bad) > 0 {
		return tilgang.Errorf(tilgang.Invalid, "ledger: a reconciliation run: %s", strings.Join(bad, "; "))
	}
	return nil
}

// ReconcileRuns keeps one row per reconciliation run, so the portal's
// system page shows the newest without reading the chain. Backends that
// keep it implement it beside Ledger.
type ReconcileRuns interface {
	// RecordReconcile records a run (Invalid, naming what is wrong, for
	// a run Check refuses; nothing is recorded then).
	RecordReconcile(ctx context.Context, r ReconcileRun) error
	// LastReconcile is the system's newest run (latest At; of runs at the
	// same time, the one recorded last), nil when it has none.
	LastReconcile(ctx context.Context, system string) (*ReconcileRun, error)
}
