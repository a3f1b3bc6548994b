// Package reconcile compares what the ledger says should be (live grants,
// accounts of people employed) with what each target says is (a
// connectors.Reader's accounts and members) and classifies each difference
// as one of five findings: missing, extra, orphan, state, disputed
// (DESIGN.md "Reconciliation").
//
// A run reads everything first; a read that fails or ends early stops the
// run and nothing is fixed. Fixes (--fix) go through the intake as
// reconcile.fix.v1 and become ordinary outbox operations planned by the
// engine, with actor reconcile and the finding as reason. Removals above
// the system's threshold hold the run (reconcile.held) unless allowed.
package reconcile
