package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/graphemu"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestEndToEndWorker goes through the real worker and NATS: an HR joiner,
// a request, an approval by the systemansvarlig, and then the user and its
// membership visible in the emulator over plain HTTP, as Graph shows them.
func TestEndToEndWorker(t *testing.T) {
	x := newEnv(t, graphemu.Faults{}, nil)
	group := x.emu.AddGroup("APP-Gerica-Bruker", false)
	cat := map[string]string{"gerica.yaml": fmt.Sprintf(`system: gerica
name: Gerica
owner: Helse og omsorg
administrators: [1547-20001]
connectors: [entra]
roles:
  - id: bruker
    entitlements: {entra: [%q]}
    requestable_by: [manager]
    approval: [systemansvarlig]
`, group)}
	e := testenv.StartWorker(t, connectors.Set{"entra": x.c, "manual": manual.Connector{}}, []string{"manual"}, cat)
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "gerica", Role: "bruker", Reason: "pleie"})
	gid := e.Wait("approval.pending", "1547-1", testenv.ForRequest(id)).Data["grant_id"].(string)
	e.Send(tilgang.TypeDecision, "1547-1", "1547-20001", envelope.Decision{RequestID: id, Decision: "approve", Comment: "ok"})
	e.Wait("grant.active", "1547-1", testenv.ForGrant(gid))

	// What Graph itself answers: the user by employeeId, and the group's members.
	tok := token(t, x)
	var users struct {
		Value []map[string]any `json:"value"`
	}
	getJSON(t, x.srv.URL+"/v1.0/users?$select=id,accountEnabled,employeeId&$filter="+url.QueryEscape("employeeId eq '1547-1'"), tok, &users)
	require.Len(t, users.Value, 1, "one user, found by its employee id")
	require.Equal(t, true, users.Value[0]["accountEnabled"])
	require.Equal(t, []string{users.Value[0]["id"].(string)}, x.emu.Members(group), "the member exactly once")
	var members struct {
		Value []map[string]any `json:"value"`
	}
	getJSON(t, x.srv.URL+"/v1.0/groups/"+group+"/members", tok, &members)
	require.Len(t, members.Value, 1)
}

func token(t *testing.T, x *env) string {
	resp, err := http.PostForm(x.srv.URL+"/ror-test/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"app"}, "client_secret": {testSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, decode(resp, &tok))
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

func getJSON(t *testing.T, u, tok string, out any) {
	req, err := http.NewRequest("GET", u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, u)
	require.NoError(t, decode(resp, out))
}

func decode(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}
