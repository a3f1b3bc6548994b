package engine

import (
	"fmt"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Expiry. A time-bound grant gets its end date when it becomes active
// (policy.Role.End: the duration counts from activation, the end is the end
// of an Oslo day), and with it one internal operation (connector tilgang,
// kind expire) due at that moment, in the same outbox as connector work:
// it survives restarts, is claimed under a lease like any operation, and is
// done once. When it runs on a grant that is still active with the same end,
// it revokes the grant with cause expiry, so the grant ends expired and
// grant.expired is published. A grant that ended before cancels its expiry
// (startRevoke, cancelGrant), and an expiry that finds its grant no longer
// active, or with another end, is done without effect.

// isWork tells connector work from the engine's own operations of a grant
// (its scheduled expiry, reminders and escalations), which neither hold a
// grant in provisioning nor make it in flight.
func isWork(op ledger.Operation) bool { return op.Connector != ledger.Internal }

// activeUntil sets g's end date at activation and says how it was reached.
func (e *Engine) activeUntil(now time.Time, g *ledger.Grant) why {
	w := why{}
	requested := g.ValidUntil
	if _, role, ok := e.Catalogue().Role(g.System, g.Role); ok {
		end, shortened := role.End(requested, now)
		g.ValidUntil = end
		if end.IsZero() {
			return w
		}
		w.details = map[string]string{"valid_until": end.String(), "activated": tilgang.DateOf(now).String()}
		switch {
		case shortened:
			w.details["requested_until"] = requested.String()
			w.details["max_duration"] = role.MaxDuration.String()
			w.text = fmt.Sprintf("valid until %s: shortened from the requested %s by max_duration %s counted from activation on %s",
				end, requested, role.MaxDuration, tilgang.DateOf(now))
		case requested.IsZero() && role.DefaultDuration > 0:
			w.details["default_duration"] = role.DefaultDuration.String()
			w.text = fmt.Sprintf("valid until %s: default_duration %s from activation on %s", end, role.DefaultDuration, tilgang.DateOf(now))
		case requested.IsZero():
			w.details["max_duration"] = role.MaxDuration.String()
			w.text = fmt.Sprintf("valid until %s: max_duration %s from activation on %s", end, role.MaxDuration, tilgang.DateOf(now))
		default:
			w.text = fmt.Sprintf("valid until %s, as requested", end)
		}
	} else if !requested.IsZero() {
		w.details = map[string]string{"valid_until": requested.String()}
	}
	return w
}

// scheduleExpiry plans g's expiry at the end of its last day.
func (e *Engine) scheduleExpiry(tx ledger.Tx, now time.Time, seq uint64, g *ledger.Grant) error {
	if g.ValidUntil.IsZero() {
		return nil
	}
	at := g.ValidUntil.End()
	_, err := planAt(tx, now, seq).queue(ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: ledger.Internal,
		Kind: ledger.KindExpire, DueAt: at})
	return err
}

// cancelExpiry cancels g's queued expiry: the grant is ending otherwise.
func (e *Engine) cancelExpiry(tx ledger.Tx, now time.Time, g *ledger.Grant) error {
	ops, err := tx.OperationsOf(g.ID)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if op.Kind == ledger.KindExpire && op.State == ledger.OpQueued {
			if err := planAt(tx, now, 0).cancel(op); err != nil {
				return err
			}
		}
	}
	return nil
}

// expire runs a grant's expiry.
func (e *Engine) expire(tx ledger.Tx, now time.Time, op ledger.Operation) error {
	g, err := tx.Grant(op.GrantID)
	if err != nil {
		return err
	}
	if g == nil || g.State != tilgang.StateActive || g.ValidUntil.IsZero() || !g.ValidUntil.End().Equal(op.DueAt) {
		return e.Done(tx, op, nil) // ended otherwise, or given another end
	}
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.expiring", Person: g.Person, Actor: Worker, System: g.System, Role: g.Role,
		GrantID: g.ID, OpID: op.ID, Details: map[string]string{"valid_until": g.ValidUntil.String()}})
	if err := e.endGrant(tx, now, op.Seq, g, "expiry", why{text: fmt.Sprintf("valid until %s: the time is up", g.ValidUntil)}); err != nil {
		return err
	}
	return e.Done(tx, op, nil)
}
