package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// recorded is one request the fake fagsystem received.
type recorded struct {
	Method, RawPath, Auth, ContentType string
	Body                               []byte
}

// fagsystem is a fake HTTP API with users and role memberships that
// records every request. It answers a repeated create with 409
// {"error":{"code":"USER_EXISTS"}}, a repeated grant with 422
// {"code":"ALREADY_MEMBER"} and a revoke of a non-member with 404, as many
// real APIs do.
type fagsystem struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	users   map[string]*user
	members map[string]map[string]bool // role -> user id
	fail    func(w http.ResponseWriter, r *http.Request) bool
}

type user struct {
	ID, EmployeeNumber, FirstName, LastName, Email string
	Active                                         bool
}

func newFagsystem(t *testing.T) *fagsystem {
	f := &fagsystem{users: map[string]*user{}, members: map[string]map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			EmployeeNumber, FirstName, LastName, Email string
			Active                                     bool
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.EmployeeNumber == "" {
			writeJSON(w, 400, map[string]any{"message": "employeeNumber is required"})
			return
		}
		for _, u := range f.users {
			if u.EmployeeNumber == in.EmployeeNumber {
				writeJSON(w, 409, map[string]any{"error": map[string]any{"code": "USER_EXISTS", "message": "exists"}})
				return
			}
		}
		u := &user{ID: fmt.Sprintf("u%d", len(f.users)+1), EmployeeNumber: in.EmployeeNumber, FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Active: in.Active}
		f.users[u.ID] = u
		writeJSON(w, 201, map[string]any{"data": map[string]any{"id": u.ID}})
	})
	mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		out := []any{}
		for _, u := range f.users {
			if u.EmployeeNumber == r.URL.Query().Get("employeeNumber") {
				out = append(out, map[string]any{"id": u.ID})
			}
		}
		writeJSON(w, 200, map[string]any{"data": out})
	})
	mux.HandleFunc("POST /api/v1/users/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		u := f.users[r.PathValue("id")]
		if u == nil {
			writeJSON(w, 404, map[string]any{"message": "no such user"})
			return
		}
		u.Active = r.PathValue("action") == "activate"
		w.WriteHeader(204)
	})
	mux.HandleFunc("POST /api/v1/roles/{role}/members", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ User string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || f.users[in.User] == nil {
			writeJSON(w, 422, map[string]any{"code": "NO_USER", "message": "unknown user"})
			return
		}
		role := r.PathValue("role")
		if f.members[role][in.User] {
			writeJSON(w, 422, map[string]any{"code": "ALREADY_MEMBER", "message": "already a member"})
			return
		}
		if f.members[role] == nil {
			f.members[role] = map[string]bool{}
		}
		f.members[role][in.User] = true
		writeJSON(w, 201, map[string]any{})
	})
	mux.HandleFunc("DELETE /api/v1/roles/{role}/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !f.members[r.PathValue("role")][r.PathValue("id")] {
			writeJSON(w, 404, map[string]any{"message": "not a member"})
			return
		}
		delete(f.members[r.PathValue("role")], r.PathValue("id"))
		w.WriteHeader(204)
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		if f.fail != nil && f.fail(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fagsystem) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fagsystem) userByEmployee(id string) *user {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.EmployeeNumber == id {
			c := *u
			return &c
		}
	}
	return nil
}

func (f *fagsystem) isMember(role, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[role][id]
}

// config is the example config of the package doc, against f.
func config(t *testing.T, f *fagsystem) Config {
	t.Setenv("TILGANG_TEST_REST_TOKEN", "s3cret-token")
	zero := 2
	return Config{
		BaseURL: f.URL + "/api/v1/",
		Auth:    Auth{Type: "bearer", TokenEnv: "TILGANG_TEST_REST_TOKEN"},
		Retry:   Retry{Max: &zero, WaitMin: 10 * time.Millisecond, WaitMax: 50 * time.Millisecond, MaxRetryAfter: 2 * time.Second},
		Operations: Operations{
			EnsureAccount: &Request{Method: "POST", Path: "/users",
				Body: `{"employeeNumber": {{ .Person.ID | json }}, "firstName": {{ .Person.GivenName | json }},
				        "lastName": {{ .Person.FamilyName | json }}, "email": {{ .Person.Email | json }}, "active": {{ .Enabled | json }}}`,
				Success: []int{201}, AlreadyDone: AlreadyDone{Status: []int{409}, Field: "error.code", Equals: "USER_EXISTS"},
				Ref: map[string]string{"user_id": "data.id"}},
			Disable: &Request{Method: "POST", Path: "/users/{{ .Ref.user_id | path }}/deactivate", Success: []int{204}},
			Enable:  &Request{Method: "POST", Path: "/users/{{ .Ref.user_id | path }}/activate", Success: []int{204}},
			Grant: &Request{Method: "POST", Path: "/roles/{{ .Entitlement | path }}/members", Body: `{"user": {{ .Ref.user_id | json }}}`,
				Success: []int{201}, AlreadyDone: AlreadyDone{Status: []int{422}, Field: "code", Equals: "ALREADY_MEMBER"}},
			Revoke: &Request{Method: "DELETE", Path: "/roles/{{ .Entitlement | path }}/members/{{ .Ref.user_id | path }}",
				Success: []int{204}, AlreadyDone: AlreadyDone{Status: []int{404}}},
		},
	}
}

func open(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := Open("gerica", cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestContract(t *testing.T) {
	f := newFagsystem(t)
	c := open(t, config(t, f))
	var n atomic.Int64
	connectortest.Run(t, connectortest.Target{
		Connector: c,
		Person: func(t *testing.T) tilgang.Person {
			return tilgang.Person{ID: fmt.Sprintf("1547-%d", n.Add(1)), GivenName: "Åse", FamilyName: "Øvergård-Bø", Municipality: "1547"}
		},
		Entitlement: "Gerica-Bruker",
		Member: func(t *testing.T, a connectors.Account, e string) bool {
			u := f.userByEmployee(a.Person.ID)
			return u != nil && f.isMember(e, u.ID)
		},
		Enabled: func(t *testing.T, a connectors.Account) bool {
			u := f.userByEmployee(a.Person.ID)
			return u != nil && u.Active
		},
	})
	for _, r := range f.requests() {
		require.Equal(t, "Bearer s3cret-token", r.Auth)
	}
}

var ctx = context.Background()

// The templates render as configured, and the "already done" answers
// (409 USER_EXISTS, 422 ALREADY_MEMBER, 404 on revoke) count as success.
func TestTemplatesRenderAsConfigured(t *testing.T) {
	f := newFagsystem(t)
	c := open(t, config(t, f))
	p := tilgang.Person{ID: "1547-7", GivenName: "Kari", FamilyName: "Nordmann", Email: "kari@aukra.kommune.no"}
	a := connectors.Account{Person: p, Ref: connectors.Ref{"id": p.ID}}
	ref, _, err := c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	require.Equal(t, connectors.Ref{"id": "1547-7", "user_id": "u1"}, ref)
	a.Ref = ref
	again, _, err := c.EnsureAccount(ctx, a)
	require.NoError(t, err, "409 USER_EXISTS is already done")
	require.Equal(t, ref, again)
	require.NoError(t, c.Grant(ctx, a, "Gerica-Bruker"))
	require.NoError(t, c.Grant(ctx, a, "Gerica-Bruker"), "422 ALREADY_MEMBER is already done")
	require.NoError(t, c.Revoke(ctx, a, "Gerica-Bruker"))
	require.NoError(t, c.Revoke(ctx, a, "Gerica-Bruker"), "404 on revoke is already done")
	require.NoError(t, c.Disable(ctx, a))

	reqs := f.requests()
	require.Len(t, reqs, 7)
	var body map[string]any
	require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
	require.Equal(t, map[string]any{"employeeNumber": "1547-7", "firstName": "Kari", "lastName": "Nordmann", "email": "kari@aukra.kommune.no", "active": true}, body)
	require.Equal(t, "application/json", reqs[0].ContentType)
	want := []string{"POST /api/v1/users", "POST /api/v1/users", "POST /api/v1/roles/Gerica-Bruker/members", "POST /api/v1/roles/Gerica-Bruker/members",
		"DELETE /api/v1/roles/Gerica-Bruker/members/u1", "DELETE /api/v1/roles/Gerica-Bruker/members/u1", "POST /api/v1/users/u1/deactivate"}
	for i, r := range reqs {
		require.Equal(t, want[i], r.Method+" "+r.RawPath)
	}
	require.JSONEq(t, `{"user":"u1"}`, string(reqs[2].Body))

	// A 422 that is not ALREADY_MEMBER is an error, with the server's message.
	err = c.Grant(ctx, connectors.Account{Person: p, Ref: connectors.Ref{"user_id": "u404"}}, "Gerica-Bruker")
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.ErrorContains(t, err, "unknown user")
}

// Values cannot break out of the JSON body or the path.
func TestHostileValues(t *testing.T) {
	f := newFagsystem(t)
	c := open(t, config(t, f))
	p := tilgang.Person{ID: "1547-8", GivenName: `Ola", "active": false, "admin": true, "x": "`, FamilyName: "Nordmann\"}\n\u2028</script>{{.}}",
		Email: `a\"b@x`}
	a := connectors.Account{Person: p}
	ref, _, err := c.EnsureAccount(ctx, a)
	require.NoError(t, err)
	a.Ref = ref
	u := f.userByEmployee(p.ID)
	require.Equal(t, p.GivenName, u.FirstName)
	require.Equal(t, p.FamilyName, u.LastName)
	require.True(t, u.Active, "the name did not set active")
	var body map[string]any
	require.NoError(t, json.Unmarshal(f.requests()[0].Body, &body))
	require.Len(t, body, 5, "no field was added by a name")

	role := `../../users/u1/deactivate?x=1#/..`
	require.NoError(t, c.Grant(ctx, a, role))
	last := f.requests()[1]
	require.Equal(t, "/api/v1/roles/..%2F..%2Fusers%2Fu1%2Fdeactivate%3Fx=1%23%2F../members", last.RawPath)
	require.True(t, f.isMember(role, ref["user_id"]), "the server saw the whole value as one segment")
	require.NoError(t, c.Revoke(ctx, a, role))
	require.False(t, f.isMember(role, ref["user_id"]))
	require.True(t, f.userByEmployee(p.ID).Active)

	for _, bad := range []string{"..", ".", ""} {
		err := c.Grant(ctx, a, bad)
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "entitlement %q", bad)
	}
	err = c.Revoke(ctx, connectors.Account{Person: p, Ref: connectors.Ref{"user_id": ".."}}, "x")
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Len(t, f.requests(), 3, "none of these was sent")
}

// In the path part of a URL (before "?") only path escapes a value: query
// leaves "." and ".." alone, so a given name ".." became the parent
// segment; after "?" only query does, since path leaves "&" and "=".
func TestPathEscapers(t *testing.T) {
	f := newFagsystem(t)
	cfg := config(t, f)
	cfg.Operations.Revoke.Path = "/roles/{{ .Entitlement | path }}/members/{{ .Ref.user_id | query }}"
	cfg.Operations.Lookup = &Request{Method: "GET", Path: "/users?employeeNumber={{ .Person.ID | path }}", Success: []int{200},
		Ref: map[string]string{"user_id": "data.0.id"}}
	cfg.Operations.Disable.Path = `/users{{ if .Enabled }}?a=1{{ end }}/{{ .Ref.user_id | path }}`
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`operations.revoke.path: {{.Ref.user_id | query}} is in the path (before "?"): it must end with | path`,
		`operations.lookup.path: {{.Person.ID | path}} is in the query (after "?"): it must end with | query`,
		`operations.disable.path: {{.Ref.user_id | path}} may be in the path or in the query`,
	} {
		require.ErrorContains(t, err, want)
	}

	_, err = Open("gerica", cfg, nil)
	require.Error(t, err, "an instance with such a template does not open")
}

// Templates are checked at start-up: every printed value must be escaped,
// the body must be JSON, and what the data lacks is named.
func TestTemplateValidation(t *testing.T) {
	f := newFagsystem(t)
	cfg := config(t, f)
	cfg.Operations.EnsureAccount.Body = `{"name": "{{ .Person.GivenName }}", "id": {{ .Person.ID | json }}}`
	cfg.Operations.Grant.Path = "/roles/{{ .Entitlement }}/members"
	cfg.Operations.Revoke.Path = "/roles/{{ .Entitlement | json }}"
	cfg.Operations.Disable.Body = `{"a": {{ .Person.ID | json }}`
	cfg.Operations.Enable.Path = "/users/{{ .Ref.nope | path }}"
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"operations.ensure_account.body: {{.Person.GivenName}} must end with | json",
		`operations.grant.path: {{.Entitlement}} is in the path (before "?"): it must end with | path`,
		`operations.revoke.path: {{.Entitlement | json}} is in the path (before "?"): it must end with | path`,
		"operations.disable: rendered with a sample person: body is not JSON",
		`operations.enable: rendered with a sample person: path: template: :1:14: executing "" at <.Ref.nope>: map has no entry for key "nope"`,
	} {
		require.ErrorContains(t, err, want)
	}

	cfg = config(t, f)
	cfg.BaseURL = "http://gerica.example.no/api"
	cfg.Auth = Auth{Type: "basic", PasswordEnv: "TILGANG_TEST_UNSET_PW"}
	cfg.Headers = map[string]string{"Authorization": "Bearer x"}
	cfg.Operations.Revoke = nil
	cfg.Operations.Enable.Headers = map[string]string{"X-Who": "{{ .Person.ID }}"}
	err = cfg.Validate()
	for _, want := range []string{"plain http is allowed only to a loopback", "auth.username is empty",
		"TILGANG_TEST_UNSET_PW is empty or unset", "set credentials under auth", "operations.revoke is missing",
		"operations.enable.headers[X-Who]: {{.Person.ID}} must end with | header"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "Bearer x")
}

// Each answer is classified once, and only short faults are retried here.
func TestClassifyAndRetry(t *testing.T) {
	f := newFagsystem(t)
	c := open(t, config(t, f))
	p := tilgang.Person{ID: "1547-9", GivenName: "Per", FamilyName: "Berg"}
	a := connectors.Account{Person: p, Ref: connectors.Ref{"user_id": "u1"}}
	cases := []struct {
		name       string
		status     int
		header     string
		body       string
		kind       tilgang.Kind
		retryAfter time.Duration
		tries      int
		message    string
	}{
		{"429 with a long Retry-After goes back to the outbox", 429, "120", `{}`, tilgang.Throttled, 120 * time.Second, 1, ""},
		{"503 with a long Retry-After", 503, "60", ``, tilgang.Throttled, time.Minute, 1, ""},
		{"503 without Retry-After is retried, then unavailable", 503, "", ``, tilgang.Unavailable, 0, 3, ""},
		{"500 is retried, then unavailable", 500, "", `oops`, tilgang.Unavailable, 0, 3, "oops"},
		{"400 with the server's message", 400, "", `{"message":"lastName too long"}`, tilgang.Invalid, 0, 1, "lastName too long"},
		{"422 with an error object", 422, "", `{"error":{"message":"role is locked"}}`, tilgang.Invalid, 0, 1, "role is locked"},
		{"401", 401, "", ``, tilgang.Denied, 0, 1, ""},
		{"403", 403, "", `{"detail":"missing scope roles.write"}`, tilgang.Denied, 0, 1, "missing scope roles.write"},
		{"404", 404, "", ``, tilgang.NotFound, 0, 1, ""},
		{"409", 409, "", `{"title":"locked"}`, tilgang.Conflict, 0, 1, "locked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int32
			f.mu.Lock()
			f.fail = func(w http.ResponseWriter, r *http.Request) bool {
				tries.Add(1)
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			}
			f.mu.Unlock()
			err := c.Grant(ctx, a, "Gerica-Bruker")
			require.Error(t, err)
			require.Equal(t, tc.kind, tilgang.KindOf(err), err.Error())
			require.Equal(t, tc.retryAfter, tilgang.RetryAfterOf(err))
			require.EqualValues(t, tc.tries, tries.Load())
			require.ErrorContains(t, err, "rest: grant Gerica-Bruker to 1547-9: POST /api/v1/roles/Gerica-Bruker/members")
			require.ErrorContains(t, err, tc.message)
			require.NotContains(t, err.Error(), "s3cret")
		})
	}

	// A 429 with a short Retry-After is waited for here and then succeeds:
	// the grant is done exactly once.
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	_, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p})
	require.NoError(t, err)
	var tries atomic.Int32
	f.mu.Lock()
	f.fail = func(w http.ResponseWriter, r *http.Request) bool {
		if tries.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return true
		}
		return false
	}
	f.mu.Unlock()
	start := time.Now()
	require.NoError(t, c.Grant(ctx, a, "Gerica-Bruker"))
	require.EqualValues(t, 2, tries.Load())
	require.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After honoured")
	require.True(t, f.isMember("Gerica-Bruker", "u1"))

	// A server that is not there is unavailable.
	cfg := config(t, f)
	f.Close()
	zero := 0
	cfg.Retry.Max = &zero
	down := open(t, cfg)
	err = down.Grant(ctx, a, "Gerica-Bruker")
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), err.Error())
}

// The rate limit spaces requests out.
func TestRateLimit(t *testing.T) {
	f := newFagsystem(t)
	cfg := config(t, f)
	cfg.RateLimit = RateLimit{PerSecond: 20, Burst: 1, Concurrency: 2}
	c := open(t, cfg)
	start := time.Now()
	for i := 0; i < 11; i++ {
		_, _, err := c.EnsureAccount(ctx, connectors.Account{Person: tilgang.Person{ID: fmt.Sprintf("1547-%d", i), GivenName: "A", FamilyName: "B"}})
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, time.Since(start), 450*time.Millisecond)
}

// A create whose answer was lost: the repeat is "already done" without the
// user id, which the lookup operation reads.
func TestLookupAfterLostCreate(t *testing.T) {
	f := newFagsystem(t)
	p := tilgang.Person{ID: "1547-11", GivenName: "Kari", FamilyName: "Nordmann"}
	f.mu.Lock()
	f.users["u7"] = &user{ID: "u7", EmployeeNumber: p.ID, Active: true}
	f.mu.Unlock()

	_, _, err := open(t, config(t, f)).EnsureAccount(ctx, connectors.Account{Person: p})
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.ErrorContains(t, err, "configure operations.lookup")

	cfg := config(t, f)
	cfg.Operations.Lookup = &Request{Method: "GET", Path: "/users?employeeNumber={{ .Person.ID | query }}", Success: []int{200},
		Ref: map[string]string{"user_id": "data.0.id"}}
	c := open(t, cfg)
	ref, _, err := c.EnsureAccount(ctx, connectors.Account{Person: p})
	require.NoError(t, err)
	require.Equal(t, connectors.Ref{"id": p.ID, "user_id": "u7"}, ref)
	require.Equal(t, "GET /api/v1/users", f.requests()[2].Method+" "+f.requests()[2].RawPath)

	cfg.Operations.Lookup.Ref = map[string]string{"other": "x"}
	require.ErrorContains(t, cfg.Validate(), "operations.lookup.ref: no field for user_id")
}
