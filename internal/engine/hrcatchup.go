package engine

import (
	"context"
	"time"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// ChangeCatchUpLease is the ledger lease under which one replica plans the
// changes ahead that records in the ledger lack (CatchUpChanges).
const ChangeCatchUpLease = "hr-change-catchup"

// catchUpPage is how many records CatchUpChanges reads and plans in one
// transaction.
const catchUpPage = 500

// CatchUpChanges plans the KindChange of every person whose stored record
// holds a change ahead (tilgang.Person.NextChange) with none planned for
// its moment: records stored before dated changes were planned, or whose
// change was never planned, get it now rather than with their next HR
// version. A change planned already is left as it is, so running it again
// plans nothing twice. It works a page of records a transaction; fence,
// when not nil, is called in each transaction before it commits (a lease's
// Fence) and its error ends the run. It reports how many it planned.
func (e *Engine) CatchUpChanges(ctx context.Context, l ledger.Ledger, fence func(tx ledger.Tx) error) (int, error) {
	planned := 0
	after := ""
	for {
		ids, err := l.PersonIDs(ctx, after, catchUpPage)
		if err != nil || len(ids) == 0 {
			return planned, err
		}
		after = ids[len(ids)-1]
		people, _, err := l.People(ctx, ids)
		if err != nil {
			return planned, err
		}
		// Only records with a change ahead need a look inside a
		// transaction; most have none.
		now := e.Now().UTC()
		var ahead []string
		for _, id := range ids {
			if p := people[id]; p != nil && !hasLeft(p, now) && !p.Person.NextChange(now).IsZero() {
				ahead = append(ahead, id)
			}
		}
		if len(ahead) == 0 {
			continue
		}
		n, err := e.catchUp(ctx, l, ahead, fence)
		if err != nil {
			return planned, err
		}
		planned += n
	}
}

// catchUp plans, in one transaction, the missing changes of these people.
func (e *Engine) catchUp(ctx context.Context, l ledger.Ledger, ids []string, fence func(tx ledger.Tx) error) (int, error) {
	tx, err := l.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := ledger.Preload(tx, ids, nil); err != nil {
		return 0, err
	}
	now := e.Now().UTC()
	n := 0
	for _, id := range ids {
		p, err := tx.Person(id)
		if err != nil {
			return 0, err
		}
		if p == nil {
			continue
		}
		queued, err := scheduleChange(tx, now, 0, p)
		if err != nil {
			return 0, err
		}
		if queued {
			n++
		}
	}
	if fence != nil {
		if err := fence(tx); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// catchUpTTL is how long the catch-up's lease lasts without renewal: each
// page's transaction fences it for as long again.
const catchUpTTL = 5 * time.Minute

// CatchUpChangesOnce runs CatchUpChanges under the ledger lease
// ChangeCatchUpLease for holder, so that replicas starting together do it
// once; taken is false when another replica holds the lease.
func (e *Engine) CatchUpChangesOnce(ctx context.Context, l ledger.Ledger, holder string) (planned int, taken bool, err error) {
	tok, err := l.AcquireLease(ctx, ChangeCatchUpLease, holder, catchUpTTL)
	if err != nil || tok == 0 {
		return 0, false, err
	}
	defer l.ReleaseLease(context.WithoutCancel(ctx), ChangeCatchUpLease, holder, tok)
	planned, err = e.CatchUpChanges(ctx, l, func(tx ledger.Tx) error {
		return tx.Fence(ChangeCatchUpLease, holder, tok, catchUpTTL)
	})
	return planned, true, err
}
