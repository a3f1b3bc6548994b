package ledgertest

import (
	"context"
	"testing"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// RunLoaded runs the suite again with every transaction preloading
// (ledger.Preloader) each person and idempotency key the first time a call
// names it, so reads of them come from the transaction's memory. The
// suite's assertions hold either way.
func RunLoaded(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	Run(t, func(t *testing.T) ledger.Ledger { return loading{open(t)} })
}

// loading is a ledger whose transactions load what they touch.
type loading struct{ ledger.Ledger }

func (l loading) Begin(ctx context.Context) (ledger.Tx, error) {
	tx, err := l.Ledger.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &loadingTx{Tx: tx}, nil
}

type loadingTx struct {
	ledger.Tx
	err error // a failed Load, returned by the call that asked for it
}

// Load and Flush are the backend's, when it has them.
func (t *loadingTx) Load(persons, keys []string) error { return ledger.Preload(t.Tx, persons, keys) }
func (t *loadingTx) Flush() error                      { return ledger.Flush(t.Tx) }

func (t *loadingTx) person(p string) bool {
	if err := ledger.Preload(t.Tx, []string{p}, nil); err != nil {
		t.err = err
		return false
	}
	return true
}

func (t *loadingTx) RecordMessage(m ledger.Message) (ledger.MsgOutcome, error) {
	if err := ledger.Preload(t.Tx, []string{m.Person}, []string{m.Key}); err != nil {
		return 0, err
	}
	return t.Tx.RecordMessage(m)
}

func (t *loadingTx) Person(id string) (*ledger.PersonRow, error) {
	if !t.person(id) {
		return nil, t.err
	}
	return t.Tx.Person(id)
}

func (t *loadingTx) PutPerson(p ledger.PersonRow) error {
	if !t.person(p.Person.ID) {
		return t.err
	}
	return t.Tx.PutPerson(p)
}

func (t *loadingTx) InsertRequest(r ledger.Request) error {
	if !t.person(r.Person) {
		return t.err
	}
	return t.Tx.InsertRequest(r)
}

func (t *loadingTx) OpenGrant(person, system, role string) (*ledger.Grant, error) {
	if !t.person(person) {
		return nil, t.err
	}
	return t.Tx.OpenGrant(person, system, role)
}

func (t *loadingTx) GrantsOf(person string) ([]ledger.Grant, error) {
	if !t.person(person) {
		return nil, t.err
	}
	return t.Tx.GrantsOf(person)
}

func (t *loadingTx) InsertGrant(g ledger.Grant) error {
	if !t.person(g.Person) {
		return t.err
	}
	return t.Tx.InsertGrant(g)
}

func (t *loadingTx) UpdateGrant(g ledger.Grant) error {
	if !t.person(g.Person) {
		return t.err
	}
	return t.Tx.UpdateGrant(g)
}

func (t *loadingTx) InsertOperation(o ledger.Operation) (int64, error) {
	if !t.person(o.Person) {
		return 0, t.err
	}
	return t.Tx.InsertOperation(o)
}

func (t *loadingTx) UpdateOperation(o ledger.Operation, expectToken int64) error {
	if !t.person(o.Person) {
		return t.err
	}
	return t.Tx.UpdateOperation(o, expectToken)
}

func (t *loadingTx) PersonOperations(person string, states ...ledger.OpState) ([]ledger.Operation, error) {
	if !t.person(person) {
		return nil, t.err
	}
	return t.Tx.PersonOperations(person, states...)
}

func (t *loadingTx) Account(person, connector string) (*ledger.AccountRow, error) {
	if !t.person(person) {
		return nil, t.err
	}
	return t.Tx.Account(person, connector)
}

func (t *loadingTx) PutAccount(a ledger.AccountRow) error {
	if !t.person(a.Person) {
		return t.err
	}
	return t.Tx.PutAccount(a)
}

func (t *loadingTx) AccountsOf(person string) ([]ledger.AccountRow, error) {
	if !t.person(person) {
		return nil, t.err
	}
	return t.Tx.AccountsOf(person)
}

// The trace capabilities are the backend's.
func (l loading) Traces(ctx context.Context, seqs []uint64) (map[uint64]ledger.TraceContext, error) {
	return l.Ledger.(ledger.TraceReader).Traces(ctx, seqs)
}

func (t *loadingTx) PutTrace(seq uint64, tc ledger.TraceContext) error {
	return t.Tx.(ledger.TraceWriter).PutTrace(seq, tc)
}
