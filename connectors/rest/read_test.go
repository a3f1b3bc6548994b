package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// personal is a fake fagsystem API shaped like many HR-adjacent systems'
// own REST APIs: users with a numeric id of the system's own and the
// employee number beside it, listed page by page (?page=&per_page=, with
// meta.total and links.next), state and role membership addressed by
// employee number, and the members of a role listed by cursor
// (?limit=&cursor=, nextCursor). It counts every request.
type personal struct {
	*httptest.Server
	mu       sync.Mutex
	next     int
	users    []*puser
	members  map[string][]int // role -> user ids, in the order added
	requests int
	// fault, when set, may answer a request instead of the API.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

type puser struct {
	ID             int
	EmployeeNumber string
	Username       string
	Active         bool
	LastLogin      *time.Time
}

func newPersonal(t *testing.T) *personal {
	f := &personal{members: map[string][]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/users", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			EmployeeNumber, FirstName, LastName string
			Active                              bool
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.EmployeeNumber == "" {
			writeJSON(w, 400, map[string]any{"message": "employeeNumber is required"})
			return
		}
		if u := f.byEmployee(in.EmployeeNumber); len(u) > 0 {
			writeJSON(w, 409, map[string]any{"error": map[string]any{"code": "USER_EXISTS"}, "id": u[0].ID})
			return
		}
		u := f.add(in.EmployeeNumber, strings.ToLower(in.FirstName+"."+in.LastName), in.Active)
		writeJSON(w, 201, map[string]any{"id": u.ID})
	})
	mux.HandleFunc("GET /api/v2/users", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, err1 := strconv.Atoi(q.Get("page"))
		per, err2 := strconv.Atoi(q.Get("per_page"))
		if err1 != nil || err2 != nil || page < 1 || per < 1 || per > 500 {
			writeJSON(w, 400, map[string]any{"message": "page and per_page (1..500) are required"})
			return
		}
		from := min((page-1)*per, len(f.users))
		to := min(from+per, len(f.users))
		data := []any{}
		for _, u := range f.users[from:to] {
			item := map[string]any{"id": u.ID, "username": u.Username, "active": u.Active, "lastLogin": nil}
			if u.EmployeeNumber != "" {
				item["employeeNumber"] = u.EmployeeNumber
			}
			if u.LastLogin != nil {
				item["lastLogin"] = u.LastLogin.Format(time.RFC3339)
			}
			data = append(data, item)
		}
		var next any
		if to < len(f.users) {
			next = fmt.Sprintf("/api/v2/users?page=%d&per_page=%d", page+1, per)
		}
		writeJSON(w, 200, map[string]any{"data": data, "meta": map[string]any{"total": len(f.users), "page": page}, "links": map[string]any{"next": next}})
	})
	mux.HandleFunc("PUT /api/v2/users/by-employee/{emp}/status", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Active bool }
		us := f.byEmployee(r.PathValue("emp"))
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(us) == 0 {
			writeJSON(w, 404, map[string]any{"message": "no such user"})
			return
		}
		for _, u := range us {
			u.Active = in.Active
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("PUT /api/v2/roles/{role}/members/{emp}", func(w http.ResponseWriter, r *http.Request) {
		us := f.byEmployee(r.PathValue("emp"))
		if len(us) == 0 {
			writeJSON(w, 404, map[string]any{"message": "no such user"})
			return
		}
		role := r.PathValue("role")
		if !slices.Contains(f.members[role], us[0].ID) {
			f.members[role] = append(f.members[role], us[0].ID)
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("DELETE /api/v2/roles/{role}/members/{emp}", func(w http.ResponseWriter, r *http.Request) {
		role := r.PathValue("role")
		for _, u := range f.byEmployee(r.PathValue("emp")) {
			if i := slices.Index(f.members[role], u.ID); i >= 0 {
				f.members[role] = slices.Delete(f.members[role], i, i+1)
				w.WriteHeader(204)
				return
			}
		}
		writeJSON(w, 404, map[string]any{"message": "not a member"})
	})
	mux.HandleFunc("GET /api/v2/roles/{role}/members", func(w http.ResponseWriter, r *http.Request) {
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit < 1 {
			writeJSON(w, 400, map[string]any{"message": "limit is required"})
			return
		}
		from := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			if from, err = strconv.Atoi(strings.TrimPrefix(c, "c")); err != nil {
				writeJSON(w, 400, map[string]any{"message": "bad cursor"})
				return
			}
		}
		ids := f.members[r.PathValue("role")]
		from = min(from, len(ids))
		to := min(from+limit, len(ids))
		out := []any{}
		for _, id := range ids[from:to] {
			out = append(out, map[string]any{"userId": id})
		}
		next := ""
		if to < len(ids) {
			next = fmt.Sprintf("c%d", to)
		}
		writeJSON(w, 200, map[string]any{"members": out, "nextCursor": next})
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests++
		if f.fault != nil && f.fault(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// add makes a user directly (out of band, or as the API does); callers of
// the API hold f.mu, tests call it through addUser.
func (f *personal) add(emp, username string, active bool) *puser {
	f.next++
	u := &puser{ID: 100 + f.next, EmployeeNumber: emp, Username: username, Active: active}
	f.users = append(f.users, u)
	return u
}

func (f *personal) addUser(emp, username string, active bool) *puser {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(emp, username, active)
}

func (f *personal) byEmployee(emp string) []*puser {
	var out []*puser
	for _, u := range f.users {
		if u.EmployeeNumber == emp {
			out = append(out, u)
		}
	}
	return out
}

func (f *personal) addMember(role string, id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[role] = append(f.members[role], id)
}

func (f *personal) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *personal) setFault(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

// personalConfig is a config for the personal API, with reads: accounts
// by page number with a next link and a total, members by cursor.
func personalConfig(t *testing.T, f *personal, perPage, limit int) Config {
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte("s3cret-token\n"), 0o600))
	two := 2
	return Config{
		BaseURL: f.URL + "/api/v2",
		Auth:    Auth{Type: "bearer", TokenFile: tok},
		Retry:   Retry{Max: &two, WaitMin: 5 * time.Millisecond, WaitMax: 20 * time.Millisecond, MaxRetryAfter: time.Second},
		Operations: Operations{
			EnsureAccount: &Request{Method: "POST", Path: "/users",
				Body:    `{"employeeNumber": {{ .Person.ID | json }}, "firstName": {{ .Person.GivenName | json }}, "lastName": {{ .Person.FamilyName | json }}, "active": {{ .Enabled | json }}}`,
				Success: []int{201}, AlreadyDone: AlreadyDone{Status: []int{409}, Field: "error.code", Equals: "USER_EXISTS"},
				Ref: map[string]string{"user_id": "id"}},
			Disable: &Request{Method: "PUT", Path: "/users/by-employee/{{ .Person.ID | path }}/status", Body: `{"active": false}`, Success: []int{204}},
			Enable:  &Request{Method: "PUT", Path: "/users/by-employee/{{ .Person.ID | path }}/status", Body: `{"active": true}`, Success: []int{204}},
			Grant:   &Request{Method: "PUT", Path: "/roles/{{ .Entitlement | path }}/members/{{ .Person.ID | path }}", Success: []int{204}},
			Revoke: &Request{Method: "DELETE", Path: "/roles/{{ .Entitlement | path }}/members/{{ .Person.ID | path }}",
				Success: []int{204}, AlreadyDone: AlreadyDone{Status: []int{404}}},
		},
		Reads: &Reads{
			Accounts: &List{Path: fmt.Sprintf("/users?page={{ .Page | query }}&per_page=%d", perPage), Items: "data",
				Key: "id", Person: "employeeNumber", Enabled: Match{Field: "active"}, LastSignIn: "lastLogin",
				Ref: map[string]string{"user_id": "id", "username": "username"}, Paging: Paging{Next: "links.next", Total: "meta.total"}},
			Members: &List{Path: fmt.Sprintf("/roles/{{ .Entitlement | path }}/members?limit=%d{{ if .Cursor }}&cursor={{ .Cursor | query }}{{ end }}", limit),
				Items: "members", Key: "userId", Paging: Paging{Cursor: "nextCursor"}},
		},
	}
}

func reading(t *testing.T, cfg Config) Reading {
	t.Helper()
	c := open(t, cfg)
	r, ok := c.Instance().(Reading)
	require.True(t, ok, "an instance with reads is a Reading")
	return r
}

// EachAccount follows links.next to the end, one request a page, and
// yields each account that carries an employee number, with its state, its
// ref and its last sign-in; EachMember follows the cursor.
func TestReadsPage(t *testing.T) {
	t.Parallel()
	f := newPersonal(t)
	at := time.Date(2026, 11, 30, 7, 45, 0, 0, time.UTC)
	var ids []int
	for i := range 23 {
		u := f.addUser(fmt.Sprintf("1547-%d", i), fmt.Sprintf("bruker%d", i), i%4 != 0)
		if i == 5 {
			u.LastLogin = &at
		}
		ids = append(ids, u.ID)
	}
	f.addUser("", "tjenestekonto", true) // no employee number: not the instance's
	for _, id := range ids[:12] {
		f.addMember("Profil-Bruker", id)
	}
	r := reading(t, personalConfig(t, f, 5, 5))

	before := f.count()
	seen := map[string]connectors.TargetAccount{}
	require.NoError(t, r.EachAccount(ctx, func(a connectors.TargetAccount) error {
		require.NotContains(t, seen, a.Key, "listed once")
		seen[a.Key] = a
		return nil
	}))
	require.Equal(t, 5, f.count()-before, "24 users at 5 a page")
	require.Len(t, seen, 23)
	for i, id := range ids {
		a := seen[strconv.Itoa(id)]
		require.Equal(t, fmt.Sprintf("1547-%d", i), a.Person)
		require.Equal(t, i%4 != 0, a.Enabled)
		require.Equal(t, connectors.Ref{"id": a.Person, "user_id": strconv.Itoa(id), "username": fmt.Sprintf("bruker%d", i)}, a.Ref)
		if i == 5 {
			require.NotNil(t, a.LastSignIn)
			require.True(t, at.Equal(*a.LastSignIn))
		} else {
			require.Nil(t, a.LastSignIn, "null: never signed in")
		}
	}

	before = f.count()
	var members []string
	require.NoError(t, r.EachMember(ctx, "Profil-Bruker", func(m connectors.Member) error {
		members = append(members, m.Key)
		return nil
	}))
	require.Equal(t, 3, f.count()-before, "12 members at 5 a page")
	require.Len(t, members, 12)
	for _, id := range ids[:12] {
		require.Contains(t, members, strconv.Itoa(id))
		require.Contains(t, seen, strconv.Itoa(id), "a member's key is its account's")
	}
	require.NoError(t, r.EachMember(ctx, "Tom-Rolle", func(connectors.Member) error { t.Fatal("no members"); return nil }))
}

// Page-number paging without a next link: .Offset, and page_size to stop
// at a short page without asking for an empty one.
func TestReadsOffsetPaging(t *testing.T) {
	t.Parallel()
	f := newPersonal(t)
	for i := range 12 {
		f.addUser(fmt.Sprintf("1547-%d", i), "", true)
	}
	cfg := personalConfig(t, f, 5, 5)
	cfg.Reads.Accounts.Path = "/users?page={{ .Page | query }}&per_page=5&offset={{ .Offset | query }}"
	cfg.Reads.Accounts.Paging = Paging{PageSize: 5}
	r := reading(t, cfg)
	before, n := f.count(), 0
	require.NoError(t, r.EachAccount(ctx, func(connectors.TargetAccount) error { n++; return nil }))
	require.Equal(t, 12, n)
	require.Equal(t, 3, f.count()-before, "the third page has 2 of 5: the last")
}

// A read that fails or ends early is an error, never fewer accounts.
func TestReadsFailOrEndEarly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request) bool
		mod   func(*Config)
		kind  tilgang.Kind
		short bool
		says  string
	}{
		{name: "a page that errors", kind: tilgang.Unavailable, says: "page 2",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("page") == "2" {
					writeJSON(w, 500, map[string]any{"message": "database gone"})
					return true
				}
				return false
			}},
		{name: "a next link missing halfway", kind: tilgang.Unavailable, short: true, says: "read 10 of 23",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("page") == "2" {
					writeJSON(w, 200, map[string]any{"data": pageOf(6, 5), "meta": map[string]any{"total": 23}, "links": map[string]any{"next": nil}})
					return true
				}
				return false
			}},
		{name: "a page without its items", kind: tilgang.Unavailable, says: "has no data",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("page") == "3" {
					writeJSON(w, 200, map[string]any{"error": "maintenance"})
					return true
				}
				return false
			}},
		{name: "a body that is not JSON", kind: tilgang.Unavailable, says: "not JSON",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("page") == "2" {
					w.WriteHeader(200)
					w.Write([]byte(`{"data": [{"id": 1`))
					return true
				}
				return false
			}},
		{name: "a next link to another host", kind: tilgang.Unavailable, says: "leads off",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				writeJSON(w, 200, map[string]any{"data": pageOf(1, 5), "meta": map[string]any{"total": 23}, "links": map[string]any{"next": "https://evil.example/api/v2/users?page=2"}})
				return true
			}},
		{name: "a page parameter the system ignores", kind: tilgang.Unavailable, says: "does not advance",
			mod: func(c *Config) {
				c.Reads.Accounts.Paging = Paging{}
			},
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && r.URL.Path == "/api/v2/users" {
					writeJSON(w, 200, map[string]any{"data": pageOf(1, 5)})
					return true
				}
				return false
			}},
		{name: "a total that is missing", kind: tilgang.Unavailable, says: "no count at meta.total",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				writeJSON(w, 200, map[string]any{"data": pageOf(1, 5), "links": map[string]any{"next": nil}})
				return true
			}},
		{name: "a denied read", kind: tilgang.Denied, says: "403",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				writeJSON(w, 403, map[string]any{"message": "token lacks users:read"})
				return true
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newPersonal(t)
			for i := range 23 {
				f.addUser(fmt.Sprintf("1547-%d", i), "", true)
			}
			cfg := personalConfig(t, f, 5, 5)
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			r := reading(t, cfg)
			f.setFault(tc.fault)
			err := r.EachAccount(ctx, func(connectors.TargetAccount) error { return nil })
			require.Error(t, err)
			require.Equal(t, tc.kind, tilgang.KindOf(err), "%v", err)
			require.ErrorContains(t, err, tc.says)
			require.Equal(t, tc.short, errors.Is(err, connectors.ErrShortRead), "%v", err)
		})
	}
}

// pageOf is n account items with ids from first, as the personal API
// writes them.
func pageOf(first, n int) []any {
	var out []any
	for i := range n {
		out = append(out, map[string]any{"id": 100 + first + i, "employeeNumber": fmt.Sprintf("1547-%d", first+i-1), "active": true})
	}
	return out
}

// The caller's own error stops the read and comes back unchanged.
func TestReadsStopOnCallersError(t *testing.T) {
	t.Parallel()
	f := newPersonal(t)
	for i := range 12 {
		f.addUser(fmt.Sprintf("1547-%d", i), "", true)
	}
	r := reading(t, personalConfig(t, f, 5, 5))
	stop := errors.New("enough")
	n := 0
	err := r.EachAccount(ctx, func(connectors.TargetAccount) error { n++; return stop })
	require.Same(t, stop, err)
	require.Equal(t, 1, n)
}

// Without reads, an instance is not a Reader: reconciliation skips it.
func TestWithoutReadsNotAReader(t *testing.T) {
	t.Parallel()
	f := newPersonal(t)
	cfg := personalConfig(t, f, 5, 5)
	cfg.Reads = nil
	conn, err := cfg.Open("profil", nil)
	require.NoError(t, err)
	_, ok := conn.(connectors.Reader)
	require.False(t, ok)
	cfg = personalConfig(t, f, 5, 5)
	conn, err = cfg.Open("profil", nil)
	require.NoError(t, err)
	_, ok = conn.(connectors.Reader)
	require.True(t, ok)
}

// config check names every bad read template and field.
func TestReadsValidation(t *testing.T) {
	t.Parallel()
	f := newPersonal(t)
	for _, tc := range []struct {
		name string
		mod  func(r *Reads)
		says []string
	}{
		{name: "unescaped page", mod: func(r *Reads) { r.Accounts.Path = "/users?page={{ .Page }}" },
			says: []string{"reads.accounts.path", "must end with | query"}},
		{name: "entitlement unescaped in the path", mod: func(r *Reads) { r.Members.Path = "/roles/{{ .Entitlement }}/members?cursor={{ .Cursor | query }}" },
			says: []string{"reads.members.path", "must end with | path"}},
		{name: "no key, person or enabled", mod: func(r *Reads) { r.Accounts.Key, r.Accounts.Person, r.Accounts.Enabled = "", "", Match{} },
			says: []string{"reads.accounts.key is empty", "reads.accounts.person is empty", "reads.accounts.enabled.field is empty"}},
		{name: "cursor never read", mod: func(r *Reads) { r.Members.Path = "/roles/{{ .Entitlement | path }}/members?limit=5" },
			says: []string{"reads.members.path: paging.cursor is set but the template never reads .Cursor"}},
		{name: "no way past the first page", mod: func(r *Reads) { r.Accounts.Path = "/users"; r.Accounts.Paging = Paging{} },
			says: []string{"reads.accounts.paging: set next or cursor, or use .Page or .Offset"}},
		{name: "both next and cursor", mod: func(r *Reads) { r.Members.Paging.Next = "links.next" },
			says: []string{"reads.members.paging: set next or cursor, not both"}},
		{name: "a ref key fixes need", mod: func(r *Reads) { delete(r.Accounts.Ref, "user_id") },
			says: []string{"reads.accounts.ref: no field for user_id"}},
		{name: "a method that changes things", mod: func(r *Reads) { r.Accounts.Method = "DELETE" },
			says: []string{`reads.accounts.method "DELETE" must be GET`}},
		{name: "members missing", mod: func(r *Reads) { r.Members = nil },
			says: []string{"reads.members is missing"}},
		{name: "person on members", mod: func(r *Reads) { r.Members.Person = "employeeNumber" },
			says: []string{"reads.members: person, enabled and last_sign_in are for reads.accounts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := personalConfig(t, f, 5, 5)
			tc.mod(cfg.Reads)
			err := cfg.Validate()
			require.Error(t, err)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
			for _, s := range tc.says {
				require.ErrorContains(t, err, s)
			}
		})
	}
	cfg := personalConfig(t, f, 5, 5)
	require.NoError(t, cfg.Validate(), "the test's own config is good")
}
