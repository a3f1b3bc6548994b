package entra

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/graphemu"
	"github.com/ror-ikt/tilgang/internal/reconcile/reconciletest"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// userOf is the person's user as the connector made it (not a duplicate
// made out of band, whose userPrincipalName starts with dup-).
func (e *env) userOf(t *testing.T, p tilgang.Person) string {
	t.Helper()
	for _, id := range e.emu.FindUsers("employeeId", p.ID) {
		if u, _ := e.emu.User(id); !strings.HasPrefix(fmt.Sprint(u["userPrincipalName"]), "dup-") {
			return id
		}
	}
	t.Fatalf("no user carries employeeId %s", p.ID)
	return ""
}

// TestReconcileScenario runs the reconciliation acceptance scenario
// through the real worker against the Graph emulator: a member added out of
// band, one removed, an account disabled, an orphan of a person who left
// and a second user with the same employeeId, each found with its kind;
// --fix mends the first four, a second run finds only the dispute, and the
// removal threshold holds a run.
func TestReconcileScenario(t *testing.T) {
	x := newEnv(t, graphemu.Faults{}, nil)
	main, held := "Rek-Bruker", "Rek-Held"
	gids := map[string]string{main: x.emu.AddGroup(main, false), held: x.emu.AddGroup(held, false)}
	reconciletest.Run(t, reconciletest.Target{Name: "entra", Conn: x.c, Main: main, Held: held, IDPrefix: "1547-r",
		Duplicate: func(t *testing.T, p tilgang.Person) {
			x.emu.AddUser(map[string]any{"userPrincipalName": "dup-" + strings.ToLower(p.ID) + "@ror.test", "employeeId": p.ID})
		},
		Member: func(t *testing.T, p tilgang.Person, ent string) bool {
			return slices.Contains(x.emu.Members(gids[ent]), x.userOf(t, p))
		},
		Enabled: func(t *testing.T, p tilgang.Person) bool {
			u, _ := x.emu.User(x.userOf(t, p))
			return u["accountEnabled"] == true
		},
	})
}

// A read that fails halfway (the second page of users answering 500, or
// cut off halfway through its body) fixes nothing and says why; with Graph
// whole again the same run finds and fixes.
func TestReconcileWorkerReadFailsHalfway(t *testing.T) {
	for _, fault := range []string{"error", "cut"} {
		t.Run(fault, func(t *testing.T) {
			x := newEnv(t, graphemu.Faults{}, func(c *Config) { c.MaxRetries = 1 })
			main := "Rek-Halv"
			gid := x.emu.AddGroup(main, false)
			// 1,000 disabled accounts of people HR does not know: a second
			// page of users, and no findings of their own.
			for i := range 1000 {
				x.emu.AddUser(map[string]any{"userPrincipalName": fmt.Sprintf("old%04d@ror.test", i), "employeeId": fmt.Sprintf("old-%04d", i), "accountEnabled": false})
			}
			e := testenv.StartWorker(t, connectors.Set{"entra": x.c}, reconciletest.Catalogue(reconciletest.Target{Name: "entra", Main: main, Held: main + "-x"}))
			people := testenv.People()
			p := people[0]
			p.ID, p.Email = "1547-h1", "1547-h1@aukra.kommune.no"
			e.Joiner(append(people, p)...)
			id := e.Send(tilgang.TypeRequest, p.ID, people[1].ID, envelope.Request{Action: "grant", System: "recon", Role: "konto", Reason: "test"})
			g := e.Wait(tilgang.EvRequestAccepted, p.ID, testenv.ForRequest(id)).Data["grant_id"].(string)
			e.Wait(tilgang.EvGrantActive, p.ID, testenv.ForGrant(g))
			require.NoError(t, x.c.Grant(t.Context(), connectors.Account{Person: p}, main), "a member added out of band")
			uid := x.userOf(t, p)

			x.emu.SetFaults(graphemu.Faults{BreakPage: 1, PageFault: fault})
			reps, err := e.Reconcile(api.ReconcileArgs{System: "recon", Fix: true})
			require.NoError(t, err)
			require.Len(t, reps, 1)
			require.Contains(t, reps[0].Error, "read the accounts of entra")
			require.Contains(t, reps[0].Error, "nothing was fixed")
			require.Empty(t, reps[0].Findings, "a failed read reports no findings")
			require.False(t, reps[0].Fixed)
			require.Contains(t, x.emu.Members(gid), uid, "the extra member is still there")

			x.emu.SetFaults(graphemu.Faults{})
			reps, err = e.Reconcile(api.ReconcileArgs{System: "recon", Fix: true})
			require.NoError(t, err)
			require.Empty(t, reps[0].Error)
			require.NotContains(t, x.emu.Members(gid), uid, "the extra member is removed")
		})
	}
}
