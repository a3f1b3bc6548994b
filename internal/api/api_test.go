package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/policy"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// The people and principals of the fixture.
const (
	ase      = "1547-10234" // works in helse, manager kjell
	kjell    = "1547-10001" // Åse's manager
	bob      = "1547-10555" // works in skole, manager other
	other    = "1547-10002" // Bob's manager
	marit    = "1547-20001" // administrator of gerica
	tor      = "1547-20009" // administrator of public360
	stranger = "1547-99999"
	// auditorPerson is a person principal who holds auditor.
	auditorPerson = "1547-77777"
	escalated     = "1547-10000" // Kjell's manager, named by a pending stage
	revisor       = "revisor"    // auditor
	drift         = "drift"      // operator
	portal        = "portal"     // on_behalf
	feed          = "feed"       // hr, no on_behalf
)

type fixture struct {
	nc      *nats.Conn
	keys    map[string]nkeys.KeyPair
	store   *sqlledger.Store
	reqAse  string // Åse's gerica grant request (sent by Kjell)
	reqBob  string // Bob's public360 request (sent by feed)
	reqRej  string // a rejected request of Bob's (no grant)
	opGrant int64  // a manual operation of Åse's gerica grant
	opAcct  int64  // account work for Bob on connector manual (no grant)
	reloads []string
}

func startNATS(t *testing.T, opts *server.Options) *nats.Conn {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second), "nats server did not start")
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func newFixture(t *testing.T, opts *server.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{keys: map[string]nkeys.KeyPair{}}
	var ps []principals.Principal
	add := func(id, kind string, caps ...string) {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		f.keys[id] = kp
		ps = append(ps, principals.Principal{ID: id, Kind: kind, Key: pub, Capabilities: caps})
	}
	for _, id := range []string{ase, kjell, bob, other, marit, tor, stranger, escalated} {
		add(id, principals.KindPerson)
	}
	add(revisor, principals.KindService, tilgang.CapAuditor)
	add(auditorPerson, principals.KindPerson, tilgang.CapAuditor)
	add(drift, principals.KindService, tilgang.CapOperator)
	add(portal, principals.KindService, tilgang.CapOnBehalf)
	add(feed, principals.KindService, tilgang.CapHR)
	set, err := principals.New(ps)
	require.NoError(t, err)

	cat := &policy.Catalogue{Version: "v1", Systems: map[string]*policy.System{
		"gerica":    {ID: "gerica", Administrators: []string{marit}, Connectors: []string{"noop", "manual"}},
		"public360": {ID: "public360", Administrators: []string{tor}, Connectors: []string{"noop"}},
	}}

	f.store, err = sqlledger.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { f.store.Close() })
	f.seed(t)

	f.nc = startNATS(t, opts)
	srv := &Server{
		Ledger: f.store, Catalogue: func() *policy.Catalogue { return cat },
		Principals: func() *principals.Set { return set },
		Verify:     func(ctx context.Context) (ledger.VerifyReport, error) { return f.store.Verify(ctx, nil) },
		Reload: func(ctx context.Context, actor string) (ReloadResult, error) {
			f.reloads = append(f.reloads, actor)
			return ReloadResult{Version: "v2"}, nil
		},
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, f.nc) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	// Wait until the subscription is in place.
	require.Eventually(t, func() bool {
		err := f.client(drift, "").Call(ctx, MethodGrants, GrantsArgs{}, nil)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return f
}

func person(id, manager, unit string) tilgang.Person {
	return tilgang.Person{ID: id, GivenName: "G", FamilyName: "F", Municipality: "1547",
		Employments: []tilgang.Employment{{ID: id + "-1", Primary: true, Percent: 100, OrgUnit: unit,
			Position: "p", Manager: manager, Start: tilgang.Date{Y: 2024, M: 8, D: 1}}}}
}

func (f *fixture) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback()
	for _, p := range []tilgang.Person{person(ase, kjell, "helse/heimeteneste"), person(bob, other, "oppvekst/skule"), person(kjell, escalated, "helse")} {
		require.NoError(t, tx.PutPerson(ledger.PersonRow{Person: p, Version: 1, Updated: now}))
	}
	f.reqAse = envelope.KeyHash(kjell, "test", "1")
	f.reqBob = envelope.KeyHash(feed, "test", "2")
	f.reqRej = envelope.KeyHash(bob, "test", "3")
	reqPending := envelope.KeyHash(kjell, "test", "4")
	grants := []ledger.Grant{
		{ID: "g-ase", Person: ase, System: "gerica", Role: "bruker", State: tilgang.StateActive, RequestID: f.reqAse,
			Requester: kjell, Approvers: []string{marit}, ValidUntil: tilgang.Date{Y: 2027, M: 6, D: 30}, Created: now, Updated: now},
		{ID: "g-bob", Person: bob, System: "public360", Role: "saksbehandler", State: tilgang.StatePendingApproval,
			RequestID: f.reqBob, Requester: feed, Created: now, Updated: now},
		{ID: "g-kjell", Person: kjell, System: "gerica", Role: "superbruker", State: tilgang.StatePendingApproval,
			RequestID: reqPending, Requester: kjell, StagePrincipal: escalated, Created: now, Updated: now},
	}
	for _, g := range grants {
		require.NoError(t, tx.InsertGrant(g))
	}
	for _, r := range []ledger.Request{
		{ID: f.reqAse, Person: ase, System: "gerica", Role: "bruker", Action: "grant", Actor: kjell, GrantID: "g-ase", Outcome: "accepted", Reason: "ny i heimetenesta", At: now},
		{ID: f.reqBob, Person: bob, System: "public360", Role: "saksbehandler", Action: "grant", Actor: feed, GrantID: "g-bob", Outcome: "accepted", At: now},
		{ID: f.reqRej, Person: bob, System: "gerica", Role: "admin", Action: "grant", Actor: bob, Outcome: "rejected", Why: "bob may not ask for gerica/admin", At: now},
		{ID: reqPending, Person: kjell, System: "gerica", Role: "superbruker", Action: "grant", Actor: kjell, GrantID: "g-kjell", Outcome: "accepted", At: now},
	} {
		require.NoError(t, tx.InsertRequest(r))
	}
	f.opGrant, err = tx.InsertOperation(ledger.Operation{GrantID: "g-ase", Person: ase, Connector: "manual", Kind: ledger.KindGrant,
		Entitlement: "Gerica: Bruker", State: ledger.OpWaiting, DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	f.opAcct, err = tx.InsertOperation(ledger.Operation{Person: bob, Connector: "manual", Kind: ledger.KindEnsureAccount,
		State: ledger.OpWaiting, DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	for _, e := range []ledger.AuditEntry{
		{At: now, Kind: "grant.state", Person: ase, Actor: kjell, System: "gerica", Role: "bruker", GrantID: "g-ase", RequestID: f.reqAse, To: "active", Catalogue: "v1", Text: "ny i heimetenesta"},
		{At: now, Kind: "grant.state", Person: bob, Actor: feed, System: "public360", Role: "saksbehandler", GrantID: "g-bob", RequestID: f.reqBob, To: "pending_approval", Catalogue: "v1"},
		{At: now, Kind: "grant.state", Person: kjell, Actor: kjell, System: "gerica", Role: "superbruker", GrantID: "g-kjell", RequestID: reqPending, To: "pending_approval", Catalogue: "v1"},
		{At: now, Kind: "operation.done", Person: ase, GrantID: "g-ase"},
		{At: now, Kind: "person.updated", Person: bob},
		{At: now, Kind: "catalogue.loaded", Catalogue: "v1"},
	} {
		tx.Audit(e)
	}
	require.NoError(t, tx.Commit())
}

func (f *fixture) client(actor, via string) *Client {
	signer := actor
	if via != "" {
		signer = via
	}
	return &Client{NC: f.nc, Key: f.keys[signer], Actor: actor, Via: via, Timeout: 5 * time.Second}
}

func kindOf(err error) tilgang.Kind {
	if err == nil {
		return ""
	}
	return tilgang.KindOf(err)
}

func TestStatusVisibility(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name    string
		actor   string
		via     string
		request string
		kind    tilgang.Kind
		state   string
	}{
		{name: "the person", actor: ase, request: f.reqAse, state: "active"},
		{name: "the person's manager", actor: kjell, request: f.reqAse, state: "active"},
		{name: "an administrator of the system", actor: marit, request: f.reqAse, state: "active"},
		{name: "an administrator of another system", actor: tor, request: f.reqAse, kind: tilgang.Denied},
		{name: "a stranger", actor: stranger, request: f.reqAse, kind: tilgang.Denied},
		{name: "a stranger via a portal is still a stranger", actor: stranger, via: portal, request: f.reqAse, kind: tilgang.Denied},
		{name: "the manager via a portal", actor: kjell, via: portal, request: f.reqAse, state: "active"},
		{name: "an auditor", actor: revisor, request: f.reqAse, state: "active"},
		{name: "an operator", actor: drift, request: f.reqBob, state: "pending_approval"},
		{name: "the sender of the request", actor: feed, request: f.reqBob, state: "pending_approval"},
		{name: "a rejected request without a grant", actor: bob, request: f.reqRej, state: "rejected"},
		{name: "the administrator of the requested system sees a rejection", actor: marit, request: f.reqRej, state: "rejected"},
		{name: "an unknown request is unknown to anyone", actor: stranger, request: strings.Repeat("ab", 32), state: StateUnknown},
		{name: "a malformed request id", actor: ase, request: "abc", kind: tilgang.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st Status
			err := f.client(tc.actor, tc.via).Call(ctx, MethodStatus, StatusArgs{RequestID: tc.request}, &st)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind != "" {
				require.NotContains(t, err.Error(), "gerica", "a refusal must not say what the request is about")
				return
			}
			require.Equal(t, tc.request, st.RequestID)
			require.Equal(t, tc.state, st.State)
		})
	}

	t.Run("fields", func(t *testing.T) {
		var st Status
		require.NoError(t, f.client(ase, "").Call(ctx, MethodStatus, StatusArgs{RequestID: f.reqAse}, &st))
		require.Equal(t, Status{RequestID: f.reqAse, GrantID: "g-ase", State: "active", Outcome: "accepted",
			Person: ase, System: "gerica", Role: "bruker", Action: "grant"}, st)
		var rej Status
		require.NoError(t, f.client(bob, "").Call(ctx, MethodStatus, StatusArgs{RequestID: f.reqRej}, &rej))
		require.Equal(t, "bob may not ask for gerica/admin", rej.Why)
		require.Equal(t, "", rej.GrantID)
	})

	t.Run("many", func(t *testing.T) {
		ids := []string{f.reqAse, f.reqBob, strings.Repeat("cd", 32)}
		var sts []Status
		require.NoError(t, f.client(kjell, "").Call(ctx, MethodStatusMany, StatusManyArgs{RequestIDs: ids}, &sts))
		require.Len(t, sts, 3)
		require.Equal(t, "active", sts[0].State)
		require.Equal(t, Status{RequestID: f.reqBob, State: StateUnknown}, sts[1], "not visible: reported as unknown")
		require.Equal(t, StateUnknown, sts[2].State)
	})
}

func TestGrantsVisibility(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		actor string
		args  GrantsArgs
		want  []string
	}{
		{name: "the person", actor: ase, want: []string{"g-ase"}},
		{name: "a manager sees staff and own", actor: kjell, want: []string{"g-ase", "g-kjell"}},
		{name: "a manager of another", actor: other, want: []string{"g-bob"}},
		{name: "an administrator sees the system", actor: marit, want: []string{"g-ase", "g-kjell"}},
		{name: "an administrator filtered by another system", actor: marit, args: GrantsArgs{System: "public360"}, want: []string{}},
		{name: "the escalated approver sees the pending grant", actor: escalated, want: []string{"g-kjell"}},
		{name: "a stranger sees nothing", actor: stranger, want: []string{}},
		{name: "a service with hr sees nothing", actor: feed, want: []string{}},
		{name: "an auditor sees everything", actor: revisor, want: []string{"g-ase", "g-bob", "g-kjell"}},
		{name: "an operator filtered by person", actor: drift, args: GrantsArgs{Person: bob}, want: []string{"g-bob"}},
		{name: "open only", actor: drift, args: GrantsArgs{System: "gerica", OpenOnly: true}, want: []string{"g-ase", "g-kjell"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gs []Grant
			require.NoError(t, f.client(tc.actor, "").Call(ctx, MethodGrants, tc.args, &gs))
			ids := []string{}
			for _, g := range gs {
				ids = append(ids, g.ID)
			}
			require.ElementsMatch(t, tc.want, ids)
		})
	}

	t.Run("one grant", func(t *testing.T) {
		cases := []struct {
			name  string
			actor string
			grant string
			kind  tilgang.Kind
		}{
			{name: "manager", actor: kjell, grant: "g-ase"},
			{name: "administrator of another system", actor: tor, grant: "g-ase", kind: tilgang.Denied},
			{name: "stranger", actor: stranger, grant: "g-bob", kind: tilgang.Denied},
			{name: "escalated approver", actor: escalated, grant: "g-kjell"},
			{name: "missing", actor: drift, grant: "g-none", kind: tilgang.NotFound},
			{name: "malformed", actor: drift, grant: "g/1", kind: tilgang.Invalid},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var d GrantDetail
				err := f.client(tc.actor, "").Call(ctx, MethodGrant, GrantArgs{GrantID: tc.grant}, &d)
				require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
				if tc.kind == "" {
					require.Equal(t, tc.grant, d.ID)
				}
			})
		}
		var d GrantDetail
		require.NoError(t, f.client(ase, "").Call(ctx, MethodGrant, GrantArgs{GrantID: "g-ase"}, &d))
		require.Equal(t, []string{marit}, d.Approvers)
		require.Equal(t, "2027-06-30", d.ValidUntil.String())
		require.Len(t, d.Operations, 1)
		require.Equal(t, "manual", d.Operations[0].Connector)
		require.Equal(t, "waiting", d.Operations[0].State)
	})
}

func TestOperationVisibility(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	tests := []struct {
		name   string
		actor  string
		op     string
		kind   tilgang.Kind
		person string
	}{
		{name: "administrator of the grant's system", actor: marit, op: id(f.opGrant), person: ase},
		{name: "administrator of another system", actor: tor, op: id(f.opGrant), kind: tilgang.Denied},
		{name: "account work: administrator of a system on its connector that the person has no grant in", actor: marit, op: id(f.opAcct), kind: tilgang.Denied},
		{name: "account work: administrator of a system not on its connector", actor: tor, op: id(f.opAcct), kind: tilgang.Denied},
		{name: "the person", actor: bob, op: id(f.opAcct), person: bob},
		{name: "stranger", actor: stranger, op: id(f.opGrant), kind: tilgang.Denied},
		{name: "missing", actor: drift, op: "999999", kind: tilgang.NotFound},
		{name: "malformed", actor: drift, op: "x1", kind: tilgang.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var op Operation
			err := f.client(tc.actor, "").Call(ctx, MethodOperation, OperationArgs{OperationID: tc.op}, &op)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind == "" {
				require.Equal(t, tc.person, op.Person)
				require.Equal(t, tc.op, op.ID)
			}
		})
	}
}

func TestAuditVisibility(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		actor string
		args  AuditArgs
		want  []string // "kind person"
	}{
		{name: "the person", actor: ase, want: []string{"grant.state " + ase, "operation.done " + ase}},
		{name: "a manager", actor: other, want: []string{"grant.state " + bob, "person.updated " + bob}},
		{name: "an administrator, with the grant's rows without a system", actor: marit, want: []string{"grant.state " + ase, "grant.state " + kjell, "operation.done " + ase}},
		{name: "an administrator of another system", actor: tor, want: []string{"grant.state " + bob}},
		{name: "a stranger", actor: stranger, want: []string{}},
		{name: "an auditor sees rows about nobody too", actor: revisor, args: AuditArgs{Person: bob},
			want: []string{"grant.state " + bob, "person.updated " + bob}},
		{name: "an auditor, everything", actor: revisor, want: []string{"grant.state " + ase, "grant.state " + bob, "grant.state " + kjell, "operation.done " + ase, "person.updated " + bob, "catalogue.loaded "}},
		{name: "since tomorrow", actor: revisor, args: AuditArgs{Since: tilgang.DateOf(time.Now().Add(48 * time.Hour)).String()}, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows []AuditRow
			require.NoError(t, f.client(tc.actor, "").Call(ctx, MethodAudit, tc.args, &rows))
			got := []string{}
			for _, r := range rows {
				got = append(got, r.Kind+" "+r.Person)
			}
			require.Equal(t, tc.want, got)
		})
	}
	var rows []AuditRow
	require.NoError(t, f.client(ase, "").Call(ctx, MethodAudit, AuditArgs{}, &rows))
	require.Equal(t, "ny i heimetenesta", rows[0].Text)
	require.Equal(t, int64(1), rows[0].Seq)

	err := f.client(ase, "").Call(ctx, MethodAudit, AuditArgs{Since: "yesterday"}, nil)
	require.Equal(t, tilgang.Invalid, kindOf(err))
	for _, c := range []struct {
		method string
		args   any
		names  string
	}{
		{MethodAudit, AuditArgs{Person: "Åse Øvergård"}, "is not a person id"},
		{MethodAudit, AuditArgs{System: "ger ica"}, "is not a system id"},
		{MethodGrants, GrantsArgs{Person: "1547 1"}, "is not a person id"},
		{MethodGrants, GrantsArgs{System: "*"}, "is not a system id"},
	} {
		err := f.client(ase, "").Call(ctx, c.method, c.args, nil)
		require.Equal(t, tilgang.Invalid, kindOf(err), "%s %+v: %v", c.method, c.args, err)
		require.ErrorContains(t, err, c.names)
	}
}

func TestAdmin(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		actor  string
		via    string
		method string
		kind   tilgang.Kind
	}{
		{name: "verify by an auditor", actor: revisor, method: MethodAuditVerify},
		{name: "verify by an operator", actor: drift, method: MethodAuditVerify},
		{name: "verify by an administrator", actor: marit, method: MethodAuditVerify, kind: tilgang.Denied},
		{name: "reload by an operator", actor: drift, method: MethodPolicyReload},
		{name: "reload by an operator via a portal", actor: drift, via: portal, method: MethodPolicyReload, kind: tilgang.Denied},
		{name: "reload by an auditor", actor: revisor, method: MethodPolicyReload, kind: tilgang.Denied},
		{name: "reload by the portal itself", actor: portal, method: MethodPolicyReload, kind: tilgang.Denied},
		{name: "an unknown method", actor: drift, method: "drop.tables", kind: tilgang.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out json.RawMessage
			err := f.client(tc.actor, tc.via).Call(ctx, tc.method, nil, &out)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
		})
	}
	var rep VerifyReport
	require.NoError(t, f.client(revisor, "").Call(ctx, MethodAuditVerify, nil, &rep))
	require.True(t, rep.OK, "problem: %s", rep.Problem)
	require.Equal(t, int64(6), rep.Rows)
	var rr ReloadResult
	require.NoError(t, f.client(drift, "").Call(ctx, MethodPolicyReload, nil, &rr))
	require.Equal(t, "v2", rr.Version)
	require.Equal(t, []string{drift, drift}, f.reloads)
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	raw := func(t *testing.T, method string, body []byte) Response {
		t.Helper()
		m, err := f.nc.Request("tilgang.api."+method, body, 5*time.Second)
		require.NoError(t, err)
		var r Response
		require.NoError(t, json.Unmarshal(m.Data, &r))
		return r
	}
	body := func(t *testing.T, c *Client, method string, args any) []byte {
		t.Helper()
		b, err := c.body(method, args)
		require.NoError(t, err)
		return b
	}
	edit := func(t *testing.T, b []byte, fn func(map[string]any)) []byte {
		t.Helper()
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		fn(m)
		out, err := json.Marshal(m)
		require.NoError(t, err)
		return out
	}
	statusArgs := StatusArgs{RequestID: f.reqAse}
	tests := []struct {
		name string
		body func(t *testing.T) []byte
		kind tilgang.Kind
		msg  string
	}{
		{name: "signed by the actor", body: func(t *testing.T) []byte { return body(t, f.client(ase, ""), MethodStatus, statusArgs) }},
		{name: "forged: signed by another key", kind: tilgang.Denied, msg: "bad signature", body: func(t *testing.T) []byte {
			c := f.client(ase, "")
			c.Key = f.keys[stranger]
			return body(t, c, MethodStatus, statusArgs)
		}},
		{name: "forged: args changed after signing", kind: tilgang.Denied, msg: "bad signature", body: func(t *testing.T) []byte {
			return edit(t, body(t, f.client(stranger, ""), MethodStatus, StatusArgs{RequestID: f.reqRej}), func(m map[string]any) {
				m["args"] = map[string]any{"request_id": f.reqAse}
			})
		}},
		{name: "forged: actor changed after signing", kind: tilgang.Denied, msg: "bad signature", body: func(t *testing.T) []byte {
			return edit(t, body(t, f.client(stranger, portal), MethodStatus, statusArgs), func(m map[string]any) { m["actor"] = kjell })
		}},
		{name: "signed for another method", kind: tilgang.Denied, msg: "bad signature", body: func(t *testing.T) []byte {
			return body(t, f.client(ase, ""), MethodGrants, statusArgs) // sent to status below
		}},
		{name: "unsigned", kind: tilgang.Denied, msg: "unsigned", body: func(t *testing.T) []byte {
			return edit(t, body(t, f.client(ase, ""), MethodStatus, statusArgs), func(m map[string]any) { delete(m, "sig") })
		}},
		{name: "malformed signature", kind: tilgang.Denied, msg: "bad signature", body: func(t *testing.T) []byte {
			return edit(t, body(t, f.client(ase, ""), MethodStatus, statusArgs), func(m map[string]any) { m["sig"] = "!!" })
		}},
		{name: "unknown signer", kind: tilgang.Denied, msg: "unknown signer", body: func(t *testing.T) []byte {
			c := f.client("1547-55555", "")
			c.Key = f.keys[ase]
			return body(t, c, MethodStatus, statusArgs)
		}},
		{name: "via without on_behalf", kind: tilgang.Denied, msg: "on_behalf", body: func(t *testing.T) []byte {
			return body(t, f.client(kjell, feed), MethodStatus, statusArgs)
		}},
		{name: "a person as via", kind: tilgang.Denied, msg: "on_behalf", body: func(t *testing.T) []byte {
			return body(t, f.client(ase, kjell), MethodStatus, statusArgs)
		}},
		{name: "stale time", kind: tilgang.Denied, msg: "off the worker's clock", body: func(t *testing.T) []byte {
			c := f.client(ase, "")
			c.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) }
			return body(t, c, MethodStatus, statusArgs)
		}},
		{name: "time in the future", kind: tilgang.Denied, msg: "off the worker's clock", body: func(t *testing.T) []byte {
			c := f.client(ase, "")
			c.Now = func() time.Time { return time.Now().Add(6 * time.Minute) }
			return body(t, c, MethodStatus, statusArgs)
		}},
		{name: "slightly off is fine", body: func(t *testing.T) []byte {
			c := f.client(ase, "")
			c.Now = func() time.Time { return time.Now().Add(-4 * time.Minute) }
			return body(t, c, MethodStatus, statusArgs)
		}},
		{name: "unknown field", kind: tilgang.Invalid, msg: "unknown field", body: func(t *testing.T) []byte {
			return edit(t, body(t, f.client(ase, ""), MethodStatus, statusArgs), func(m map[string]any) { m["admin"] = true })
		}},
		{name: "repeated field", kind: tilgang.Invalid, msg: "repeated", body: func(t *testing.T) []byte {
			b := body(t, f.client(stranger, ""), MethodStatus, statusArgs)
			return []byte(`{"actor":"` + revisor + `",` + string(b[1:]))
		}},
		{name: "not JSON", kind: tilgang.Invalid, body: func(t *testing.T) []byte { return []byte("status please") }},
		{name: "unknown args field", kind: tilgang.Invalid, msg: "unknown field", body: func(t *testing.T) []byte {
			return body(t, f.client(ase, ""), MethodStatus, map[string]string{"request_id": f.reqAse, "requestid": "x"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := raw(t, MethodStatus, tc.body(t))
			if tc.kind == "" {
				require.True(t, r.OK, "error: %+v", r.Error)
				return
			}
			require.False(t, r.OK)
			require.Equal(t, tc.kind, r.Error.Kind, r.Error.Message)
			require.Contains(t, r.Error.Message, tc.msg)
		})
	}

	t.Run("replay", func(t *testing.T) {
		b := body(t, f.client(ase, ""), MethodStatus, statusArgs)
		require.True(t, raw(t, MethodStatus, b).OK)
		r := raw(t, MethodStatus, b)
		require.False(t, r.OK)
		require.Equal(t, tilgang.Denied, r.Error.Kind)
		require.Contains(t, r.Error.Message, "replayed")
	})

	t.Run("unknown method", func(t *testing.T) {
		err := f.client(ase, "").Call(ctx, "nobody.listens", nil, nil)
		require.Equal(t, tilgang.NotFound, kindOf(err), "tilgang.api.> catches every method: the server answers")
	})
}

func TestNoResponders(t *testing.T) {
	nc := startNATS(t, nil)
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	c := &Client{NC: nc, Key: kp, Actor: "dev", Timeout: 2 * time.Second}
	err = c.Call(context.Background(), MethodStatus, StatusArgs{RequestID: strings.Repeat("a", 64)}, nil)
	require.Equal(t, tilgang.Unavailable, kindOf(err))
	require.Contains(t, err.Error(), "no tilgang worker answers")
}

func TestLargeAnswerInParts(t *testing.T) {
	f := newFixture(t, &server.Options{MaxPayload: 4096})
	ctx := context.Background()
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	long := strings.Repeat("lang grunngjeving ", 60)
	for range 40 {
		tx.Audit(ledger.AuditEntry{At: time.Now(), Kind: "request.accepted", Person: ase, System: "gerica", Text: long})
	}
	require.NoError(t, tx.Commit())
	var rows []AuditRow
	require.NoError(t, f.client(revisor, "").Call(ctx, MethodAudit, AuditArgs{Person: ase}, &rows))
	require.Equal(t, 42, len(rows), "Åse's two rows and the 40 long ones")
	require.Equal(t, long, rows[41].Text)
}

func TestTasksVisibility(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	insert := func(o ledger.Operation) int64 {
		t.Helper()
		o.NextAt, o.Created, o.Updated = o.DueAt, now, now
		id, err := tx.InsertOperation(o)
		require.NoError(t, err)
		return id
	}
	// Account work belongs to the systems on its connector in which the
	// person has a grant: Bob has gerica (on manual) and Kjell both systems
	// (on noop).
	for _, g := range []ledger.Grant{
		{ID: "g-bob-gerica", Person: bob, System: "gerica", Role: "bruker", State: tilgang.StateActive, Requester: other, Created: now, Updated: now},
		{ID: "g-kjell-360", Person: kjell, System: "public360", Role: "saksbehandler", State: tilgang.StateActive, Requester: escalated, Created: now, Updated: now},
	} {
		require.NoError(t, tx.InsertGrant(g))
	}
	// Besides the fixture's two tasks (Åse's gerica grant, Bob's account on manual):
	opBob := insert(ledger.Operation{GrantID: "g-bob", Person: bob, Connector: "manual", Kind: ledger.KindGrant,
		Entitlement: "360: Saksbehandler", State: ledger.OpWaiting, DueAt: now.Add(-time.Hour)}) // the oldest
	opKjell := insert(ledger.Operation{Person: kjell, Connector: "noop", Kind: ledger.KindEnsureAccount,
		State: ledger.OpWaiting, DueAt: now.Add(time.Hour)}) // account work on a connector both systems use
	insert(ledger.Operation{GrantID: "g-ase", Person: ase, Connector: "manual", Kind: ledger.KindGrant,
		Entitlement: "Gerica: Les", State: ledger.OpDone, DueAt: now.Add(-2 * time.Hour)})
	insert(ledger.Operation{GrantID: "g-ase", Person: ase, Connector: "noop", Kind: ledger.KindGrant,
		Entitlement: "x", State: ledger.OpQueued, DueAt: now.Add(-2 * time.Hour)})
	require.NoError(t, tx.Commit())
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	all := []string{id(opBob), id(f.opGrant), id(f.opAcct), id(opKjell)}

	tests := []struct {
		name  string
		actor string
		via   string
		args  TasksArgs
		want  []string
		kind  tilgang.Kind
	}{
		{name: "an operator sees every waiting one, oldest first", actor: drift, want: all},
		{name: "an auditor too", actor: revisor, want: all},
		{name: "the person", actor: ase, want: []string{id(f.opGrant)}},
		{name: "a manager: staff's and own", actor: kjell, want: []string{id(f.opGrant), id(opKjell)}},
		{name: "a manager via a portal", actor: kjell, via: portal, want: []string{id(f.opGrant), id(opKjell)}},
		{name: "another manager", actor: other, want: []string{id(opBob), id(f.opAcct)}},
		{name: "an administrator: the system's grants and account work on its connectors", actor: marit,
			want: []string{id(f.opGrant), id(f.opAcct), id(opKjell)}},
		{name: "another administrator", actor: tor, want: []string{id(opBob), id(opKjell)}},
		{name: "an administrator filtered by another system", actor: marit, args: TasksArgs{System: "public360"}, want: []string{id(opKjell)}},
		{name: "an operator filtered by system", actor: drift, args: TasksArgs{System: "gerica"}, want: []string{id(f.opGrant), id(f.opAcct), id(opKjell)}},
		{name: "an operator filtered by the other system", actor: drift, args: TasksArgs{System: "public360"}, want: []string{id(opBob), id(opKjell)}},
		{name: "an unknown system has no tasks", actor: drift, args: TasksArgs{System: "ukjent"}, want: []string{}},
		{name: "a stranger sees nothing", actor: stranger, want: []string{}},
		{name: "a stranger via a portal is still a stranger", actor: stranger, via: portal, want: []string{}},
		{name: "a service with hr sees nothing", actor: feed, want: []string{}},
		{name: "a malformed system", actor: drift, args: TasksArgs{System: "ger ica"}, kind: tilgang.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ts []Task
			err := f.client(tc.actor, tc.via).Call(ctx, MethodTasks, tc.args, &ts)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind != "" {
				return
			}
			got := []string{}
			for _, task := range ts {
				got = append(got, task.OperationID)
			}
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("fields", func(t *testing.T) {
		since := func(n int64) time.Time {
			o, err := f.store.Operation(ctx, n)
			require.NoError(t, err)
			return o.Updated.UTC()
		}
		var ts []Task
		require.NoError(t, f.client(drift, "").Call(ctx, MethodTasks, nil, &ts))
		require.Len(t, ts, 4)
		require.Equal(t, Task{OperationID: id(opBob), Person: bob, GrantID: "g-bob", System: "public360", Role: "saksbehandler",
			Kind: ledger.KindGrant, Connector: "manual", Entitlement: "360: Saksbehandler", Since: now, Administrators: []string{tor}}, ts[0])
		require.Equal(t, Task{OperationID: id(f.opGrant), Person: ase, GrantID: "g-ase", System: "gerica", Role: "bruker",
			Kind: ledger.KindGrant, Connector: "manual", Entitlement: "Gerica: Bruker", Since: since(f.opGrant), Administrators: []string{marit}}, ts[1])
		require.Equal(t, Task{OperationID: id(f.opAcct), Person: bob, Kind: ledger.KindEnsureAccount, Connector: "manual",
			Since: since(f.opAcct), Administrators: []string{marit}}, ts[2], "account work: no grant, system or role; the administrators of the systems on manual")
		require.Equal(t, []string{marit, tor}, ts[3].Administrators, "account work on noop: both systems' administrators")
	})

	t.Run("json shape", func(t *testing.T) {
		var raw []map[string]any
		require.NoError(t, f.client(bob, "").Call(ctx, MethodTasks, TasksArgs{}, &raw))
		require.Len(t, raw, 2)
		acct := raw[1]
		for _, k := range []string{"operation_id", "person", "grant_id", "system", "role", "kind", "connector", "entitlement", "since", "administrators"} {
			require.Contains(t, acct, k, "every task has %s, empty or not", k)
		}
		require.Equal(t, "", acct["role"])
		require.Equal(t, []any{marit}, acct["administrators"])
	})

	t.Run("a task done is gone", func(t *testing.T) {
		tx, err := f.store.Begin(ctx)
		require.NoError(t, err)
		o, err := tx.Operation(f.opGrant)
		require.NoError(t, err)
		o.State = ledger.OpDone
		require.NoError(t, tx.UpdateOperation(*o, 0))
		require.NoError(t, tx.Commit())
		var ts []Task
		require.NoError(t, f.client(ase, "").Call(ctx, MethodTasks, nil, &ts))
		require.Empty(t, ts)
		require.NotNil(t, ts, "an empty list, not null")
	})

	t.Run("unknown args field", func(t *testing.T) {
		err := f.client(drift, "").Call(ctx, MethodTasks, map[string]string{"systems": "gerica"}, nil)
		require.Equal(t, tilgang.Invalid, kindOf(err), "err: %v", err)
	})
}

// A failed grant's status says why, in the target's own words.
func TestStatusOfFailedGrantSaysWhy(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := f.store.Begin(ctx)
	require.NoError(t, err)
	req := envelope.KeyHash(kjell, "test", "failed")
	g := ledger.Grant{ID: "g-failed", Person: ase, System: "gerica", Role: "superbruker", State: tilgang.StateFailed, RequestID: req, Requester: kjell, Created: now, Updated: now}
	require.NoError(t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: ase, System: "gerica", Role: "superbruker", GrantID: g.ID, To: "failed"})
	require.NoError(t, tx.InsertRequest(ledger.Request{ID: req, Person: ase, System: "gerica", Role: "superbruker", Action: "grant", Actor: kjell, GrantID: g.ID, Outcome: "accepted", At: now}))
	_, err = tx.InsertOperation(ledger.Operation{GrantID: g.ID, Person: ase, Connector: "ad", Kind: ledger.KindGrant, Entitlement: "CN=APP-Gerica",
		State: ledger.OpFailed, LastError: "ad: grant CN=APP-Gerica: insufficientAccessRights (50): 00002098: no write access", DueAt: now, NextAt: now, Created: now, Updated: now})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	var st Status
	require.NoError(t, f.client(kjell, "").Call(ctx, MethodStatus, StatusArgs{RequestID: req}, &st))
	require.Equal(t, "failed", st.State)
	require.Contains(t, st.Why, "insufficientAccessRights (50): 00002098: no write access")
	require.Contains(t, st.Why, "on ad")
}
