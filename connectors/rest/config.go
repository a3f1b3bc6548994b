package rest

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/connectors/httpconn"
)

// Type is the connector type name in the worker config.
const Type = "rest"

// Register adds the rest type to a connector registry.
func Register(r *connectors.Registry) {
	r.Register(Type, func() connectors.Config { return &Config{} })
}

// Config of a rest instance; the struct is the YAML schema. An example for
// a fagsystem with an API of its own:
//
//	type: rest
//	base_url: https://gerica.aukra.kommune.no/api/v1   # https; http only for loopback
//	ca_file: /etc/tilgang/gerica-ca.pem                # optional; empty: the system roots
//	auth:
//	  type: bearer                                     # bearer, basic or none
//	  token_env: TILGANG_GERICA_TOKEN                  # or token_file: /run/secrets/gerica-token
//	  # type: basic, username: svc-tilgang, password_env / password_file
//	headers: { Accept: application/json }              # sent with every request
//	timeout: 10s                                       # each attempt
//	retry:                                             # short faults only: longer waits go back to the outbox
//	  max: 3                                           # retries after the first attempt
//	  wait_min: 200ms
//	  wait_max: 5s
//	  max_retry_after: 10s                             # a 429/503 asking for longer is returned as throttled
//	rate_limit: { per_second: 10, burst: 10, concurrency: 4 }
//	operations:                                        # all five are required
//	  ensure_account:
//	    method: POST
//	    path: /users
//	    body: |
//	      {"employeeNumber": {{ .Person.ID | json }}, "firstName": {{ .Person.GivenName | json }},
//	       "lastName": {{ .Person.FamilyName | json }}, "email": {{ .Person.Email | json }},
//	       "active": {{ .Enabled | json }}}
//	    success: [200, 201]
//	    already_done: { status: [409], field: error.code, equals: USER_EXISTS }
//	    ref: { user_id: data.id }                      # Ref values from the JSON answer, for later paths
//	  lookup:                                        # optional: reads the account when ensure_account's
//	    method: GET                                  # "already done" answer lacks the ref fields
//	    path: "/users?employeeNumber={{ .Person.ID | query }}"
//	    success: [200]
//	    ref: { user_id: data.0.id }
//	  disable: { method: POST, path: "/users/{{ .Person.ID | path }}/deactivate", success: [204] }
//	  enable:  { method: POST, path: "/users/{{ .Person.ID | path }}/activate", success: [204] }
//	  grant:
//	    method: POST
//	    path: "/roles/{{ .Entitlement | path }}/members"
//	    body: '{"user": {{ .Person.ID | json }}}'
//	    success: [201]
//	    already_done: { status: [422], field: code, equals: ALREADY_MEMBER }
//	  revoke:
//	    method: DELETE
//	    path: "/roles/{{ .Entitlement | path }}/members/{{ .Person.ID | path }}"
//	    success: [204]
//	    already_done: { status: [404] }
//	reads:                     # optional: what reconciliation lists; without it the instance cannot be reconciled
//	  accounts:                # every account the instance manages, a page at a time
//	    path: "/users?page={{ .Page | query }}&per_page=200"
//	    items: data            # the answer's field holding the page's array ("" when the answer is the array)
//	    key: id                # an item's id at the system; members name accounts by it
//	    person: employeeNumber # the correlation field: the person id (items without it are not the instance's)
//	    enabled: { field: active }             # equals: "true" by default, e.g. { field: status, equals: ACTIVE }
//	    ref: { user_id: id }                   # as ensure_account's ref, for fixes to act on
//	    last_sign_in: lastLogin                # optional, RFC 3339: the account's last sign-in
//	    paging: { next: links.next, total: meta.total }
//	  members:                 # the members of one entitlement
//	    path: "/roles/{{ .Entitlement | path }}/members?limit=500{{ if .Cursor }}&cursor={{ .Cursor | query }}{{ end }}"
//	    items: members
//	    key: userId
//	    paging: { cursor: nextCursor }
//
// Paging is one of: next (a field holding the next page's URL, on
// base_url's host; absent, empty or null on the last page), cursor (a
// field holding a value the path template reads as .Cursor; absent or
// empty on the last page), or neither: the path counts pages with .Page
// (from 1) or .Offset (items read so far), and a page with fewer than
// page_size items (when set), or none, is the last. total names a field
// with the count the system announces: a read that ends with fewer items
// fails, as does a page that errors or lacks its items array, so a cut
// listing never reads as "nobody".
//
// Templates are Go text/template over Data. Every value printed must pass
// through an escaping function as its last step: json in a body (the body
// must be JSON), path in the path part of a URL (before "?"), query in its
// query part (after "?"), header in a header. Validate
// refuses a template that prints anything else, so no name can break out of
// its place. The token and password are read when the instance opens and
// are never logged.
type Config struct {
	BaseURL    string            `yaml:"base_url"`
	CAFile     string            `yaml:"ca_file"`
	Auth       Auth              `yaml:"auth"`
	Headers    map[string]string `yaml:"headers" secret:"headers"`
	Timeout    time.Duration     `yaml:"timeout"`
	Retry      Retry             `yaml:"retry"`
	RateLimit  RateLimit         `yaml:"rate_limit"`
	Operations Operations        `yaml:"operations"`
	Reads      *Reads            `yaml:"reads"`
}

// Reads are the list templates reconciliation reads the system with.
type Reads struct {
	Accounts *List `yaml:"accounts"`
	Members  *List `yaml:"members"`
}

// List is one paged listing: a request template over Data (with Page,
// Offset, Cursor and, for members, Entitlement), and where its answer
// holds the items and the fields of each.
type List struct {
	Method     string            `yaml:"method"` // default GET
	Path       string            `yaml:"path"`
	Headers    map[string]string `yaml:"headers" secret:"headers"`
	Body       string            `yaml:"body"`    // for APIs that search by POST
	Success    []int             `yaml:"success"` // default 200
	Items      string            `yaml:"items"`
	Key        string            `yaml:"key"`
	Person     string            `yaml:"person"`       // accounts only
	Enabled    Match             `yaml:"enabled"`      // accounts only
	LastSignIn string            `yaml:"last_sign_in"` // accounts only, optional
	Ref        map[string]string `yaml:"ref"`          // Ref key -> item field
	Paging     Paging            `yaml:"paging"`
}

// Match is a field of an item and the value that means yes.
type Match struct {
	Field  string `yaml:"field"`
	Equals string `yaml:"equals"` // default "true"
}

// Paging says how a listing goes from page to page and how long it is.
type Paging struct {
	Next     string `yaml:"next"`
	Cursor   string `yaml:"cursor"`
	PageSize int    `yaml:"page_size"`
	Total    string `yaml:"total"`
}

// Auth says how requests authenticate; secrets come from env or a file.
type Auth = httpconn.Auth

// Retry bounds the one retry layer of this hop.
type Retry = httpconn.Retry

// RateLimit bounds what the instance sends.
type RateLimit = httpconn.RateLimit

// Operations are the request templates, one per connector method.
type Operations struct {
	EnsureAccount *Request `yaml:"ensure_account"`
	// Lookup (optional) reads an existing account when ensure_account
	// answered "already done" without the ref fields (the account was made
	// by an attempt whose answer was lost); its ref fields fill the Ref.
	Lookup  *Request `yaml:"lookup"`
	Disable *Request `yaml:"disable"`
	Enable  *Request `yaml:"enable"`
	Grant   *Request `yaml:"grant"`
	Revoke  *Request `yaml:"revoke"`
}

func (o *Operations) each(f func(name string, r *Request)) {
	f("ensure_account", o.EnsureAccount)
	f("disable", o.Disable)
	f("enable", o.Enable)
	f("grant", o.Grant)
	f("revoke", o.Revoke)
}

// Request is one operation's request template and how to read its answer.
type Request struct {
	Method      string            `yaml:"method"`
	Path        string            `yaml:"path"`
	Headers     map[string]string `yaml:"headers" secret:"headers"`
	Body        string            `yaml:"body"`
	Success     []int             `yaml:"success"` // default 200, 201, 202, 204
	AlreadyDone AlreadyDone       `yaml:"already_done"`
	Ref         map[string]string `yaml:"ref"` // Ref key -> dotted JSON field of the answer
}

func (r *Request) refOrNil() map[string]string {
	if r == nil {
		return nil
	}
	return r.Ref
}

// AlreadyDone recognises an answer meaning "this was done before", which
// counts as success for this operation only: status is one of Status (if
// given) and the JSON field Field (if given) equals Equals.
type AlreadyDone struct {
	Status []int  `yaml:"status"`
	Field  string `yaml:"field"`
	Equals string `yaml:"equals"`
}

// String describes the config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("rest{base_url=%s auth=%s credentials=(redacted)}", c.BaseURL, c.Auth.Type)
}

var _ connectors.Defaulter = (*Config)(nil)

// WithDefaults is the config Open runs with (connectors.Defaulter).
func (c *Config) WithDefaults(name string) connectors.Config {
	d := c.withDefaults()
	return &d
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Auth.Type == "" {
		d.Auth.Type = "bearer"
	}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	d.Retry.Defaults()
	d.RateLimit.Defaults()
	return d
}

// Validate reports every problem of the config at once, templates
// included (each is parsed, checked for unescaped output and rendered with
// a hostile sample person).
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// compile validates the config and parses its templates.
func (c *Config) compile() (*compiled, error) {
	d := c.withDefaults()
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(d.BaseURL)
	switch {
	case d.BaseURL == "":
		add("base_url is empty (for example https://gerica.aukra.kommune.no/api/v1)")
	case err != nil:
		add("base_url %q: %v", d.BaseURL, err)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		add("base_url %q must be an https:// URL", d.BaseURL)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		add("base_url %q: plain http is allowed only to a loopback address; use https", d.BaseURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		add("base_url %q must hold no credentials, query or fragment", d.BaseURL)
	}
	if d.CAFile != "" {
		if b, err := os.ReadFile(d.CAFile); err != nil {
			add("ca_file: %v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			add("ca_file %s holds no PEM certificate", d.CAFile)
		}
	}
	for _, p := range d.Auth.Problems("bearer", "basic", "none") {
		add("%s", p)
	}
	for k, v := range d.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
			add("headers[%s]: not a valid header", k)
		}
		if strings.EqualFold(k, "Authorization") {
			add("headers[%s]: set credentials under auth, from an environment variable or a file", k)
		}
	}
	if d.Timeout < 0 {
		add("timeout must be positive")
	}
	for _, p := range append(d.Retry.Problems(), d.RateLimit.Problems()...) {
		add("%s", p)
	}
	out := &compiled{cfg: d, base: u, ops: map[string]*op{}}
	var refKeys []string
	if r := d.Operations.EnsureAccount; r != nil {
		for k := range r.Ref {
			refKeys = append(refKeys, k)
		}
	}
	sample := sampleData(refKeys)
	d.Operations.each(func(name string, r *Request) {
		at := "operations." + name
		if r == nil {
			add("%s is missing", at)
			return
		}
		o, probs := compileRequest(at, r, sample)
		errs = append(errs, probs...)
		out.ops[name] = o
	})
	if r := d.Operations.Lookup; r != nil {
		o, probs := compileRequest("operations.lookup", r, sample)
		errs = append(errs, probs...)
		out.ops["lookup"] = o
		for k := range d.Operations.EnsureAccount.refOrNil() {
			if _, ok := r.Ref[k]; !ok {
				add("operations.lookup.ref: no field for %s, which ensure_account's ref has", k)
			}
		}
	}
	if d.Reads != nil {
		errs = append(errs, out.compileReads(d.Reads, d.Operations.EnsureAccount.refOrNil(), sample)...)
	}
	if len(errs) > 0 {
		return nil, tilgang.Errorf(tilgang.Invalid, "rest config: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// compileReads checks and parses reads.accounts and reads.members.
func (out *compiled) compileReads(r *Reads, ensureRef map[string]string, sample Data) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if r.Accounts == nil {
		add("reads.accounts is missing (reads needs both accounts and members)")
	}
	if r.Members == nil {
		add("reads.members is missing (reads needs both accounts and members)")
	}
	for _, l := range []struct {
		name     string
		list     *List
		accounts bool
	}{{"accounts", r.Accounts, true}, {"members", r.Members, false}} {
		if l.list == nil {
			continue
		}
		at := "reads." + l.name
		o, probs := compileList(at, l.list, l.accounts, sample)
		errs = append(errs, probs...)
		if l.accounts {
			for k := range ensureRef {
				if _, ok := l.list.Ref[k]; !ok {
					add("%s.ref: no field for %s, which ensure_account's ref has (fixes need it)", at, k)
				}
			}
		}
		if o != nil {
			o.list = l.list
			out.ops["reads."+l.name] = o
		}
	}
	return errs
}

func compileList(at string, l *List, accounts bool, sample Data) (*op, []string) {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(at+format, args...)) }
	method := l.Method
	if method == "" {
		method = http.MethodGet
	}
	if m := strings.ToUpper(method); m != http.MethodGet && m != http.MethodPost {
		add(".method %q must be GET (or POST, for an API that searches by POST)", l.Method)
	}
	success := l.Success
	if len(success) == 0 {
		success = []int{200}
	}
	o, probs := compileRequest(at, &Request{Method: method, Path: l.Path, Headers: l.Headers, Body: l.Body, Success: success}, sample)
	errs = append(errs, probs...)
	if l.Key == "" {
		add(".key is empty: name the item field that identifies an account (members name accounts by it)")
	}
	if accounts {
		if l.Person == "" {
			add(".person is empty: name the item field holding the person id (the correlation field)")
		}
		if l.Enabled.Field == "" {
			add(".enabled.field is empty: name the item field that says whether the account is active")
		}
	} else if l.Person != "" || l.Enabled.Field != "" || l.LastSignIn != "" {
		add(": person, enabled and last_sign_in are for reads.accounts")
	}
	for k, f := range l.Ref {
		if k == "" || f == "" {
			add(".ref: empty key or field")
		}
	}
	p := l.Paging
	uses := func(v string) bool { return strings.Contains(l.Path, v) || strings.Contains(l.Body, v) }
	switch {
	case p.Next != "" && p.Cursor != "":
		add(".paging: set next or cursor, not both")
	case p.Cursor != "" && !uses(".Cursor"):
		add(".path: paging.cursor is set but the template never reads .Cursor, so every page would be the first")
	case p.Next == "" && p.Cursor == "" && !uses(".Page") && !uses(".Offset"):
		add(".paging: set next or cursor, or use .Page or .Offset in the path, so that the listing can go past its first page")
	}
	if p.PageSize < 0 {
		add(".paging.page_size %d must be positive", p.PageSize)
	}
	if p.PageSize > 0 && (p.Next != "" || p.Cursor != "") {
		add(".paging.page_size is for .Page or .Offset paging; with next or cursor the system says where the listing ends")
	}
	return o, errs
}

func compileRequest(at string, r *Request, sample Data) (*op, []string) {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(at+format, args...)) }
	o := &op{name: at, req: *r, headers: map[string]tmpl{}}
	o.req.Method = strings.ToUpper(r.Method)
	switch o.req.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		add(".method %q must be GET, POST, PUT, PATCH or DELETE", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") {
		add(".path %q must begin with / (it follows base_url)", r.Path)
	}
	var err error
	if o.path, err = parsePathTemplate(r.Path); err != nil {
		add(".path: %v", err)
	}
	if r.Body != "" {
		if o.body, err = parseTemplate(r.Body, "json"); err != nil {
			add(".body: %v", err)
		}
	}
	for k, v := range r.Headers {
		if !validHeaderName(k) {
			add(".headers: %q is not a header name", k)
		}
		if strings.EqualFold(k, "Authorization") {
			add(".headers[%s]: set credentials under auth", k)
		}
		if o.headers[k], err = parseTemplate(v, "header"); err != nil {
			add(".headers[%s]: %v", k, err)
		}
	}
	if len(o.req.Success) == 0 {
		o.req.Success = []int{200, 201, 202, 204}
	}
	for _, s := range o.req.Success {
		if s < 200 || s > 299 {
			add(".success: %d is not a 2xx status", s)
		}
	}
	ad := r.AlreadyDone
	for _, s := range ad.Status {
		if s < 200 || s > 599 || slices.Contains(o.req.Success, s) {
			add(".already_done.status: %d must be an HTTP status other than the success ones", s)
		}
	}
	if ad.Field == "" && ad.Equals != "" {
		add(".already_done.equals needs a field")
	}
	for k, f := range r.Ref {
		if k == "" || f == "" {
			add(".ref: empty key or field")
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Render once with a hostile person: a template that needs a value the
	// data lacks, or a body that is not JSON, fails here, at start-up.
	if _, err := o.render(sample); err != nil {
		add(": rendered with a sample person: %v", err)
	}
	return o, errs
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// Open validates the config, reads the credentials and returns the
// instance (a Reading, which reconciliation can list, when the config has
// reads). It does not contact the system: the first operation does.
func (c *Config) Open(name string, logger *slog.Logger) (connectors.Connector, error) {
	conn, err := Open(name, *c, logger)
	if err != nil {
		return nil, err
	}
	return conn.Instance(), nil
}
