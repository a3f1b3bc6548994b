package graphemu

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a Server.
type Options struct {
	// ClientID and ClientSecret are what the token endpoint accepts; empty
	// accepts any client.
	ClientID     string
	ClientSecret string
	// ClientCertificate (DER) is accepted instead of the secret as a client
	// assertion: a JWT signed RS256 with the certificate's key, x5t its
	// SHA-1 thumbprint, aud the token URL, iss and sub the client id.
	ClientCertificate []byte
	// Domains are the tenant's verified domains; a UPN in another is refused.
	// Empty accepts any domain.
	Domains []string
	// WithoutPremium is a tenant without a Microsoft Entra ID P1 or P2
	// licence: a user read that selects or filters on signInActivity is
	// refused with 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant.
	WithoutPremium bool
	Faults         Faults
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Seed makes the random faults repeatable.
	Seed uint64
}

// Faults are the misbehaviours the emulator can show.
type Faults struct {
	// Budget is the number of requests allowed per Window (10 s when zero);
	// zero is unlimited. A request over budget gets 429 with Retry-After.
	Budget int
	Window time.Duration
	// Unavailable is the probability that a request gets 503 with
	// Retry-After: 1 instead of being served.
	Unavailable float64
	// ReplicationDelay is how long a new object reads as 404.
	ReplicationDelay time.Duration
	// DropAfterWrite is the probability that a write is applied and then the
	// connection is closed without a response.
	DropAfterWrite float64
	// BreakPage, when positive, breaks every listing (users, groups,
	// members) at its BreakPage-th page (the first page is 0) as PageFault
	// says: "error" answers that page 500 every time, "cut" sends half of
	// its body and closes the connection, "short" serves the page before it
	// without its @odata.nextLink, so the listing ends early.
	BreakPage int
	PageFault string
}

// Write is one applied change, for tests to count.
type Write struct {
	Op     string // user.create, user.update, user.tap, user.delete, member.add, member.remove, group.delete
	Target string // the user or group id changed
	Object string // the member id, for member changes
	Detail string // the properties changed, for updates
}

type object struct {
	kind    string          // user or group
	signIn  *signInActivity // users: nil until the first sign-in
	props   map[string]any
	members []string // groups: member ids in order added
	created time.Time
	// mustChange is the user's pending forceChangePasswordNextSignIn; the
	// password itself is never kept.
	mustChange bool
}

// Server is the emulator.
type Server struct {
	opts Options

	mu          sync.Mutex
	faults      Faults
	rnd         *rand.Rand
	objects     map[string]*object
	writes      []Write
	windowStart time.Time
	used        int
	tokens      map[string]bool
	requests    int
	// withoutPremium starts as Options.WithoutPremium.
	withoutPremium bool
	// sorted lists each kind's objects by id, for stable paging; nil
	// after a create or delete until the next listing.
	sorted map[string][]*object
}

// New returns an emulator with no objects.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, faults: opts.Faults, rnd: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)),
		objects: map[string]*object{}, tokens: map[string]bool{}, withoutPremium: opts.WithoutPremium}
}

// SetWithoutPremium takes the tenant's Entra ID P1/P2 licence away (true)
// or gives it back, as Options.WithoutPremium.
func (s *Server) SetWithoutPremium(without bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withoutPremium = without
}

// SetFaults replaces the faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.used = 0
}

// Writes returns the applied writes in order.
func (s *Server) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

// RevokeTokens invalidates every access token issued so far, as an
// expired or revoked token is; the next API request answers 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// Requests is the number of API requests received, counting each request
// inside a $batch and not the $batch itself.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// AddGroup creates a security group and returns its id; synced marks it
// onPremisesSyncEnabled. It is visible at once (no replication delay).
func (s *Server) AddGroup(displayName string, synced bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := uuid.NewString()
	props := map[string]any{"id": id, "displayName": displayName, "mailEnabled": false,
		"mailNickname": strings.ReplaceAll(displayName, " ", ""), "securityEnabled": true,
		"groupTypes": []any{}, "onPremisesSyncEnabled": nil}
	if synced {
		props["onPremisesSyncEnabled"] = true
	}
	s.objects[id] = &object{kind: "group", props: props}
	s.sorted = nil
	return id
}

// DeleteGroup deletes a group, as DELETE /groups/{id} does
// (group-delete.md): every later request naming its id answers 404.
func (s *Server) DeleteGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[id]; o != nil && o.kind == "group" {
		delete(s.objects, id)
		s.sorted = nil
		s.writes = append(s.writes, Write{Op: "group.delete", Target: id})
	}
}

// AddUser creates a user from Graph properties (userPrincipalName at
// least) and returns its id; it is visible at once. Use it for users that
// exist before a test, such as ones synced from AD.
func (s *Server) AddUser(props map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := uuid.NewString()
	p := map[string]any{"id": id, "accountEnabled": true}
	for k, v := range props {
		p[k] = v
	}
	o := &object{kind: "user", props: p}
	if pp, ok := p["passwordProfile"].(map[string]any); ok {
		o.mustChange = pp["forceChangePasswordNextSignIn"] == true
		delete(p, "passwordProfile")
	}
	s.objects[id] = o
	s.sorted = nil
	return id
}

// SignIn is the user (by id or UPN) signing in with its password and
// changing it as forced: passwordProfile reads null from then on, and
// signInActivity's lastSignInDateTime and lastSuccessfulSignInDateTime are
// now. It reports whether there was such a user.
func (s *Server) SignIn(key string) bool {
	return s.SignedInAt(key, s.opts.Now())
}

// SignedInAt records a successful interactive sign-in of the user at t, as
// SignIn does (to set up users who last signed in long ago).
func (s *Server) SignedInAt(key string, t time.Time) bool {
	return s.record(key, func(o *object, a *signInActivity, id string) {
		o.mustChange = false
		a.last, a.lastID = t, id
		a.lastSuccessful, a.lastSuccessID = t, id
	})
}

// SignInFailedAt records an interactive sign-in attempt at t that failed (a
// wrong password): it moves lastSignInDateTime, which records attempts,
// and not lastSuccessfulSignInDateTime (signinactivity.md).
func (s *Server) SignInFailedAt(key string, t time.Time) bool {
	return s.record(key, func(_ *object, a *signInActivity, id string) { a.last, a.lastID = t, id })
}

// NonInteractiveSignInAt records a successful non-interactive sign-in at t
// (a client refreshing its token): lastNonInteractiveSignInDateTime and
// lastSuccessfulSignInDateTime move, lastSignInDateTime does not.
func (s *Server) NonInteractiveSignInAt(key string, t time.Time) bool {
	return s.record(key, func(_ *object, a *signInActivity, id string) {
		a.lastNonInteractive, a.lastNonInteractiveID = t, id
		a.lastSuccessful, a.lastSuccessID = t, id
	})
}

func (s *Server) record(key string, f func(*object, *signInActivity, string)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup("user", key, false)
	if o == nil {
		return false
	}
	if o.signIn == nil {
		o.signIn = &signInActivity{}
	}
	f(o, o.signIn, uuid.NewString())
	return true
}

// DeleteUser deletes a user, as DELETE /users/{id} does (user-delete.md):
// it leaves every group and reads as 404. It reports whether there was
// such a user.
func (s *Server) DeleteUser(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup("user", key, false)
	if o == nil {
		return false
	}
	id := str(o.props["id"])
	delete(s.objects, id)
	for _, g := range s.objects {
		if g.kind == "group" {
			if i := slices.Index(g.members, id); i >= 0 {
				g.members = slices.Delete(g.members, i, i+1)
			}
		}
	}
	s.sorted = nil
	s.writes = append(s.writes, Write{Op: "user.delete", Target: id})
	return true
}

// SetUser changes a user's properties directly (accountEnabled, say),
// without a logged write: a change made out of band, at the portal.
func (s *Server) SetUser(key string, props map[string]any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup("user", key, false)
	if o == nil {
		return false
	}
	for k, v := range props {
		o.props[k] = v
	}
	return true
}

// RemoveMembersDirect removes ids from group without logging writes.
func (s *Server) RemoveMembersDirect(group string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[group]; o != nil {
		o.members = slices.DeleteFunc(o.members, func(m string) bool { return slices.Contains(ids, m) })
	}
}

// User returns a copy of a user's properties by id or UPN, ignoring the
// replication delay.
func (s *Server) User(key string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup("user", key, false)
	if o == nil {
		return nil, false
	}
	out := map[string]any{}
	for k, v := range o.props {
		out[k] = v
	}
	return out, true
}

// FindUsers returns the ids of the users whose property prop is value
// (compared as Graph's eq compares strings, without regard to case), in
// id order, ignoring the replication delay.
func (s *Server) FindUsers(prop, value string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, o := range s.sortedObjects("user") {
		if v, ok := o.value(prop); ok && strings.EqualFold(v, value) {
			ids = append(ids, str(o.props["id"]))
		}
	}
	return ids
}

// Members returns a group's member ids.
func (s *Server) Members(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[group]; o != nil {
		return append([]string(nil), o.members...)
	}
	return nil
}

// AddMembersDirect makes ids members of group without logging writes (to
// set up large groups).
func (s *Server) AddMembersDirect(group string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[group]; o != nil {
		o.members = append(o.members, ids...)
	}
}

// response is one answer, written to the wire or into a $batch.
type response struct {
	status int
	header map[string]string
	body   any
	text   string // a text/plain body ($count) when body is nil
	// cut sends half of the body and then closes the connection.
	cut bool
}

func errResp(status int, code, msg string) response {
	return response{status: status, body: errorBody(code, msg, nil)}
}

func errorBody(code, msg string, details []map[string]string) map[string]any {
	e := map[string]any{"code": code, "message": msg, "innerError": map[string]any{
		"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": uuid.NewString(),
		"client-request-id": uuid.NewString()}}
	if details != nil {
		e["details"] = details
	}
	return map[string]any{"error": e}
}

func notFound(id string) response {
	return errResp(404, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func badRequest(msg string) response { return errResp(400, "Request_BadRequest", msg) }

const (
	msgAlreadyMember = "One or more added object references already exist for the following modified properties: 'members'."
	msgSynced        = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."
	msgPassword      = "The specified password does not comply with password complexity requirements. Please provide a different password."
)

// ServeHTTP serves the token endpoint and /v1.0.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1.0/") {
		writeResp(w, errResp(404, "BadRequest", "Invalid version: "+r.URL.Path))
		return
	}
	if !s.authorized(r) {
		writeResp(w, errResp(401, "InvalidAuthenticationToken", "Access token is empty or invalid."))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeResp(w, badRequest("Unable to read JSON request payload: "+err.Error()))
		return
	}
	base := "http://" + r.Host + "/v1.0"
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	var resp response
	var wrote bool
	if path == "/$batch" && r.Method == http.MethodPost {
		resp, wrote = s.batch(base, body)
	} else {
		resp, wrote = s.serve(r.Method, path, r.URL.Query(), r.Header, body, base)
	}
	if resp.cut {
		if hj, ok := w.(http.Hijacker); ok {
			b, _ := json.Marshal(resp.body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(resp.status)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	if wrote && s.drop() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	writeResp(w, resp)
}

func (s *Server) drop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.DropAfterWrite > 0 && s.rnd.Float64() < s.faults.DropAfterWrite
}

func writeResp(w http.ResponseWriter, r response) {
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	if r.body == nil && r.text != "" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(r.status)
		io.WriteString(w, r.text)
		return
	}
	if r.body == nil {
		w.WriteHeader(r.status)
		return
	}
	b, _ := json.Marshal(r.body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	w.Write(b)
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(io.LimitReader(rd, 4<<20))
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthErr(w, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		writeOAuthErr(w, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
		return
	}
	if s.opts.ClientID != "" && f.Get("client_id") != s.opts.ClientID {
		writeOAuthErr(w, "unauthorized_client", "AADSTS700016: Application with identifier '"+f.Get("client_id")+"' was not found in the directory.")
		return
	}
	if a := f.Get("client_assertion"); a != "" {
		if err := s.checkAssertion(a, f.Get("client_id"), "http://"+r.Host+r.URL.Path); err != nil {
			writeOAuthErr(w, "invalid_client", "AADSTS700027: Client assertion failed signature validation: "+err.Error())
			return
		}
	} else if s.opts.ClientID != "" && (s.opts.ClientSecret == "" || f.Get("client_secret") != s.opts.ClientSecret) {
		writeOAuthErr(w, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	tok := "emu-" + uuid.NewString()
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

func writeOAuthErr(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc})
}

func (s *Server) authorized(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) != 1 {
		return false // a client that appends a second token on retry is caught here
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok]
}

// admit applies the throttling budget and the random 503s to one request.
func (s *Server) admit() (response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	now := s.opts.Now()
	if f := s.faults; f.Budget > 0 {
		win := f.Window
		if win <= 0 {
			win = 10 * time.Second
		}
		if now.Sub(s.windowStart) >= win {
			s.windowStart, s.used = now, 0
		}
		if s.used >= f.Budget {
			wait := int(math.Ceil(s.windowStart.Add(win).Sub(now).Seconds()))
			if wait < 1 {
				wait = 1
			}
			r := errResp(429, "TooManyRequests", "Too many requests.")
			r.header = map[string]string{"Retry-After": strconv.Itoa(wait)}
			return r, false
		}
		s.used++
	}
	if s.faults.Unavailable > 0 && s.rnd.Float64() < s.faults.Unavailable {
		r := errResp(503, "serviceNotAvailable", "Service is temporarily unavailable. Please try again later.")
		r.header = map[string]string{"Retry-After": "1"}
		return r, false
	}
	return response{}, true
}

var (
	reUser        = regexp.MustCompile(`^/users/([^/]+)$`)
	reGroup       = regexp.MustCompile(`^/groups/([^/]+)$`)
	reMembers     = regexp.MustCompile(`^/groups/([^/]+)/members(?:/((?:microsoft\.)?graph\.\w+))?$`)
	reMembersCnt  = regexp.MustCompile(`^/groups/([^/]+)/members(?:/((?:microsoft\.)?graph\.\w+))?/\$count$`)
	reMembersRef  = regexp.MustCompile(`^/groups/([^/]+)/members/\$ref$`)
	reMemberRef   = regexp.MustCompile(`^/groups/([^/]+)/members/([^/]+)/\$ref$`)
	reTAP         = regexp.MustCompile(`^/users/([^/]+)/authentication/temporaryAccessPassMethods$`)
	reObjectIDRef = regexp.MustCompile(`/(?:directoryObjects|users|groups)/([^/?]+)$`)
)

// serve answers one API request (top level or inside a $batch); wrote
// reports whether it applied a write.
func (s *Server) serve(method, path string, q url.Values, h http.Header, body []byte, base string) (response, bool) {
	if r, ok := s.admit(); !ok {
		return r, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path, _ = url.PathUnescape(path)
	if s.withoutPremium && method == http.MethodGet && (path == "/users" || reUser.MatchString(path)) &&
		(selects(q, "signInActivity") || strings.Contains(q.Get("$filter"), "signInActivity/")) {
		// The code as Graph answers it (reported in public projects that
		// read signInActivity; the reference pages only name the licence).
		return errResp(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
			"Tenant is not a B2C tenant and doesn't have premium license"), false
	}
	switch {
	case path == "/users" && method == http.MethodGet:
		return s.listUsers(q, h, base), false
	case path == "/users" && method == http.MethodPost:
		return s.createUser(body)
	case path == "/groups" && method == http.MethodGet:
		return s.listGroups(q, h, base), false
	case path == "/users/$count" && method == http.MethodGet:
		return s.count(listing{table: userFilter, resource: "User", objs: s.sortedObjects("user")}, q, h), false
	case path == "/groups/$count" && method == http.MethodGet:
		return s.count(listing{table: groupFilter, resource: "Group", objs: s.sortedObjects("group")}, q, h), false
	}
	if m := reMembersCnt.FindStringSubmatch(path); m != nil && method == http.MethodGet {
		l, r := s.memberListing(m[1], m[2])
		if r != nil {
			return *r, false
		}
		return s.count(l, q, h), false
	}
	if m := reUser.FindStringSubmatch(path); m != nil {
		switch method {
		case http.MethodGet:
			o := s.lookup("user", m[1], true)
			if o == nil {
				return notFound(m[1]), false
			}
			return response{status: 200, body: s.entity(o, "users", q)}, false
		case http.MethodPatch:
			return s.patchUser(m[1], body)
		}
	}
	if m := reGroup.FindStringSubmatch(path); m != nil {
		switch method {
		case http.MethodGet:
			o := s.lookup("group", m[1], true)
			if o == nil {
				return notFound(m[1]), false
			}
			return response{status: 200, body: s.entity(o, "groups", q)}, false
		case http.MethodPatch:
			return s.patchGroup(m[1], body)
		}
	}
	if m := reMembers.FindStringSubmatch(path); m != nil && method == http.MethodGet {
		return s.listMembers(m[1], m[2], q, h, base), false
	}
	if m := reMembersRef.FindStringSubmatch(path); m != nil {
		switch method {
		case http.MethodPost:
			var ref struct {
				ID string `json:"@odata.id"`
			}
			if err := json.Unmarshal(body, &ref); err != nil || ref.ID == "" {
				return badRequest("Invalid request body: an @odata.id is required."), false
			}
			return s.addMembers(m[1], []string{ref.ID})
		case http.MethodDelete:
			id := q.Get("$id")
			if id == "" {
				id = q.Get("@id")
			}
			if id == "" {
				return badRequest("The $id query parameter is required."), false
			}
			return s.removeMember(m[1], refID(id))
		}
	}
	if m := reMemberRef.FindStringSubmatch(path); m != nil && method == http.MethodDelete {
		return s.removeMember(m[1], m[2])
	}
	if m := reTAP.FindStringSubmatch(path); m != nil && method == http.MethodPost {
		return s.createTAP(m[1], body)
	}
	return errResp(400, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", strings.TrimPrefix(path, "/"))), false
}

func refID(odataID string) string {
	if m := reObjectIDRef.FindStringSubmatch(odataID); m != nil {
		return m[1]
	}
	return odataID
}

// lookup finds an object by id, or a user by UPN (case-insensitive);
// visible applies the replication delay. Callers hold s.mu.
func (s *Server) lookup(kind, key string, visible bool) *object {
	o := s.objects[key]
	if o == nil && kind == "user" {
		for _, c := range s.objects {
			if c.kind == "user" && strings.EqualFold(str(c.props["userPrincipalName"]), key) {
				o = c
				break
			}
		}
	}
	if o == nil || (kind != "" && o.kind != kind) {
		return nil
	}
	if visible && !s.visible(o) {
		return nil
	}
	return o
}

func (s *Server) visible(o *object) bool {
	return s.faults.ReplicationDelay <= 0 || o.created.IsZero() || s.opts.Now().Sub(o.created) >= s.faults.ReplicationDelay
}

func str(v any) string { s, _ := v.(string); return s }

var userDefault = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

var groupDefault = []string{"id", "displayName", "description", "groupTypes", "mail", "mailEnabled",
	"mailNickname", "onPremisesSyncEnabled", "securityEnabled"}

func (s *Server) project(o *object, q url.Values) map[string]any {
	fields := userDefault
	if o.kind == "group" {
		fields = groupDefault
	}
	if sel := q.Get("$select"); sel != "" {
		fields = strings.Split(sel, ",")
	}
	out := map[string]any{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "signInActivity" && o.kind == "user" {
			// Returned only on $select, and "not returned for a user who
			// has never signed in" (user.md): the property is left out.
			if o.signIn != nil {
				out[f] = o.signIn.props()
			}
			continue
		}
		if f == "passwordProfile" && o.kind == "user" {
			out[f] = nil
			if o.mustChange {
				out[f] = map[string]any{"password": nil, "forceChangePasswordNextSignIn": true, "forceChangePasswordNextSignInWithMfa": false}
			}
			continue
		}
		v, ok := o.props[f]
		if !ok && f == "businessPhones" {
			v = []any{}
		}
		out[f] = v
	}
	return out
}

func (s *Server) entity(o *object, set string, q url.Values) map[string]any {
	out := s.project(o, q)
	out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#" + set + "/$entity"
	return out
}

// listing is one list request: which objects, how to filter and project
// them, and where its pages live.
type listing struct {
	set      string // the @odata.context entity set: users, groups, directoryObjects
	path     string // below /v1.0, for the nextLink
	table    map[string]ops
	resource string // User or Group, in error messages
	objs     []*object
	// members marks a relationship listing: each item carries @odata.type.
	members bool
}

// sortedObjects is every object of a kind in id order, cached until the
// next create or delete. Callers hold s.mu.
func (s *Server) sortedObjects(kind string) []*object {
	if objs, ok := s.sorted[kind]; ok {
		return objs
	}
	var objs []*object
	for _, o := range s.objects {
		if o.kind == kind {
			objs = append(objs, o)
		}
	}
	sort.Slice(objs, func(i, j int) bool { return str(objs[i].props["id"]) < str(objs[j].props["id"]) })
	if s.sorted == nil {
		s.sorted = map[string][]*object{}
	}
	s.sorted[kind] = objs
	return objs
}

func (s *Server) listUsers(q url.Values, h http.Header, base string) response {
	return s.list(listing{set: "users", path: "/users", table: userFilter, resource: "User", objs: s.sortedObjects("user")}, q, h, base)
}

func (s *Server) listGroups(q url.Values, h http.Header, base string) response {
	return s.list(listing{set: "groups", path: "/groups", table: groupFilter, resource: "Group", objs: s.sortedObjects("group")}, q, h, base)
}

// castUser is the OData cast to users in a members path: Graph takes the
// full name (group-list-members.md) and the SDK sends the alias graph.user.
func castUser(cast string) (bool, *queryError) {
	switch cast {
	case "":
		return false, nil
	case "microsoft.graph.user", "graph.user":
		return true, nil
	}
	return false, &queryError{400, "Request_UnsupportedQuery", fmt.Sprintf("The type '%s' is not a supported member type for an OData cast on members.", cast)}
}

// memberListing is the listing of a group's members, or of those that are
// users when cast says so; nil with a response when the group is missing.
func (s *Server) memberListing(gid, cast string) (listing, *response) {
	g := s.lookup("group", gid, true)
	if g == nil {
		r := notFound(gid)
		return listing{}, &r
	}
	users, qe := castUser(cast)
	if qe != nil {
		r := qe.resp()
		return listing{}, &r
	}
	l := listing{set: "directoryObjects", path: "/groups/" + gid + "/members", table: userFilter, resource: "User", members: true}
	if users {
		l.set, l.path = "users", l.path+"/microsoft.graph.user"
	}
	for _, id := range g.members {
		if o := s.objects[id]; o != nil && (!users || o.kind == "user") {
			l.objs = append(l.objs, o)
		}
	}
	return l, nil
}

func (s *Server) listMembers(gid, cast string, q url.Values, h http.Header, base string) response {
	l, r := s.memberListing(gid, cast)
	if r != nil {
		return *r
	}
	// group-list-members.md: $filter on members is an advanced query.
	if q.Get("$filter") != "" && !advancedQuery(h, q) {
		return needsAdvanced("filter").resp()
	}
	return s.list(l, q, h, base)
}

// count answers a $count path segment: text/plain, and only with
// ConsistencyLevel: eventual (aad-advanced-queries.md, "Error handling").
func (s *Server) count(l listing, q url.Values, h http.Header) response {
	if !eventual(h) {
		return badRequest("$count is not currently supported.")
	}
	conds, qe := parseFilter(q.Get("$filter"), l.table, l.resource, true)
	if qe != nil {
		return qe.resp()
	}
	return response{status: 200, text: strconv.Itoa(len(s.matching(l.objs, conds)))}
}

func (s *Server) matching(objs []*object, conds []cond) []*object {
	var hits []*object
	for _, o := range objs {
		if !s.visible(o) {
			continue
		}
		all := true
		for _, c := range conds {
			all = all && c.match(o)
		}
		if all {
			hits = append(hits, o)
		}
	}
	return hits
}

// list pages through a listing: $filter, $select, $top (1..999, default
// 100; at most 120 when signInActivity is selected or filtered, user-list.md),
// $count=true with ConsistencyLevel: eventual adding @odata.count to the
// first page (without the header it is ignored, as Graph ignores it), and
// an absolute @odata.nextLink carrying the query and a $skiptoken.
func (s *Server) list(l listing, q url.Values, h http.Header, base string) response {
	// The $skiptoken is the page's number and where the page before ended:
	// the last id (users and groups, listed in id order) or the position
	// (members, in the order they were added).
	page, after := 0, ""
	t := q.Get("$skiptoken")
	if t != "" {
		n, rest, ok := strings.Cut(t, ".")
		p, err := strconv.Atoi(n)
		if !ok || err != nil || p < 1 {
			return badRequest("Invalid skip token.")
		}
		page, after = p, rest
	}
	// A nextLink's $skiptoken stands for the query it was issued for, so a
	// later page is not asked for the advanced query parameters again.
	adv := advancedQuery(h, q) || (t != "" && strings.EqualFold(q.Get("$count"), "true"))
	conds, qe := parseFilter(q.Get("$filter"), l.table, l.resource, adv)
	if qe != nil {
		return qe.resp()
	}
	top := 100
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			return errResp(400, "Request_UnsupportedQuery", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
		}
		top = n
	}
	if l.set == "users" && (selects(q, "signInActivity") || strings.Contains(q.Get("$filter"), "signInActivity/")) {
		top = min(top, 120)
	}
	from := 0
	if after != "" {
		if l.members {
			n, err := strconv.Atoi(after)
			if err != nil || n < 0 {
				return badRequest("Invalid skip token.")
			}
			from = min(n, len(l.objs))
		} else {
			from = sort.Search(len(l.objs), func(i int) bool { return str(l.objs[i].props["id"]) > after })
		}
	}
	f := s.faults
	if f.BreakPage > 0 && page >= f.BreakPage {
		switch f.PageFault {
		case "error":
			return errResp(500, "UnknownError", "An internal server error occurred while listing the page.")
		case "cut":
			r := s.page(l, q, base, conds, page, from, top, adv)
			r.cut = true
			return r
		}
	}
	r := s.page(l, q, base, conds, page, from, top, adv)
	if f.BreakPage > 0 && f.PageFault == "short" && page+1 >= f.BreakPage {
		delete(r.body.(map[string]any), "@odata.nextLink")
	}
	return r
}

// page serves up to top matching objects from l.objs[from:], with a
// nextLink when more match after them and, for an advanced query's first
// page, @odata.count.
func (s *Server) page(l listing, q url.Values, base string, conds []cond, page, from, top int, adv bool) response {
	match := func(o *object) bool {
		if !s.visible(o) {
			return false
		}
		for _, c := range conds {
			if !c.match(o) {
				return false
			}
		}
		return true
	}
	value := []any{}
	i := from
	for ; i < len(l.objs) && len(value) < top; i++ {
		o := l.objs[i]
		if !match(o) {
			continue
		}
		v := s.project(o, q)
		if l.members {
			v["@odata.type"] = "#microsoft.graph." + o.kind
		}
		value = append(value, v)
	}
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + l.set, "value": value}
	if adv && page == 0 {
		out["@odata.count"] = len(s.matching(l.objs, conds))
	}
	more := false
	for j := i; j < len(l.objs) && !more; j++ {
		more = match(l.objs[j])
	}
	if more {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		last := strconv.Itoa(i)
		if !l.members {
			last = str(l.objs[i-1].props["id"])
		}
		nq.Set("$skiptoken", strconv.Itoa(page+1)+"."+last)
		out["@odata.nextLink"] = base + l.path + "?" + nq.Encode()
	}
	return response{status: 200, body: out}
}

var userWritable = map[string]bool{"accountEnabled": true, "displayName": true, "mailNickname": true,
	"userPrincipalName": true, "passwordProfile": true, "givenName": true, "surname": true, "mail": true,
	"employeeId": true, "department": true, "jobTitle": true, "usageLocation": true, "officeLocation": true,
	"companyName": true, "mobilePhone": true, "preferredLanguage": true, "city": true, "country": true}

var upnRE = regexp.MustCompile(`^[A-Za-z0-9'._!#^~-]+@([A-Za-z0-9.-]+)$`)

func (s *Server) createUser(body []byte) (response, bool) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."), false
	}
	for k := range in {
		if strings.HasPrefix(k, "@odata.") {
			delete(in, k) // the SDK sends @odata.type; Graph accepts it
			continue
		}
		if !userWritable[k] {
			return badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", k)), false
		}
	}
	for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
		if in[req] == nil || in[req] == "" {
			return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", req)), false
		}
	}
	upn := str(in["userPrincipalName"])
	m := upnRE.FindStringSubmatch(upn)
	if m == nil {
		return badRequest("Invalid value specified for property 'userPrincipalName' of resource 'User'."), false
	}
	if !s.domainOK(m[1]) {
		return badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization."), false
	}
	pp, _ := in["passwordProfile"].(map[string]any)
	if !complexPassword(str(pp["password"])) {
		return badRequest(msgPassword), false
	}
	for _, o := range s.objects {
		if o.kind == "user" && strings.EqualFold(str(o.props["userPrincipalName"]), upn) {
			return response{status: 400, body: errorBody("Request_BadRequest",
				"Another object with the same value for property userPrincipalName already exists.",
				[]map[string]string{{"target": "userPrincipalName", "code": "ObjectConflict"}})}, false
		}
	}
	id := uuid.NewString()
	props := map[string]any{"id": id}
	for k, v := range in {
		if k != "passwordProfile" {
			props[k] = v
		}
	}
	o := &object{kind: "user", props: props, created: s.opts.Now(), mustChange: pp["forceChangePasswordNextSignIn"] == true}
	s.objects[id] = o
	s.sorted = nil
	s.writes = append(s.writes, Write{Op: "user.create", Target: id, Detail: upn})
	out := s.project(o, url.Values{})
	for k, v := range props {
		out[k] = v
	}
	out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
	return response{status: 201, body: out}, true
}

func (s *Server) domainOK(d string) bool {
	if len(s.opts.Domains) == 0 {
		return true
	}
	for _, v := range s.opts.Domains {
		if strings.EqualFold(v, d) {
			return true
		}
	}
	return false
}

// complexPassword is Entra's rule: 8..256 characters, three of upper,
// lower, digit and symbol.
func complexPassword(pw string) bool {
	if len(pw) < 8 || len(pw) > 256 {
		return false
	}
	var u, l, d, o int
	for _, r := range pw {
		switch {
		case r >= 'A' && r <= 'Z':
			u = 1
		case r >= 'a' && r <= 'z':
			l = 1
		case r >= '0' && r <= '9':
			d = 1
		default:
			o = 1
		}
	}
	return u+l+d+o >= 3
}

func synced(o *object) bool { b, _ := o.props["onPremisesSyncEnabled"].(bool); return b }

func (s *Server) patchUser(key string, body []byte) (response, bool) {
	o := s.lookup("user", key, true)
	if o == nil {
		return notFound(key), false
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("Unable to read JSON request payload."), false
	}
	for k := range in {
		if strings.HasPrefix(k, "@odata.") {
			delete(in, k) // the SDK sends @odata.type; Graph accepts it
			continue
		}
		if !userWritable[k] {
			return badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", k)), false
		}
	}
	if synced(o) {
		return badRequest(msgSynced), false
	}
	if upn, ok := in["userPrincipalName"]; ok {
		for _, x := range s.objects {
			if x != o && x.kind == "user" && strings.EqualFold(str(x.props["userPrincipalName"]), str(upn)) {
				return badRequest("Another object with the same value for property userPrincipalName already exists."), false
			}
		}
	}
	if pp, ok := in["passwordProfile"].(map[string]any); ok && !complexPassword(str(pp["password"])) {
		return badRequest(msgPassword), false
	}
	var keys []string
	for k, v := range in {
		if pp, ok := v.(map[string]any); ok && k == "passwordProfile" {
			o.mustChange = pp["forceChangePasswordNextSignIn"] == true
		} else {
			o.props[k] = v
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.writes = append(s.writes, Write{Op: "user.update", Target: str(o.props["id"]), Detail: strings.Join(keys, ",")})
	return response{status: 204}, true
}

func (s *Server) patchGroup(gid string, body []byte) (response, bool) {
	g := s.lookup("group", gid, true)
	if g == nil {
		return notFound(gid), false
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("Unable to read JSON request payload."), false
	}
	var binds []string
	for k, v := range in {
		if strings.HasPrefix(k, "@odata.") {
			continue // the SDK sends @odata.type; Graph accepts it
		}
		if k != "members@odata.bind" {
			return badRequest(fmt.Sprintf("Property '%s' cannot be updated by this emulator.", k)), false
		}
		if err := json.Unmarshal(v, &binds); err != nil {
			return badRequest("Invalid value for members@odata.bind."), false
		}
	}
	if len(binds) > 20 {
		return badRequest("The request exceeds the maximum of 20 references in members@odata.bind."), false
	}
	return s.addMembers(gid, binds)
}

// addMembers adds all or nothing, as members@odata.bind does.
func (s *Server) addMembers(gid string, odataIDs []string) (response, bool) {
	g := s.lookup("group", gid, true)
	if g == nil {
		return notFound(gid), false
	}
	if synced(g) {
		return badRequest(msgSynced), false
	}
	ids := make([]string, len(odataIDs))
	seen := map[string]bool{}
	for i, ref := range odataIDs {
		id := refID(ref)
		if s.lookup("", id, true) == nil {
			return notFound(id), false
		}
		if seen[id] || contains(g.members, id) {
			return badRequest(msgAlreadyMember), false
		}
		seen[id] = true
		ids[i] = id
	}
	for _, id := range ids {
		g.members = append(g.members, id)
		s.writes = append(s.writes, Write{Op: "member.add", Target: gid, Object: id})
	}
	return response{status: 204}, true
}

func (s *Server) removeMember(gid, id string) (response, bool) {
	g := s.lookup("group", gid, true)
	if g == nil {
		return notFound(gid), false
	}
	if synced(g) {
		return badRequest(msgSynced), false
	}
	for i, m := range g.members {
		if m == id {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			s.writes = append(s.writes, Write{Op: "member.remove", Target: gid, Object: id})
			return response{status: 204}, true
		}
	}
	return notFound(id), false
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// batch answers each inner request on its own, in order, counting each
// against the budget; the outer request is 200 when it parses.
func (s *Server) batch(base string, body []byte) (response, bool) {
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return badRequest("Invalid batch payload format."), false
	}
	if len(in.Requests) == 0 || len(in.Requests) > 20 {
		return errResp(400, "BadRequest", "Invalid batch payload: the number of requests must be between 1 and 20."), false
	}
	seen := map[string]bool{}
	for _, r := range in.Requests {
		if r.ID == "" || seen[r.ID] {
			return errResp(400, "BadRequest", "Batch request ids must be unique and not empty."), false
		}
		seen[r.ID] = true
		if len(r.Body) > 0 && string(r.Body) != "null" {
			ct := ""
			for k, v := range r.Headers {
				if strings.EqualFold(k, "Content-Type") {
					ct = v
				}
			}
			if ct == "" {
				return errResp(400, "BadRequest", "Write request id : "+r.ID+" does not contain Content-Type header or body."), false
			}
		}
	}
	status := map[string]int{}
	var out []any
	wrote := false
	for _, r := range in.Requests {
		var resp response
		failedDep := false
		for _, d := range r.DependsOn {
			if st, ok := status[d]; !ok || st >= 400 {
				failedDep = true
			}
		}
		if failedDep {
			resp = errResp(424, "FailedDependency", "The request was not executed because a request it depends on failed.")
		} else {
			u, err := url.Parse(r.URL)
			if err != nil {
				resp = badRequest("Invalid URL: " + r.URL)
			} else {
				p := "/" + strings.TrimPrefix(u.Path, "/")
				p = strings.TrimPrefix(p, "/v1.0")
				h := http.Header{}
				for k, v := range r.Headers {
					h.Set(k, v)
				}
				var w bool
				resp, w = s.serve(strings.ToUpper(r.Method), p, u.Query(), h, r.Body, base)
				wrote = wrote || w
			}
		}
		status[r.ID] = resp.status
		item := map[string]any{"id": r.ID, "status": resp.status}
		hdr := map[string]string{}
		for k, v := range resp.header {
			hdr[k] = v
		}
		if resp.body != nil {
			hdr["Content-Type"] = "application/json"
			item["body"] = resp.body
		}
		item["headers"] = hdr
		out = append(out, item)
	}
	return response{status: 200, body: map[string]any{"responses": out}}, wrote
}

// createTAP answers POST /users/{id}/authentication/temporaryAccessPassMethods
// (temporaryaccesspassauthenticationmethod-post.md): 201 with the pass, which
// Graph shows only in this answer. A user has at most one: a new one
// replaces the one still usable, as Graph deletes the previous pass.
func (s *Server) createTAP(user string, body []byte) (response, bool) {
	o := s.lookup("user", user, true)
	if o == nil {
		return notFound(user), false
	}
	var in struct {
		LifetimeInMinutes *int  `json:"lifetimeInMinutes"`
		IsUsableOnce      *bool `json:"isUsableOnce"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return badRequest("Unable to read JSON request payload."), false
		}
	}
	life, once := 60, false
	if in.LifetimeInMinutes != nil {
		life = *in.LifetimeInMinutes
	}
	if in.IsUsableOnce != nil {
		once = *in.IsUsableOnce
	}
	if life < 10 || life > 43200 {
		return errResp(400, "badRequest", "lifetimeInMinutes must be between 10 and 43200."), false
	}
	pass := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:12])
	now := s.opts.Now().UTC()
	id := fmt.Sprint(o.props["id"])
	s.writes = append(s.writes, Write{Op: "user.tap", Target: id})
	return response{status: 201, body: map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('" + id + "')/authentication/temporaryAccessPassMethods/$entity",
		"id":             uuid.NewString(), "isUsable": true, "isUsableOnce": once, "lifetimeInMinutes": life,
		"methodUsabilityReason": "EnabledByPolicy", "startDateTime": now.Format(time.RFC3339), "createdDateTime": now.Format(time.RFC3339),
		"temporaryAccessPass": pass}}, true
}
