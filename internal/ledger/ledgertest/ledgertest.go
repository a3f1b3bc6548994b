// Package ledgertest is the conformance suite every ledger backend passes
// (after dexidp/dex storage/conformance): a backend's test calls Run with a
// function that opens a new, empty ledger.
//
// Besides what the ledger interfaces say, the suite holds backends to these:
//   - times come back in UTC at millisecond precision;
//   - Rollback after Commit is a no-op, so `defer tx.Rollback()` is safe;
//   - a failed statement (a Conflict, say) is followed by Rollback, never by
//     more work in the same transaction (PostgreSQL aborts the transaction);
//   - every insert or update of a grant comes with an audit entry of kind
//     "grant.state" naming the grant and its new state (To), because Verify
//     compares the grant table with the chain.
package ledgertest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Genesis is the hash the first chain row names as its predecessor.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// t0 is the suite's clock: no assertion reads the wall clock.
var t0 = time.Date(2025, time.August, 1, 7, 30, 0, 125_000_000, time.UTC)

type test struct {
	name string
	run  func(t *testing.T, l ledger.Ledger)
}

type group struct {
	name  string
	tests []test
}

func groups() []group {
	return []group{
		{"Messages", messageTests},
		{"Persons", personTests},
		{"Requests", requestTests},
		{"Grants", grantTests},
		{"Operations", operationTests},
		{"Claim", claimTests},
		{"Accounts", accountTests},
		{"Audit", auditTests},
		{"Verify", verifyTests},
		{"Events", eventTests},
		{"Tx", txTests},
		{"Stats", statsTests},
		{"Load", loadTests},
		{"History", historyTests},
		{"HRSnapshots", hrSnapshotTests},
		{"Portal", portalTests},
		{"PortalReads", portalReadTests},
		{"Mail", mailTests},
		{"Register", registerTests},
		{"Reviews", reviewTests},
		{"Traces", traceTests},
		{"ReconcileRuns", reconcileRunTests},
	}
}

// Run runs the suite. open returns a new, empty ledger for one subtest;
// the suite closes it when the subtest ends. Every subtest has its own
// ledger and runs in parallel with the others.
func Run(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					l := open(t)
					t.Cleanup(func() { _ = l.Close() })
					tc.run(t, l)
				})
			}
		})
	}
}

// ---- helpers ----

func begin(t *testing.T, l ledger.Ledger) ledger.Tx {
	t.Helper()
	tx, err := l.Begin(t.Context())
	require.NoError(t, err)
	return tx
}

// inTx runs fn in a transaction and commits it.
func inTx(t *testing.T, l ledger.Ledger, fn func(tx ledger.Tx)) {
	t.Helper()
	tx := begin(t, l)
	defer tx.Rollback()
	fn(tx)
	require.NoError(t, tx.Commit())
}

// conflict asserts that a write broke a uniqueness rule: err from the call
// is a Conflict, or, for a write kept until Commit (after Load), Commit is.
func conflict(t *testing.T, tx ledger.Tx, err error) {
	t.Helper()
	if err == nil {
		err = tx.Commit()
	}
	require.Error(t, err, "a write that breaks a uniqueness rule")
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func stats(t *testing.T, l ledger.Ledger) ledger.Stats {
	t.Helper()
	st, err := l.Stats(t.Context())
	require.NoError(t, err)
	return st
}

func head(t *testing.T, l ledger.Ledger) ledger.Head {
	t.Helper()
	h, err := l.Head(t.Context())
	require.NoError(t, err)
	return h
}

func verify(t *testing.T, l ledger.Ledger, anchor *ledger.Head) ledger.VerifyReport {
	t.Helper()
	rep, err := l.Verify(t.Context(), anchor)
	require.NoError(t, err)
	return rep
}
