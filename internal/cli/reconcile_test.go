package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/reconcile"
)

// reconcileWorld serves the API with a runner that answers rep and records
// what it was asked.
func reconcileWorld(t *testing.T, rep func(o reconcile.Options) []reconcile.Report) (*world, *[]reconcile.Options) {
	w := newWorld(t)
	ctx := context.Background()
	store, err := sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	var mu sync.Mutex
	var asked []reconcile.Options
	srv := &api.Server{Ledger: store, Principals: func() *principals.Set { return w.set },
		Reconcile: func(ctx context.Context, o reconcile.Options) ([]reconcile.Report, error) {
			mu.Lock()
			asked = append(asked, o)
			mu.Unlock()
			return rep(o), nil
		}}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, w.nc) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	kp, err := principals.LoadSeed(w.devKey)
	require.NoError(t, err)
	c := &api.Client{NC: w.nc, Key: kp, Actor: "dev", Timeout: time.Second}
	require.Eventually(t, func() bool { return c.Call(ctx, api.MethodGrants, nil, nil) == nil }, 10*time.Second, 20*time.Millisecond)
	return w, &asked
}

func sampleReport(o reconcile.Options) []reconcile.Report {
	r := reconcile.Report{System: "gerica", Read: reconcile.Read{Accounts: 3, Members: 2}, Findings: []reconcile.Finding{
		{Kind: reconcile.Extra, Person: "1547-1", Account: "=cmd|' /C calc'!A0", Entitlement: "APP-Gerica-Bruker", Fix: reconcile.FixRevoke,
			Detail: "no live grant gives it"},
		{Kind: reconcile.Disputed, Person: "1547-2", Account: "aseove, aseove2", Detail: "2 accounts carry this person id"},
	}}
	r.Count()
	if o.Fix {
		r.Fixed = true
		r.Findings[1].Outcome = ""
		for i := range r.Findings {
			if r.Findings[i].Fix != "" {
				r.Findings[i].Outcome = "done"
			}
		}
	}
	return []reconcile.Report{r}
}

func TestReconcileCommand(t *testing.T) {
	w, asked := reconcileWorld(t, sampleReport)

	code, out, errOut := w.run(t, nil, "reconcile", "--system", "gerica")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "system gerica: read 3 accounts, 2 members: missing 0, extra 1, orphan 0, state 0, disputed 1 (dry run, nothing changed)")
	require.Contains(t, out, "extra     1547-1")
	require.Equal(t, reconcile.Options{System: "gerica", Wait: 45 * time.Second, Actor: "dev"}, (*asked)[0])

	code, out, errOut = w.run(t, nil, "reconcile", "--system", "gerica", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	for _, k := range []string{"system", "read", "findings", "counts", "fixed", "held"} {
		require.Contains(t, got, k)
	}
	require.Equal(t, map[string]any{"missing": 0.0, "extra": 1.0, "orphan": 0.0, "state": 0.0, "disputed": 1.0}, got["counts"])
	f := got["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "person", "account", "entitlement", "fix"} {
		require.Contains(t, f, k)
	}

	code, out, errOut = w.run(t, nil, "reconcile", "--all", "--format", "json")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(strings.TrimSpace(out), "["), "--all prints an array")

	code, out, errOut = w.run(t, nil, "reconcile", "--connector", "ad", "--fix", "--allow-removals", "4", "--format", "csv")
	require.Equal(t, 0, code, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, []string{"system", "kind", "person", "account", "entitlement", "fix", "connector", "detail", "outcome"}, rows[0])
	require.Equal(t, "'=cmd|' /C calc'!A0", rows[1][3], "a cell a spreadsheet would run is quoted")
	require.Equal(t, "done", rows[1][8])
	last := (*asked)[len(*asked)-1]
	require.Equal(t, reconcile.Options{Connector: "ad", Fix: true, AllowRemovals: 4, Wait: 45 * time.Second, Actor: "dev"}, last)

	// Bad input is refused before anything is asked.
	n := len(*asked)
	for _, args := range [][]string{
		{"reconcile"},
		{"reconcile", "--system", "a", "--all"},
		{"reconcile", "--all", "--allow-removals", "3"},
		{"reconcile", "--all", "--fix", "--allow-removals", "-1"},
		{"reconcile", "--all", "--format", "xml"},
	} {
		code, _, errOut := w.run(t, nil, args...)
		require.NotEqual(t, 0, code, "%v", args)
		require.NotEmpty(t, errOut, "%v", args)
	}
	require.Len(t, *asked, n)
}

// A run that held or whose read failed exits non-zero and says why.
func TestReconcileCommandHeldOrFailed(t *testing.T) {
	w, _ := reconcileWorld(t, func(o reconcile.Options) []reconcile.Report {
		held := reconcile.Report{System: "gerica", Held: true, HeldWhy: "12 removals, more than the 10 allowed: nothing was fixed"}
		held.Count()
		failed := reconcile.Report{System: "sak", Error: "read the members of CN=Sak on ad: connection reset: nothing was fixed"}
		failed.Count()
		return []reconcile.Report{held, failed}
	})
	code, out, errOut := w.run(t, nil, "reconcile", "--all", "--fix")
	require.Equal(t, exitFailed, code)
	require.Contains(t, out, "held: 12 removals")
	require.Contains(t, errOut, "gerica: held: 12 removals")
	require.Contains(t, errOut, "sak: read the members of CN=Sak on ad: connection reset: nothing was fixed")
}
