package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
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
	e := testenv.StartWorker(t, connectors.Set{"entra": x.c, "manual": manual.Connector{}}, cat)
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

// counting counts how the executor calls the connector.
type counting struct {
	*Connector
	grants, grantMany, accountsInMany atomic.Int64
}

func (c *counting) Grant(ctx context.Context, a connectors.Account, ent string) error {
	c.grants.Add(1)
	return c.Connector.Grant(ctx, a, ent)
}

func (c *counting) GrantMany(ctx context.Context, as []connectors.Account, ent string) []error {
	c.grantMany.Add(1)
	c.accountsInMany.Add(int64(len(as)))
	return c.Connector.GrantMany(ctx, as, ent)
}

// TestBulkThroughTheExecutor: many people given one group at once go out
// through GrantMany (odata.bind and $batch), each membership exactly once.
func TestBulkThroughTheExecutor(t *testing.T) {
	x := newEnv(t, graphemu.Faults{}, nil)
	first := x.emu.AddGroup("APP-Visma-Ansatt", false)
	group := x.emu.AddGroup("APP-Visma-Kurs", false)
	cat := map[string]string{"visma.yaml": fmt.Sprintf(`system: visma
name: Visma
owner: Personal
administrators: [1547-20001]
connectors: [entra]
roles:
  - id: ansatt
    entitlements: {entra: [%q]}
    requestable_by: [hr]
    approval: []
  - id: kurs
    entitlements: {entra: [%q]}
    requestable_by: [hr]
    approval: []
`, first, group)}
	conn := &counting{Connector: x.c}
	e := testenv.StartWorker(t, connectors.Set{"entra": conn, "manual": manual.Connector{}}, cat)
	base := testenv.People()[0]
	var people []tilgang.Person
	for i := 0; i < 30; i++ {
		p := base
		p.ID = fmt.Sprintf("1547-%d", 7000+i)
		people = append(people, p)
	}
	e.Joiner(people...)
	// First the accounts (joiners of one name, made side by side, each get
	// their own userPrincipalName), then a wave of one group for everyone.
	for _, p := range people {
		e.Send(tilgang.TypeRequest, p.ID, "hr", envelope.Request{Action: "grant", System: "visma", Role: "ansatt", Reason: "alle ansatte"})
	}
	for _, p := range people {
		e.Wait("grant.active", p.ID, nil)
	}
	require.Len(t, x.emu.Members(first), len(people))
	conn.grants.Store(0)
	conn.grantMany.Store(0)
	conn.accountsInMany.Store(0)
	for _, p := range people {
		e.Send(tilgang.TypeRequest, p.ID, "hr", envelope.Request{Action: "grant", System: "visma", Role: "kurs", Reason: "kurs for alle"})
	}
	for _, p := range people {
		e.Wait("grant.active", p.ID, func(ev testenv.Event) bool { return ev.Data["role"] == "kurs" })
	}
	require.Len(t, x.emu.Members(group), len(people), "every member, once")
	require.Positive(t, conn.grantMany.Load(), "the executor used the bulk path")
	require.EqualValues(t, len(people), conn.grants.Load()+conn.accountsInMany.Load(), "every grant once")
	t.Logf("%d single grants, %d bulk calls for %d accounts", conn.grants.Load(), conn.grantMany.Load(), conn.accountsInMany.Load())
}
