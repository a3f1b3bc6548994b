package graphemu

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type client struct {
	t   *testing.T
	srv *httptest.Server
	tok string
}

func start(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	e := New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	c := &client{t: t, srv: srv}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {opts.ClientID},
		"client_secret": {opts.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := http.PostForm(srv.URL+"/tenant/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.Equal(t, "Bearer", tok.TokenType)
	c.tok = tok.AccessToken
	return e, c
}

// do sends a request; body is JSON-encoded (gzipped when zip) unless nil.
func (c *client) do(method, path string, body any, zip bool) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		if zip {
			raw = gzipBody(raw)
		}
		rd = bytes.NewReader(raw)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.srv.URL + "/v1.0" + path
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if zip {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		require.Equal(c.t, "application/json", resp.Header.Get("Content-Type"))
		require.NoError(c.t, json.Unmarshal(b, &out), string(b))
	}
	return resp.StatusCode, resp.Header, out
}

func errCode(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error body: %v", body)
	require.NotEmpty(t, e["message"], "Graph errors always carry a message")
	require.Contains(t, e, "innerError")
	return e["code"].(string), e["message"].(string)
}

func newUser(upn string) map[string]any {
	return map[string]any{"accountEnabled": true, "displayName": "Kari Nordmann", "mailNickname": strings.Split(upn, "@")[0],
		"userPrincipalName": upn, "employeeId": "p-" + upn,
		"passwordProfile": map[string]any{"password": "Xy7-abcdefgh", "forceChangePasswordNextSignIn": true}}
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	_, c := start(t, Options{ClientID: "app", ClientSecret: "s3cret"})
	c.tok = "wrong"
	st, _, body := c.do("GET", "/users", nil, false)
	require.Equal(t, 401, st)
	code, _ := errCode(t, body)
	require.Equal(t, "InvalidAuthenticationToken", code)

	resp, err := http.PostForm(c.srv.URL+"/t/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"app"}, "client_secret": {"nope"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
}

func TestUserCreateGetPatchFilter(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{Domains: []string{"ror.test"}})
	st, _, u := c.do("POST", "/users", newUser("kari@ror.test"), true)
	require.Equal(t, 201, st, u)
	require.NotContains(t, u, "passwordProfile", "the response carries no password")
	require.Equal(t, "https://graph.microsoft.com/v1.0/$metadata#users/$entity", u["@odata.context"])
	id := u["id"].(string)

	st, _, body := c.do("POST", "/users", newUser("KARI@ror.test"), false)
	require.Equal(t, 400, st)
	code, msg := errCode(t, body)
	require.Equal(t, "Request_BadRequest", code)
	require.Contains(t, msg, "Another object with the same value for property userPrincipalName already exists.")
	details := body["error"].(map[string]any)["details"].([]any)
	require.Equal(t, "ObjectConflict", details[0].(map[string]any)["code"])

	st, _, body = c.do("POST", "/users", newUser("ola@elsewhere.test"), false)
	require.Equal(t, 400, st)
	_, msg = errCode(t, body)
	require.Contains(t, msg, "verified domain")

	weak := newUser("weak@ror.test")
	weak["passwordProfile"] = map[string]any{"password": "aaaaaaaaaa"}
	st, _, _ = c.do("POST", "/users", weak, false)
	require.Equal(t, 400, st)

	// Default property set: accountEnabled needs $select.
	st, _, got := c.do("GET", "/users/kari@ror.test", nil, false)
	require.Equal(t, 200, st)
	require.Equal(t, id, got["id"])
	require.NotContains(t, got, "accountEnabled")
	st, _, got = c.do("GET", "/users/"+id+"?$select=id,accountEnabled,employeeId", nil, false)
	require.Equal(t, 200, st)
	require.Equal(t, true, got["accountEnabled"])
	require.Len(t, got, 4) // three fields and @odata.context

	st, _, body = c.do("PATCH", "/users/"+id, map[string]any{"accountEnabled": false, "department": "helse"}, true)
	require.Equal(t, 204, st)
	require.Nil(t, body)
	props, _ := e.User(id)
	require.Equal(t, false, props["accountEnabled"])

	for _, f := range []string{"employeeId eq 'p-kari@ror.test'", "userPrincipalName eq 'KARI@ror.test'", "startswith(userPrincipalName,'kar')"} {
		st, _, list := c.do("GET", "/users?$filter="+url.QueryEscape(f)+"&$select=id", nil, false)
		require.Equal(t, 200, st, f)
		require.Len(t, list["value"], 1, f)
	}
	st, _, body = c.do("GET", "/users?$filter="+url.QueryEscape("faxNumber eq '1'"), nil, false)
	require.Equal(t, 400, st)
	code, _ = errCode(t, body)
	require.Equal(t, "Request_UnsupportedQuery", code)

	st, _, body = c.do("GET", "/users/nobody@ror.test", nil, false)
	require.Equal(t, 404, st)
	code, msg = errCode(t, body)
	require.Equal(t, "Request_ResourceNotFound", code)
	require.Contains(t, msg, "does not exist or one of its queried reference-property objects are not present")
	require.Equal(t, []Write{{Op: "user.create", Target: id, Detail: "kari@ror.test"},
		{Op: "user.update", Target: id, Detail: "accountEnabled,department"}}, e.Writes())
}

// passwordProfile comes only on $select, never with the password, and
// reads null once the person has signed in and changed the password.
func TestPasswordProfileUntilSignIn(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{})
	st, _, u := c.do("POST", "/users", newUser("kari@ror.test"), false)
	require.Equal(t, 201, st, u)
	id := u["id"].(string)
	profile := func() any {
		t.Helper()
		st, _, got := c.do("GET", "/users/"+id+"?$select=id,passwordProfile", nil, false)
		require.Equal(t, 200, st)
		require.Contains(t, got, "passwordProfile")
		return got["passwordProfile"]
	}
	pending := map[string]any{"password": nil, "forceChangePasswordNextSignIn": true, "forceChangePasswordNextSignInWithMfa": false}
	require.Equal(t, pending, profile())
	_, _, got := c.do("GET", "/users/"+id, nil, false)
	require.NotContains(t, got, "passwordProfile", "not in the default property set")

	require.True(t, e.SignIn("KARI@ror.test"))
	require.Nil(t, profile())
	st, _, _ = c.do("PATCH", "/users/"+id, map[string]any{"passwordProfile": map[string]any{"password": "Zq8-abcdefgh", "forceChangePasswordNextSignIn": true}}, false)
	require.Equal(t, 204, st)
	require.Equal(t, pending, profile(), "a reset forces a change again")
	require.False(t, e.SignIn("nobody@ror.test"))
}

func TestDeleteGroup(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{})
	g := e.AddGroup("Hjemmetjenesten", false)
	e.DeleteGroup(g)
	for _, p := range []string{"/groups/" + g, "/groups/" + g + "/members"} {
		st, _, body := c.do("GET", p, nil, false)
		require.Equal(t, 404, st, p)
		code, _ := errCode(t, body)
		require.Equal(t, "Request_ResourceNotFound", code)
	}
	require.Equal(t, []Write{{Op: "group.delete", Target: g}}, e.Writes())
}

func TestMembers(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{})
	g := e.AddGroup("Hjemmetjenesten", false)
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, e.AddUser(map[string]any{"userPrincipalName": n + "@ror.test"}))
	}
	ref := func(id string) map[string]any {
		return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
	}
	st, _, _ := c.do("POST", "/groups/"+g+"/members/$ref", ref(ids[0]), true)
	require.Equal(t, 204, st)
	st, _, body := c.do("POST", "/groups/"+g+"/members/$ref", ref(ids[0]), false)
	require.Equal(t, 400, st)
	code, msg := errCode(t, body)
	require.Equal(t, "Request_BadRequest", code)
	require.Equal(t, "One or more added object references already exist for the following modified properties: 'members'.", msg)
	st, _, _ = c.do("POST", "/groups/"+g+"/members/$ref", ref("00000000-0000-0000-0000-000000000000"), false)
	require.Equal(t, 404, st)

	// members@odata.bind: all or nothing.
	bind := func(ids ...string) map[string]any {
		var l []string
		for _, id := range ids {
			l = append(l, "https://graph.microsoft.com/v1.0/directoryObjects/"+id)
		}
		return map[string]any{"members@odata.bind": l}
	}
	st, _, _ = c.do("PATCH", "/groups/"+g, bind(ids[1], ids[0]), true)
	require.Equal(t, 400, st)
	require.Equal(t, []string{ids[0]}, e.Members(g), "nothing added when one entry fails")
	st, _, _ = c.do("PATCH", "/groups/"+g, bind(ids[1], ids[2]), true)
	require.Equal(t, 204, st)
	require.Len(t, e.Members(g), 3)
	var many []string
	for range 21 {
		many = append(many, "x")
	}
	st, _, _ = c.do("PATCH", "/groups/"+g, bind(many...), false)
	require.Equal(t, 400, st)

	// Both removal forms; a second removal is 404.
	st, _, _ = c.do("DELETE", "/groups/"+g+"/members/"+ids[0]+"/$ref", nil, false)
	require.Equal(t, 204, st)
	st, _, _ = c.do("DELETE", "/groups/"+g+"/members/$ref?$id="+url.QueryEscape("https://graph.microsoft.com/v1.0/directoryObjects/"+ids[1]), nil, false)
	require.Equal(t, 204, st)
	st, _, body = c.do("DELETE", "/groups/"+g+"/members/"+ids[1]+"/$ref", nil, false)
	require.Equal(t, 404, st)
	code, _ = errCode(t, body)
	require.Equal(t, "Request_ResourceNotFound", code)
	require.Equal(t, []string{ids[2]}, e.Members(g))
}

func TestMembersPaging(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{})
	g := e.AddGroup("Alle", false)
	for i := range 1050 {
		e.AddMembersDirect(g, e.AddUser(map[string]any{"userPrincipalName": "u" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + "@ror.test"}))
	}
	seen := map[string]bool{}
	next := "/groups/" + g + "/members?$select=id,userPrincipalName&$top=999"
	pages := 0
	for next != "" {
		st, _, body := c.do("GET", next, nil, false)
		require.Equal(t, 200, st, body)
		for _, v := range body["value"].([]any) {
			m := v.(map[string]any)
			require.Equal(t, "#microsoft.graph.user", m["@odata.type"])
			seen[m["id"].(string)] = true
		}
		next, _ = body["@odata.nextLink"].(string)
		if next != "" {
			require.True(t, strings.HasPrefix(next, c.srv.URL+"/v1.0/"), "nextLink is absolute: %s", next)
		}
		pages++
	}
	require.Equal(t, 2, pages)
	require.Len(t, seen, 1050)
	st, _, _ := c.do("GET", "/groups/"+g+"/members?$top=1000", nil, false)
	require.Equal(t, 400, st)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e, c := start(t, Options{Faults: Faults{Budget: 3, Window: time.Hour}})
	g := e.AddGroup("G", false)
	u := e.AddUser(map[string]any{"userPrincipalName": "a@ror.test"})
	e.AddMembersDirect(g, u)
	reqs := []map[string]any{
		{"id": "1", "method": "POST", "url": "/groups/" + g + "/members/$ref", "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + u}},
		{"id": "2", "method": "GET", "url": "/users/nobody@ror.test"},
		{"id": "3", "method": "GET", "url": "/users/" + u, "dependsOn": []string{"2"}},
		{"id": "4", "method": "GET", "url": "users/" + u},
		{"id": "5", "method": "GET", "url": "/users/" + u},
	}
	st, _, body := c.do("POST", "/$batch", map[string]any{"requests": reqs}, true)
	require.Equal(t, 200, st)
	got := map[string]float64{}
	for _, r := range body["responses"].([]any) {
		m := r.(map[string]any)
		got[m["id"].(string)] = m["status"].(float64)
		if m["status"].(float64) == 429 {
			require.Equal(t, "3600", m["headers"].(map[string]any)["Retry-After"])
		}
	}
	require.Equal(t, map[string]float64{"1": 400, "2": 404, "3": 424, "4": 200, "5": 429}, got,
		"each inner request answered on its own, each counted against the budget")

	st, _, body = c.do("GET", "/users/"+u, nil, false)
	require.Equal(t, 429, st)
	code, _ := errCode(t, body)
	require.Equal(t, "TooManyRequests", code)

	e.SetFaults(Faults{})
	dup := []map[string]any{{"id": "1", "method": "GET", "url": "/users/" + u}, {"id": "1", "method": "GET", "url": "/users/" + u}}
	st, _, _ = c.do("POST", "/$batch", map[string]any{"requests": dup}, false)
	require.Equal(t, 400, st)
	var many []map[string]any
	for i := range 21 {
		many = append(many, map[string]any{"id": string(rune('a' + i)), "method": "GET", "url": "/users/" + u})
	}
	st, _, _ = c.do("POST", "/$batch", map[string]any{"requests": many}, false)
	require.Equal(t, 400, st)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	e, c := start(t, Options{Now: func() time.Time { return now }, Faults: Faults{ReplicationDelay: 5 * time.Second}})
	st, _, u := c.do("POST", "/users", newUser("ny@ror.test"), false)
	require.Equal(t, 201, st)
	id := u["id"].(string)
	st, _, _ = c.do("GET", "/users/"+id, nil, false)
	require.Equal(t, 404, st, "a new object reads as 404 during the replication delay")
	now = now.Add(5 * time.Second)
	st, _, _ = c.do("GET", "/users/"+id, nil, false)
	require.Equal(t, 200, st)

	syncedUser := e.AddUser(map[string]any{"userPrincipalName": "ad@ror.test", "onPremisesSyncEnabled": true})
	st, _, body := c.do("PATCH", "/users/"+syncedUser, map[string]any{"accountEnabled": false}, false)
	require.Equal(t, 400, st)
	_, msg := errCode(t, body)
	require.Contains(t, msg, "on-premises mastered Directory Sync objects")
	sg := e.AddGroup("Fra AD", true)
	st, _, _ = c.do("POST", "/groups/"+sg+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}, false)
	require.Equal(t, 400, st)

	e.SetFaults(Faults{Unavailable: 1})
	st, h, _ := c.do("GET", "/users/"+id, nil, false)
	require.Equal(t, 503, st)
	require.Equal(t, "1", h.Get("Retry-After"))

	e.SetFaults(Faults{DropAfterWrite: 1})
	req, _ := http.NewRequest("PATCH", c.srv.URL+"/v1.0/users/"+id, strings.NewReader(`{"jobTitle":"sykepleier"}`))
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err, "the response is dropped")
	props, _ := e.User(id)
	require.Equal(t, "sykepleier", props["jobTitle"], "but the write was applied")
}

func gzipBody(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New(Options{}).Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1.0/users")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	cancel()
	require.NoError(t, <-done)
}
