package scim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/reconcile/reconciletest"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// userOf is the person's user at the peer (the one whose userName is the
// person's, when a duplicate carries the same externalId).
func (a *admin) userOf(p tilgang.Person) map[string]any {
	a.t.Helper()
	us := a.users(fmt.Sprintf(`externalId eq "%s"`, p.ID))
	require.NotEmpty(a.t, us, "no user with externalId %s", p.ID)
	for _, u := range us {
		if u["userName"] == p.Email {
			return u
		}
	}
	return us[0]
}

// TestReconcileScenario runs the reconciliation acceptance scenario
// against SCIMMY through the worker.
func TestReconcileScenario(t *testing.T) {
	adm := newAdmin(t)
	main, mainID := adm.makeGroup("Rek-Bruker")
	held, heldID := adm.makeGroup("Rek-Held")
	gids := map[string]string{main: mainID, held: heldID}
	conn := openTest(t, "", func(c *Config) { c.PageSize = 100 })
	reconciletest.Run(t, reconciletest.Target{Name: "scim", Conn: conn, Main: main, Held: held, IDPrefix: "1547-r" + runID,
		Duplicate: func(t *testing.T, p tilgang.Person) {
			status, u := adm.call("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": "dup-" + p.Email, "externalId": p.ID, "active": true})
			require.Equal(t, 201, status, "%v", u)
		},
		Member: func(t *testing.T, p tilgang.Person, ent string) bool {
			return adm.memberCount(gids[ent], adm.userOf(p)["id"].(string)) > 0
		},
		Enabled: func(t *testing.T, p tilgang.Person) bool { return adm.userOf(p)["active"] == true },
	})
}

// A read that fails halfway (every /Users page after the first cut off)
// fixes nothing and says why.
func TestReconcileReadFailsHalfway(t *testing.T) {
	adm := newAdmin(t)
	main, gid := adm.makeGroup("Rek-Halv")
	px := newProxy(t)
	conn := openTest(t, px.url(), func(c *Config) { c.PageSize = 2 })
	e := testenv.StartWorker(t, connectors.Set{"scim": conn}, reconciletest.Catalogue(reconciletest.Target{Name: "scim", Main: main, Held: main + "-x"}))
	people := testenv.People()
	p := people[0]
	p.ID, p.Email = "1547-h"+runID, "1547-h"+runID+"@aukra.kommune.no"
	e.Joiner(append(people, p)...)
	id := e.Send(tilgang.TypeRequest, p.ID, people[1].ID, envelope.Request{Action: "grant", System: "recon", Role: "konto", Reason: "test"})
	gidGrant := e.Wait(tilgang.EvRequestAccepted, p.ID, testenv.ForRequest(id)).Data["grant_id"].(string)
	e.Wait(tilgang.EvGrantActive, p.ID, testenv.ForGrant(gidGrant))
	require.NoError(t, conn.Grant(ctx, connectors.Account{Person: p}, main), "a member added out of band")
	uid := adm.userOf(p)["id"].(string)

	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/Users") && r.URL.Query().Get("startIndex") != "1" {
			hj, _ := w.(http.Hijacker)
			c, _, err := hj.Hijack()
			if err == nil {
				c.Close() // the connection is cut halfway through the listing
			}
			return true
		}
		return false
	})
	start := time.Now()
	reps, err := e.Reconcile(api.ReconcileArgs{System: "recon", Fix: true})
	require.NoError(t, err)
	require.Len(t, reps, 1)
	require.Contains(t, reps[0].Error, "read the accounts of scim")
	require.Contains(t, reps[0].Error, "nothing was fixed")
	require.Empty(t, reps[0].Findings, "a failed read reports no findings")
	require.False(t, reps[0].Fixed)
	require.Equal(t, 1, adm.memberCount(gid, uid), "the extra member is still there")
	t.Logf("the run failed after %s: %s", time.Since(start).Round(time.Millisecond), reps[0].Error)

	// With the connection whole again, the same run finds and fixes it.
	px.setFault(nil)
	reps, err = e.Reconcile(api.ReconcileArgs{System: "recon", Fix: true})
	require.NoError(t, err)
	require.Empty(t, reps[0].Error)
	require.Equal(t, 0, adm.memberCount(gid, uid))
}

// EachAccount pages and yields only the users with an externalId; a page
// short of totalResults fails.
func TestEachAccountShortPage(t *testing.T) {
	px := newProxy(t)
	c := openTest(t, px.url(), func(c *Config) { c.PageSize = 2 })
	for i := 0; i < 3; i++ {
		ensure(t, c, person("Side", "Kort"))
	}
	n := 0
	require.NoError(t, c.EachAccount(ctx, func(a connectors.TargetAccount) error {
		require.NotEmpty(t, a.Person)
		n++
		return nil
	}))
	require.GreaterOrEqual(t, n, 3)
	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/Users") && r.URL.Query().Get("startIndex") == "3" {
			w.Header().Set("Content-Type", "application/scim+json")
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":99999,"startIndex":3,"itemsPerPage":0,"Resources":[]}`)
			return true
		}
		return false
	})
	err := c.EachAccount(ctx, func(connectors.TargetAccount) error { return nil })
	require.ErrorIs(t, err, connectors.ErrShortRead)
	require.ErrorContains(t, err, "read 2 of 99999")
}
