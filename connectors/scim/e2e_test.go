package scim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/manual"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestEndToEndWorker goes through the real worker and NATS: an HR joiner,
// a request, an approval by the systemansvarlig, and then the user and its
// membership visible in the SCIM peer with a plain SCIM GET.
func TestEndToEndWorker(t *testing.T) {
	a := newAdmin(t)
	groupName, gid := a.makeGroup("Visma-Lonn-Bruker")
	conn := openTest(t, "", nil)
	cat := map[string]string{"lonn.yaml": fmt.Sprintf(`system: lonn
name: Lønn (SCIM)
owner: Personal og lønn
administrators: [1547-20001]
connectors: [scim]
roles:
  - id: bruker
    entitlements: {scim: [%q]}
    requestable_by: [manager]
    approval: [systemansvarlig]
`, groupName)}
	e := testenv.StartWorker(t, connectors.Set{"scim": conn, "manual": manual.Connector{}}, cat)
	people := testenv.People()
	employee := people[0]
	employee.ID = "1547-" + runID + fmt.Sprint(seq.Add(1))
	employee.Email = employee.ID + "@aukra.kommune.no"
	e.Joiner(append(people[1:], employee)...)

	id := e.Send(tilgang.TypeRequest, employee.ID, "1547-2", envelope.Request{Action: "grant", System: "lonn", Role: "bruker", Reason: "lønnsarbeid"})
	gidGrant := e.Wait("approval.pending", employee.ID, testenv.ForRequest(id)).Data["grant_id"].(string)
	e.Send(tilgang.TypeDecision, employee.ID, "1547-20001", envelope.Decision{RequestID: id, Decision: "approve", Comment: "ok"})
	e.Wait("grant.active", employee.ID, testenv.ForGrant(gidGrant))

	users := a.users(fmt.Sprintf(`externalId eq "%s"`, employee.ID))
	require.Len(t, users, 1, "one user, found by its employee number")
	require.Equal(t, employee.Email, users[0]["userName"])
	require.Equal(t, true, users[0]["active"])
	require.Equal(t, 1, a.memberCount(gid, users[0]["id"].(string)), "a member exactly once")
}
