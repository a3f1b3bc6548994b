package ledger

import (
	"context"
	"time"
)

// SignOuts is the portal's sign-out list (DESIGN.md "The portal"): a
// session id signed out is refused on every replica until the session
// would have ended anyway. Backends that keep it implement it beside
// Ledger; the API asks for it by type assertion.
type SignOuts interface {
	// SignOut lists the session of person as signed out until until (the
	// latest time the session could still be used); entries whose until
	// has passed at now are dropped. Listing a session twice keeps the
	// later until.
	SignOut(ctx context.Context, session, person string, until, now time.Time) error
	// SignedOut reports whether the session of person is listed.
	SignedOut(ctx context.Context, session, person string) (bool, error)
}

// PeopleByEmail finds people by their HR record's e-mail address, for the
// portal's sign-in with person_claim email.
type PeopleByEmail interface {
	// PersonIDsByEmail lists the ids of the people whose record's email is
	// email, compared case-insensitively, at most limit of them.
	PersonIDsByEmail(ctx context.Context, email string, limit int) ([]string, error)
}

// VerifyRun is one run of audit verify, as recorded.
type VerifyRun struct {
	At     time.Time    `json:"at"`
	Actor  string       `json:"actor"`  // who asked (the worker's schedule: worker)
	Report VerifyReport `json:"report"` // when Error is ""
	Error  string       `json:"error,omitempty"`
}

// VerifyRuns records each audit verify run, so the portal's audit page
// shows the last result.
type VerifyRuns interface {
	RecordVerify(ctx context.Context, r VerifyRun) error
	// LastVerify is the newest run, nil when none was recorded.
	LastVerify(ctx context.Context) (*VerifyRun, error)
}
