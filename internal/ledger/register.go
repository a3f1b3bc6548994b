package ledger

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang"
)

// --- the access register (DESIGN.md "Access reviews and the access register") ---

// A Holding is one grant's time at its target: the access a person had,
// or has, in a system's role. It is read from the chain's grant.state
// entries, and only those:
//
//   - From is the At of the entry that moved the grant to active (the
//     executor's: every entitlement was granted at the target). A grant
//     that never became active (denied, cancelled, or failed and then
//     revoked) held nothing the register shows.
//   - Until is the At of the entry that moved it to revoked or expired
//     (the executor's: every entitlement was removed), whatever caused the
//     end (a revoke request, a leaver, an expiry, a mover, a review). It
//     is zero while the grant is live, revoking, or revoke_failed (its
//     access may remain at the target).
//   - Requester and Approvers are what the activating entry chained
//     (GrantRequester, GrantApprovers).
//
// A holding spans [From, Until): at Until the access is gone.
type Holding struct {
	GrantID   string
	Person    string
	System    string
	Role      string
	From      time.Time
	Until     time.Time // zero: not ended
	Requester string
	Approvers []string
}

// HoldingKey is a holding's place in Holdings' order: by system, role,
// person and grant id.
type HoldingKey struct {
	System, Role, Person, GrantID string
}

// KeyOfHolding is h's place in Holdings' order.
func KeyOfHolding(h *Holding) HoldingKey {
	return HoldingKey{System: h.System, Role: h.Role, Person: h.Person, GrantID: h.GrantID}
}

// MaxHoldingsPage is the most holdings one Holdings read returns.
const MaxHoldingsPage = 1000

// HoldingFilter selects one page of holdings for Holdings: those of System
// (when not "") and of Person (when not ""; at least one of the two is
// given) that overlap the period [From, To] (both inclusive, From not
// after To, neither zero; From == To is one instant), whose key comes
// after After (the zero key: from the first), at most Limit of them (0,
// or above MaxHoldingsPage: MaxHoldingsPage). A page shorter than its
// limit is the last; the next page is the one After the key of its last
// holding.
//
// A holding overlaps the period when From <= To of the period and it has
// not ended, or ended after the period's From.
// RegisterCatchUp is a Register that can fill in, from the chain, the
// holdings a replica of an earlier release did not write (it chained the
// grants' moves without them). The backend runs it at every start.
type RegisterCatchUp interface {
	// CatchUpHoldings adds the holdings of the moves to active chained
	// since it last ran and ends those the chain has ended; it returns how
	// many rows it added or ended. Running it again changes nothing.
	CatchUpHoldings(ctx context.Context) (int, error)
}

type HoldingFilter struct {
	System string
	Person string
	From   time.Time
	To     time.Time
	After  HoldingKey
	Limit  int
}

// PageSize is the most holdings a read with this filter returns.
func (f HoldingFilter) PageSize() int {
	if f.Limit <= 0 || f.Limit > MaxHoldingsPage {
		return MaxHoldingsPage
	}
	return f.Limit
}

// Check reports what is wrong with f, as an Invalid error.
func (f HoldingFilter) Check() error {
	switch {
	case f.System == "" && f.Person == "":
		return tilgang.Errorf(tilgang.Invalid, "ledger: holdings: a system or a person")
	case f.From.IsZero() || f.To.IsZero():
		return tilgang.Errorf(tilgang.Invalid, "ledger: holdings: a period with both ends")
	case f.To.Before(f.From):
		return tilgang.Errorf(tilgang.Invalid, "ledger: holdings: the period ends (%s) before it starts (%s)", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
	}
	return nil
}

// Overlaps reports whether h overlaps the period [from, to] as Holdings
// judges it, at the ledger's millisecond precision.
func (h Holding) Overlaps(from, to time.Time) bool {
	return h.From.UnixMilli() <= to.UnixMilli() && (h.Until.IsZero() || h.Until.UnixMilli() > from.UnixMilli())
}

// Register is the access register: a backend keeps each grant's holding
// as it chains the grant's transitions (and, upgrading a ledger, reads the
// holdings of the chain it has). The API asks for it by type assertion.
type Register interface {
	// Holdings lists one page of the holdings f selects (HoldingFilter),
	// in system, role, person, grant id order, from an index on system or
	// on person. A bad filter is an Invalid error.
	Holdings(ctx context.Context, f HoldingFilter) ([]Holding, error)
}

// Holding states: the grant.state To values that start and end a holding.
const (
	HoldingStarts = tilgang.StateActive
)

// EndsHolding reports whether a grant.state entry moving to state ends
// the grant's holding.
func EndsHolding(state string) bool {
	return state == string(tilgang.StateRevoked) || state == string(tilgang.StateExpired)
}

// --- end access register ---
