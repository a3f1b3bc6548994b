package scim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/connectortest"
)

var ctx = context.Background()

func TestContract(t *testing.T) {
	adm := newAdmin(t)
	group, gid := adm.makeGroup("APP-Visma-Bruker")
	c := openTest(t, "", nil)
	connectortest.Run(t, connectortest.Target{
		Connector:   c,
		Person:      func(t *testing.T) tilgang.Person { return person("Åse", "Øvergård-Bø") },
		Entitlement: group,
		Member: func(t *testing.T, a connectors.Account, e string) bool {
			n := adm.memberCount(gid, a.Ref["id"])
			require.LessOrEqual(t, n, 1, "a member is listed once")
			return n == 1
		},
		Enabled: func(t *testing.T, a connectors.Account) bool {
			status, u := adm.call("GET", "/Users/"+a.Ref["id"], nil)
			require.Equal(t, 200, status)
			return u["active"] == true
		},
	})
}

func ensure(t *testing.T, c *Connector, p tilgang.Person) connectors.Account {
	t.Helper()
	ref, err := c.Resolve(ctx, p, nil)
	require.NoError(t, err)
	a := connectors.Account{Person: p, Ref: ref}
	a.Ref, _, err = c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	return a
}

// Create sends the user as the issue lists it; an existing user (by
// externalId, or by userName without one) is adopted, never duplicated.
func TestCreateAndCorrelate(t *testing.T) {
	adm := newAdmin(t)
	c := openTest(t, "", nil)
	p := person("Kari", "Nordmann")
	a := ensure(t, c, p)
	status, u := adm.call("GET", "/Users/"+a.Ref["id"], nil)
	require.Equal(t, 200, status)
	require.Equal(t, p.Email, u["userName"])
	require.Equal(t, p.ID, u["externalId"])
	require.Equal(t, true, u["active"])
	require.Equal(t, "Kari Nordmann", u["displayName"])
	require.Equal(t, map[string]any{"givenName": "Kari", "familyName": "Nordmann"}, u["name"])

	// Made before tilgang, with the employee number: adopted, names updated.
	p2 := person("Ola", "Hansen")
	status, made := adm.call("POST", "/Users", map[string]any{"schemas": []string{schemaUser}, "userName": "ola.hansen." + p2.ID, "externalId": p2.ID, "active": true})
	require.Equal(t, 201, status)
	a2 := ensure(t, c, p2)
	require.Equal(t, made["id"], a2.Ref["id"])
	require.Len(t, adm.users(`externalId eq "`+p2.ID+`"`), 1)
	_, u = adm.call("GET", "/Users/"+a2.Ref["id"], nil)
	require.Equal(t, "Ola Hansen", u["displayName"])

	// Made before tilgang under the userName tilgang would use, without an
	// externalId: adopted by userName (and the externalId set).
	p3 := person("Per", "Berg")
	status, made = adm.call("POST", "/Users", map[string]any{"schemas": []string{schemaUser}, "userName": p3.Email})
	require.Equal(t, 201, status)
	a3 := ensure(t, c, p3)
	require.Equal(t, made["id"], a3.Ref["id"])
	require.Len(t, adm.users(`userName eq "`+p3.Email+`"`), 1)
	_, u = adm.call("GET", "/Users/"+a3.Ref["id"], nil)
	require.Equal(t, p3.ID, u["externalId"])

	// The userName belongs to someone else: a conflict, nothing made.
	p4 := person("Liv", "Dahl")
	p4.Email = p.Email
	_, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p4})
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(err), "%v", err)
	require.ErrorContains(t, err, "belongs to externalId "+p.ID)
	require.Empty(t, adm.users(`externalId eq "`+p4.ID+`"`))
}

// Deactivate is PATCH active=false, never DELETE unless configured.
func TestDeactivate(t *testing.T) {
	adm := newAdmin(t)
	c := openTest(t, "", nil)
	a := ensure(t, c, person("Siri", "Lie"))
	require.NoError(t, c.Disable(ctx, a))
	status, u := adm.call("GET", "/Users/"+a.Ref["id"], nil)
	require.Equal(t, 200, status)
	require.Equal(t, false, u["active"])

	del := openTest(t, "", func(c *Config) { c.DeleteOnDisable = true })
	require.NoError(t, del.Disable(ctx, a))
	require.NoError(t, del.Disable(ctx, a))
	status, _ = adm.call("GET", "/Users/"+a.Ref["id"], nil)
	require.Equal(t, 404, status)
}

// proxy stands in front of the peer and injects faults into the requests
// that match.
type proxy struct {
	*httptest.Server
	mu     sync.Mutex
	fault  func(w http.ResponseWriter, r *http.Request, body []byte) bool
	passed map[string]int // method+path -> requests that reached the peer
}

func newProxy(t *testing.T) *proxy {
	env := testEnv(t)
	peer, err := url.Parse(env["TILGANG_SCIM_URL"])
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: peer.Scheme, Host: peer.Host})
	p := &proxy{passed: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r, body) {
			return
		}
		p.mu.Lock()
		p.passed[r.Method+" "+strings.SplitN(r.URL.Path, "/", 5)[3]]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) url() string { return p.URL + "/scim/v2" }

func (p *proxy) setFault(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	p.mu.Lock()
	p.fault = f
	p.passed = map[string]int{}
	p.mu.Unlock()
}

func (p *proxy) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.passed[key]
}

// forward sends the request to the peer itself and returns the answer.
func forward(t *testing.T, r *http.Request, body []byte) *http.Response {
	env := testEnv(t)
	req, _ := http.NewRequest(r.Method, strings.TrimSuffix(env["TILGANG_SCIM_URL"], "/scim/v2")+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// Granting twice and revoking twice leaves the member exactly once, then
// not at all, although the peer itself appends a duplicate on a repeated add.
func TestGrantTwiceRevokeTwice(t *testing.T) {
	adm := newAdmin(t)
	group, gid := adm.makeGroup("APP-Gerica-Bruker")
	c := openTest(t, "", nil)
	a := ensure(t, c, person("Nils", "Moe"))
	for i := 0; i < 2; i++ {
		require.NoError(t, c.Grant(ctx, a, group))
		require.Equal(t, 1, adm.memberCount(gid, a.Ref["id"]))
	}
	members, err := c.ListMembers(ctx, group)
	require.NoError(t, err)
	require.Equal(t, []connectors.Ref{{"id": a.Ref["id"]}}, members)
	for i := 0; i < 2; i++ {
		require.NoError(t, c.Revoke(ctx, a, group))
		require.Equal(t, 0, adm.memberCount(gid, a.Ref["id"]))
	}
	err = c.Grant(ctx, a, "no-such-group-"+runID)
	require.Equal(t, tilgang.NotFound, tilgang.KindOf(err))
}

// A 429 with a short Retry-After in front of the peer: waited for, then
// the change is made exactly once.
func TestThrottledCompletesOnce(t *testing.T) {
	adm := newAdmin(t)
	group, gid := adm.makeGroup("APP-Throttled")
	px := newProxy(t)
	c := openTest(t, px.url(), nil)
	a := ensure(t, c, person("Eva", "Strand"))
	var throttled atomic.Int32
	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "PATCH" && throttled.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}`)
			return true
		}
		return false
	})
	start := time.Now()
	require.NoError(t, c.Grant(ctx, a, group))
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Equal(t, 1, px.count("PATCH Groups"), "the add reached the peer once")
	require.Equal(t, 1, adm.memberCount(gid, a.Ref["id"]))

	// A Retry-After longer than the cap goes back to the outbox as Throttled.
	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "PATCH" {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
			return true
		}
		return false
	})
	err := c.Revoke(ctx, a, group)
	require.Equal(t, tilgang.Throttled, tilgang.KindOf(err))
	require.Equal(t, 120*time.Second, tilgang.RetryAfterOf(err))
}

// The peer applies an add but its answer is lost: the connector reads the
// group instead of sending the add again, and the member is there once.
func TestDroppedResponse(t *testing.T) {
	adm := newAdmin(t)
	group, gid := adm.makeGroup("APP-Dropped")
	px := newProxy(t)
	c := openTest(t, px.url(), nil)
	a := ensure(t, c, person("Tor", "Vik"))
	var dropped atomic.Int32
	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if (r.Method == "PATCH" || r.Method == "POST") && dropped.Add(1) == 1 {
			resp := forward(t, r, body) // applied at the peer...
			resp.Body.Close()
			conn, _, err := w.(http.Hijacker).Hijack() // ...and the answer never arrives
			require.NoError(t, err)
			conn.Close()
			return true
		}
		return false
	})
	require.NoError(t, c.Grant(ctx, a, group))
	require.Equal(t, 1, adm.memberCount(gid, a.Ref["id"]))
	require.NoError(t, c.Grant(ctx, a, group))
	require.Equal(t, 1, adm.memberCount(gid, a.Ref["id"]))

	// The same for a create: the user made without an answer is found.
	dropped.Store(0)
	p := person("Ida", "Fjell")
	ref, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p})
	require.NoError(t, err)
	require.NotEmpty(t, ref["id"])
	require.Len(t, adm.users(`externalId eq "`+p.ID+`"`), 1)
}

// A permanent 400 from the peer is Invalid, with the peer's scimType and
// detail in the message (what `tilgang status` shows).
func TestPermanent400(t *testing.T) {
	px := newProxy(t)
	c := openTest(t, px.url(), nil)
	var posts atomic.Int32
	px.setFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "POST" {
			posts.Add(1)
			// Entra-style "active": "False": the peer refuses it.
			body = bytes.Replace(body, []byte(`"active":true`), []byte(`"active":"False"`), 1)
			resp := forward(t, r, body)
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			return true
		}
		return false
	})
	p := person("Ane", "Lund")
	_, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p})
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "%v", err)
	require.False(t, tilgang.Retryable(err))
	require.ErrorContains(t, err, "scim: create user "+p.ID+": POST /scim/v2/Users: 400 invalidValue: ")
	require.EqualValues(t, 1, posts.Load(), "a permanent error is not retried")
	t.Log(err)
}

// Listing pages through startIndex/count.
func TestListUsersPages(t *testing.T) {
	c := openTest(t, "", func(c *Config) { c.PageSize = 3 })
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, ensure(t, c, person("Side", "Vending")).Ref["id"])
	}
	before := c.Requests()["GET"]
	users, err := c.ListUsers(ctx, "externalId sw "+quote("t"+runID+"-"))
	require.NoError(t, err)
	got := map[string]bool{}
	for _, u := range users {
		got[u.ID] = true
	}
	for _, id := range ids {
		require.True(t, got[id], "user %s listed", id)
	}
	require.Len(t, got, len(users), "no user listed twice")
	require.GreaterOrEqual(t, len(users), 7)
	require.GreaterOrEqual(t, c.Requests()["GET"]-before, 3, "several pages")
}

func TestValidate(t *testing.T) {
	err := (&Config{BaseURL: "http://scim.example.no/v2", Auth: Auth{Type: "basic"}, UserName: "{upn}", GroupsBy: "name"}).Validate()
	for _, want := range []string{"plain http is allowed only to a loopback", "auth.username is empty", "set password_env or password_file",
		`user_name "{upn}"`, `groups_by "name"`} {
		require.ErrorContains(t, err, want)
	}
}
