package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Messages that cannot be authenticated (they do not decode, are unsigned,
// or their signature does not verify) cost nothing to send, so their audit
// rows are limited: in each window of UnverifiedWindow at most
// UnverifiedPerWindow are chained one by one; the rest of the window are
// counted, and their count is chained as one row (kind
// UnverifiedSummaryKind) when the next such message comes after the window.
// Every one of them is still recorded under its bytes and announced with a
// request.rejected event. The count is kept per engine (per replica) and
// is a limit, not a ledger fact: a transaction rolled back after counting
// is not uncounted.
const (
	UnverifiedPerWindow   = 20
	UnverifiedWindow      = time.Minute
	UnverifiedSummaryKind = "message.rejected.summary"
)

type unverifiedLimit struct {
	mu      sync.Mutex
	window  time.Time // start of the current window
	chained int       // rows chained one by one in it
	held    int       // rejections in it not chained one by one
}

// take counts one rejection at now. It reports whether its own row is to
// be chained, and returns the summary row of an earlier window that held
// rows back (nil when none).
func (u *unverifiedLimit) take(now time.Time) (chain bool, summary *ledger.AuditEntry) {
	u.mu.Lock()
	defer u.mu.Unlock()
	w := now.Truncate(UnverifiedWindow)
	if !w.Equal(u.window) {
		if u.held > 0 {
			end := u.window.Add(UnverifiedWindow)
			summary = &ledger.AuditEntry{At: now, Kind: UnverifiedSummaryKind,
				Text: fmt.Sprintf("%d more messages that could not be authenticated were rejected between %s and %s; each was announced with request.rejected but not chained one by one",
					u.held, u.window.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)),
				Details: map[string]string{"count": fmt.Sprint(u.held), "from": u.window.UTC().Format(time.RFC3339), "to": end.UTC().Format(time.RFC3339)}}
		}
		u.window, u.chained, u.held = w, 0, 0
	}
	if u.chained < UnverifiedPerWindow {
		u.chained++
		return true, summary
	}
	u.held++
	return false, summary
}
