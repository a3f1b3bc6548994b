package connectors

import (
	"context"
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
)

// TargetAccount is one account at a target as a reconciliation read sees
// it.
type TargetAccount struct {
	// Key identifies the account within the instance; EachMember yields
	// the same key for the same account (AD: the DN in lower case; Entra
	// and SCIM: the object id; CSV: the person id). Never empty.
	Key string
	// Person is the value of the instance's correlation attribute (AD
	// employeeID, Entra employeeId, SCIM externalId, ...): the person id
	// the account belongs to. Two accounts with the same Person are a
	// dispute, which reconciliation reports and never fixes.
	Person string
	// Enabled is the account's state at the target (AD: ACCOUNTDISABLE
	// not set; Entra accountEnabled; SCIM active).
	Enabled bool
	// Ref is what the executor would store about the account (username,
	// UPN, DN, object id), for the report and for fixes.
	Ref Ref
	// LastSignIn is the account's last sign-in as the target records it
	// (AD lastLogonTimestamp, which may lag by up to 14 days; Graph
	// signInActivity.lastSuccessfulSignInDateTime, with entra's
	// sign_in_activity; rest's last_sign_in field), for access reviews'
	// recommendation. Nil when the instance does not read it or the target
	// has none recorded; a zero time is never set.
	LastSignIn *time.Time
}

// Member is one direct member of an entitlement at the target.
type Member struct {
	// Key is the member's TargetAccount.Key when the member is an account
	// the instance can list; for anything else (a nested group, an account
	// without the correlation attribute) it is whatever the target names
	// it by, which then matches no account.
	Key string
	// Ref names the member for the report (dn, sAMAccountName, UPN, id).
	Ref Ref
}

// Reader is the capability reconciliation needs: the accounts an instance
// manages and the members of an entitlement, as the target has them now.
//
// Both methods stream: they call fn once per item, a page at a time, so a
// run over 50,000 accounts holds one page, not the whole directory. An
// error returned by fn stops the read and is returned unchanged.
//
// A read is complete or it fails. A page that errors, a connection cut
// halfway, a next link that leads nowhere, a count announced by the target
// that disagrees with what was read, a range that ends before its end: each
// is an error (Unavailable, Throttled, Internal, or NotFound for an
// entitlement whose group is gone), never a nil return after fewer items.
// Reconciliation treats a failed read as "unknown", not "empty", and fixes
// nothing in that run; see ErrShortRead.
type Reader interface {
	// EachAccount calls fn for every account the instance manages: those
	// carrying the correlation attribute (with any value), in any order.
	// Accounts without it are not the instance's and are not listed.
	EachAccount(ctx context.Context, fn func(TargetAccount) error) error
	// EachMember calls fn for every direct member of the entitlement (the
	// name as the catalogue writes it), in any order.
	EachMember(ctx context.Context, entitlement string, fn func(Member) error) error
}

// ShortRead is the error a Reader returns when the target's paging ended
// before what it announced (a count, a range end, a next link); wrap it in
// a *tilgang.Error of kind Unavailable so the run says why it stopped.
func ShortRead(what string, got, want int) error {
	return tilgang.Wrap(tilgang.Unavailable, ErrShortRead, "%s: read %d of %d", what, got, want)
}

// ErrShortRead marks a read that ended early; errors.Is finds it.
var ErrShortRead = fmt.Errorf("the read ended before the target's paging did")
