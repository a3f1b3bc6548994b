package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
	"github.com/ror-ikt/tilgang/internal/testenv/browser"
)

const trainingCatalogue = `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001, 1547-20002]
connectors: [noop, manual]
roles:
  - id: bruker
    entitlements: {noop: [KASSE-BRUKER]}
    requestable_by: [manager]
    approval: []
    requires_training: true
  - id: manuell
    entitlements: {manual: ["Kasse: manuell rolle"]}
    requestable_by: [manager]
    approval: []
`

// A systemansvarlig confirms training and completes manual tasks from
// what waits for them; others are refused with a page.
func TestTrainingAndTasksThroughThePortal(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": trainingCatalogue})
	trained := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "ny"})
	gTrained := w.Wait("training.pending", "1547-1", testenv.ForRequest(trained)).Data["grant_id"].(string)
	manual := w.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "manuell", Reason: "ny"})
	gManual := w.Wait("request.accepted", "1547-1", testenv.ForRequest(manual)).Data["grant_id"].(string)
	w.Wait("task.manual", "1547-1", nil)

	// In a real browser, the page with both forms passes axe-core.
	b := browser.Start(t)
	p := b.Page(t)
	p.Navigate(w.PortalURL + "/signin")
	p.SetValue("#person", "1547-20001")
	require.Equal(t, 200, p.Submit("#person"))
	require.Equal(t, 1, p.Count(`form[action="/training"]`))
	require.GreaterOrEqual(t, p.Count(`form[action^="/tasks/"]`), 1)
	p.RequireNoProblems()
	p.RequireNoAxeViolations()
	p.Screenshot("home-administrator")

	form := url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"bruker"}}
	for _, who := range []string{"1547-3", "1547-2"} {
		res, body := w.browser(t, who).do(http.MethodPost, "/training", form)
		require.Equal(t, http.StatusForbidden, res.StatusCode, who)
		require.Contains(t, body, "Denne opplæringen venter ikke på deg", who)
	}
	admin := w.browser(t, "1547-20001")
	res, body := admin.do(http.MethodPost, "/training", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.Equal(t, "/?sent", res.Header.Get("Location"))
	w.Wait("grant.active", "1547-1", testenv.ForGrant(gTrained))

	inbox := func() api.Inbox {
		var in api.Inbox
		require.NoError(t, w.api(principals.PortalID, "1547-20001").Call(context.Background(), api.MethodInbox, nil, &in))
		return in
	}
	tasks := inbox().Tasks
	require.NotEmpty(t, tasks)
	res, body = w.browser(t, "1547-3").do(http.MethodPost, "/tasks/"+tasks[0].OperationID, url.Values{"outcome": {"done"}})
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, body, "Denne oppgaven venter ikke på deg")
	// Complete each task as it comes (account, then membership) until the
	// grant is active.
	active := func() bool {
		for _, ev := range w.Events() {
			if ev.Kind == "grant.active" && ev.Data["grant_id"] == gManual {
				return true
			}
		}
		return false
	}
	completed := 0
	require.Eventually(t, func() bool {
		for _, task := range inbox().Tasks {
			res, body := admin.do(http.MethodPost, "/tasks/"+task.OperationID, url.Values{"outcome": {"done"}, "comment": {"lagt inn"}})
			require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
			completed++
		}
		return active()
	}, 20*time.Second, 50*time.Millisecond, "the manual grant becomes active")
	require.GreaterOrEqual(t, completed, 2, "an account and a membership")
	w.Wait("grant.active", "1547-1", testenv.ForGrant(gManual))
}
