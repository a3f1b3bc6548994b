package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/csv"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/portal"
	"github.com/ror-ikt/tilgang/internal/reconcile"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// flytCatalogue: a system on a csv instance whose extras are revoked, and
// where any removal holds a run.
const flytCatalogue = `system: flyt
name: Flyt
owner: Drift
administrators: [1547-20001]
connectors: [flyt]
roles:
  - id: konto
    entitlements: {flyt: []}
    requestable_by: [manager]
    approval: []
  - id: bruker
    entitlements: {flyt: [Flyt-Bruker]}
    requestable_by: [manager]
    approval: []
reconcile: {extra: revoke, max_removals: 0}
`

// papirCatalogue: a system provisioned by hand only, which no run can read.
const papirCatalogue = `system: papir
name: Papirarkiv
owner: Arkiv
administrators: [1547-20001]
connectors: [manual]
roles:
  - id: leser
    entitlements: {manual: ["Papirarkiv: lesetilgang"]}
    requestable_by: [manager]
    approval: []
`

// The system page shows the last reconciliation run: none yet; a dry run
// with its figures by kind; a --fix run the fail-safe held, and why; a
// fix run with the fixes sent and done; a run whose read failed, and why.
func TestSystemPageReconcile(t *testing.T) {
	dir := t.TempDir()
	conn, err := csv.Open("flyt", csv.Config{Dir: dir}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	e := testenv.StartWorker(t, connectors.Set{"flyt": conn, "manual": manual.Connector{}},
		map[string]string{"flyt.yaml": flytCatalogue, "papir.yaml": papirCatalogue})
	e.Joiner(testenv.People()...)
	grant := func(person, manager, role string) {
		id := e.Send(tilgang.TypeRequest, person, manager, envelope.Request{Action: "grant", System: "flyt", Role: role, Reason: "test"})
		gid := e.Wait(tilgang.EvRequestAccepted, person, testenv.ForRequest(id)).Data["grant_id"].(string)
		e.Wait(tilgang.EvGrantActive, person, testenv.ForGrant(gid))
	}
	grant("1547-1", "1547-2", "bruker")
	grant("1547-2", "1547-3", "konto")

	w := &world{Env: e}
	h := w.portal(t, portal.Options{})
	admin := signIn(t, h, "1547-20001")
	sectionOf := func(system string) string {
		t.Helper()
		res := do(h, http.MethodGet, "/systems/"+system, nil, admin)
		body := bodyOf(t, res)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		i := strings.Index(body, `id="system-reconcile"`)
		require.GreaterOrEqual(t, i, 0, "the page has the section")
		j := strings.Index(body[i:], "</section>")
		require.Greater(t, j, 0)
		return body[i : i+j]
	}
	section := func() string { t.Helper(); return sectionOf("flyt") }
	require.Contains(t, section(), "Ingen avstemming er kjørt ennå.")

	// A system no instance of which can list: a run reads nothing, and is
	// not shown as a reconciliation that found nothing.
	reps, err := e.Reconcile(api.ReconcileArgs{System: "papir"})
	require.NoError(t, err)
	require.Equal(t, []string{"manual"}, reps[0].Skipped)
	require.Contains(t, sectionOf("papir"), "Ingen avstemming er kjørt ennå.")

	// Out of band: 1547-1 loses the group (missing), 1547-2 gets it (extra).
	ctx := context.Background()
	acct := func(id string) connectors.Account { return connectors.Account{Person: tilgang.Person{ID: id}} }
	require.NoError(t, conn.Revoke(ctx, acct("1547-1"), "Flyt-Bruker"))
	require.NoError(t, conn.Grant(ctx, acct("1547-2"), "Flyt-Bruker"))
	run := func(a api.ReconcileArgs) reconcile.Report {
		t.Helper()
		a.System = "flyt"
		var rep reconcile.Report
		require.Eventually(t, func() bool {
			reps, err := e.Reconcile(a)
			require.NoError(t, err)
			require.Len(t, reps, 1)
			rep = reps[0]
			// Work still in flight leaves a person out of a run.
			return rep.Error != "" || rep.Counts[reconcile.Missing]+rep.Counts[reconcile.Extra] == 2 || rep.Fixed
		}, 30*time.Second, 200*time.Millisecond)
		return rep
	}

	dry := run(api.ReconcileArgs{})
	require.Equal(t, map[reconcile.Kind]int{reconcile.Missing: 1, reconcile.Extra: 1, reconcile.Orphan: 0, reconcile.State: 0, reconcile.Disputed: 0}, dry.Counts)
	s := section()
	require.Contains(t, s, "som prøvekjøring (ingenting ble endret)")
	require.Contains(t, s, "Resultat: OK, 2 avvik funnet.")
	require.Contains(t, s, fmt.Sprintf("Lest: %d kontoer og %d medlemskap.", dry.Read.Accounts, dry.Read.Members))
	require.Equal(t, 2, dry.Read.Accounts)
	require.Contains(t, s, "Mangler i systemet (tilgang gitt, men ikke på plass)</th><td>1</td>")
	require.Contains(t, s, "Ekstra (medlem som ingen tildelt tilgang forklarer)</th><td>1</td>")
	require.Contains(t, s, "Foreldreløse kontoer (sluttet eller ukjent i HR)</th><td>0</td>")
	require.Contains(t, s, "tilgang reconcile --system flyt")
	require.NotContains(t, s, "Rettinger:", "a dry run fixes nothing")

	held := run(api.ReconcileArgs{Fix: true})
	require.True(t, held.Held, "one removal, none allowed")
	s = section()
	require.Contains(t, s, "med retting")
	require.Contains(t, s, "Resultat: holdt tilbake, ingenting ble rettet. Den ville fjernet 1 tilganger, flere enn de 0 som er tillatt.")
	require.Contains(t, s, "Ekstra (medlem som ingen tildelt tilgang forklarer)</th><td>1</td>")

	fixed := run(api.ReconcileArgs{Fix: true, AllowRemovals: 1})
	require.False(t, fixed.Held)
	require.True(t, fixed.Fixed, "%+v", fixed.Findings)
	s = section()
	require.Contains(t, s, "Resultat: OK, 2 avvik funnet.")
	require.Contains(t, s, "Rettinger: 2 sendt, 2 utført da kjøringen sluttet å vente.")

	// A damaged state file: the read fails and nothing is fixed.
	states, err := filepath.Glob(filepath.Join(dir, ".*.state.json"))
	require.NoError(t, err)
	require.Len(t, states, 1)
	require.NoError(t, os.WriteFile(states[0]+".new", []byte("{not json"), 0o600))
	require.NoError(t, os.Rename(states[0]+".new", states[0]), "another file: the instance reads it again")
	failed := run(api.ReconcileArgs{Fix: true})
	require.NotEmpty(t, failed.Error)
	s = section()
	require.Contains(t, s, "Resultat: feilet, ingenting ble rettet. Lesingen fra systemet stoppet:")
	require.Contains(t, s, "is damaged", "the target's error, as it was")
	require.NotContains(t, s, "reconcile-counts", "a failed read counts nothing")
}
