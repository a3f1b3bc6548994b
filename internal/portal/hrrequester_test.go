package portal_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// A person who holds hr_requester asks, in the portal, for a role
// requestable by hr for someone who is not their staff; a person without
// it is denied the same request.
func TestHRRequesterPerson(t *testing.T) {
	w := startWorldWith(t, map[string]string{"kasse.yaml": `system: kasse
name: Kasse
owner: Økonomi
administrators: [1547-20001]
connectors: [noop]
roles:
  - id: lonn
    entitlements: {noop: [KASSE-LONN]}
    requestable_by: [hr]
    approval: []
`})
	form := url.Values{"person": {"1547-1"}, "system": {"kasse"}, "role": {"lonn"}, "reason": {"ny i lønn"}}
	res, body := w.browser(t, "1547-3").do(http.MethodPost, "/requests", form)
	require.Equal(t, http.StatusForbidden, res.StatusCode, body)
	require.Contains(t, body, "Bestillingen ble avslått: Rollen lonn i kasse kan ikke bestilles av 1547-3 for 1547-1.")

	// The history shows the denial in bokmål too.
	res, body = w.browser(t, "1547-20001").do(http.MethodGet, "/people/1547-1", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, "Rollen lonn i kasse kan ikke bestilles av 1547-3 for 1547-1.")
	require.NotContains(t, body, "requestable_by")

	res, body = w.browser(t, HRAdviser).do(http.MethodPost, "/requests", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
}
