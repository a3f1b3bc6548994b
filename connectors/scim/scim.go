// Package scim is the connector for any SCIM 2.0 service (RFC 7643/7644),
// the protocol Entra, Okta and SailPoint provision SaaS applications with.
// A user is found by externalId (the employee number), then by userName,
// before one is created (correlate, never duplicate); a leaver is
// deactivated with PATCH active=false (deleted only if the config says so);
// roles are SCIM groups (resolved once by displayName or id and cached),
// joined and left with PATCH. Membership changes read the group first,
// since some servers append a duplicate member on a repeated add. It uses
// go-retryablehttp as the one retry layer of this hop, and classifies
// answers (the SCIM error schema) in one place.
package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Lister    = (*Connector)(nil)
)

const (
	schemaUser    = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// Connector is a scim instance.
type Connector struct {
	name     string
	cfg      Config
	base     string
	logger   *slog.Logger
	client   *retryablehttp.Client
	auth     string // never logged
	sem      chan struct{}
	requests counter

	mu     sync.Mutex
	groups map[string]string // entitlement -> group id
}

// counter counts requests sent, by method (retries included).
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(method string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
	c.mu.Unlock()
}

// Requests is how many requests the instance sent, by method.
func (c *Connector) Requests() map[string]int {
	c.requests.mu.Lock()
	defer c.requests.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.requests.n {
		out[k] = v
	}
	return out
}

// Open validates cfg, reads its credentials and builds the client.
func Open(name string, cfg Config, logger *slog.Logger) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{name: name, cfg: d, base: strings.TrimRight(d.BaseURL, "/"), logger: logger.With("connector", name),
		sem: make(chan struct{}, d.RateLimit.Concurrency), groups: map[string]string{}}
	var err error
	if c.auth, err = d.Auth.Header("scim"); err != nil {
		return nil, err
	}
	if err := c.newHTTP(d); err != nil {
		return nil, err
	}
	return c, nil
}

// User is the part of a SCIM user the connector reads and writes.
type User struct {
	Schemas     []string `json:"schemas,omitempty"`
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	UserName    string   `json:"userName"`
	Name        *Name    `json:"name,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Emails      []Email  `json:"emails,omitempty"`
	Active      *bool    `json:"active,omitempty"`
}

type Name struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type Email struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

type listResponse struct {
	TotalResults int               `json:"totalResults"`
	StartIndex   int               `json:"startIndex"`
	ItemsPerPage int               `json:"itemsPerPage"`
	Resources    []json.RawMessage `json:"Resources"`
}

// quote makes a SCIM filter string literal.
func quote(s string) string {
	b, _ := json.Marshal(s) // the filter grammar's string is JSON's
	return string(b)
}

func (c *Connector) userName(p tilgang.Person) string {
	return strings.NewReplacer("{id}", p.ID, "{email}", p.Email, "{given}", p.GivenName, "{family}", p.FamilyName).Replace(c.cfg.UserName)
}

func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	ref := connectors.Ref{"externalId": p.ID, "userName": c.userName(p)}
	for k, v := range prior {
		ref[k] = v
	}
	if ref["userName"] == "" {
		return nil, tilgang.Errorf(tilgang.Invalid, "scim: resolve %s: user_name %q gives an empty userName (no email?)", p.ID, c.cfg.UserName)
	}
	return ref, nil
}

// list reads every page of a filtered listing.
func (c *Connector) list(ctx context.Context, endpoint, filter, attributes, what string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(c.cfg.PageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if attributes != "" {
			q.Set("attributes", attributes)
		}
		a, err := c.do(ctx, "GET", endpoint, q, nil, false, what)
		if err != nil {
			return nil, err
		}
		var lr listResponse
		if err := json.Unmarshal(a.body, &lr); err != nil {
			return nil, tilgang.Wrap(tilgang.Unavailable, err, "scim: %s: not a ListResponse", what)
		}
		out = append(out, lr.Resources...)
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > lr.TotalResults {
			return out, nil
		}
	}
}

func (c *Connector) findUsers(ctx context.Context, filter, what string) ([]User, error) {
	raws, err := c.list(ctx, "/Users", filter, "", what)
	if err != nil {
		return nil, err
	}
	users := make([]User, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &users[i]); err != nil {
			return nil, tilgang.Wrap(tilgang.Unavailable, err, "scim: %s", what)
		}
	}
	return users, nil
}

// findUser finds the person's user: by the stored id, by externalId, then
// by userName (adopting an account made before tilgang). nil: none.
func (c *Connector) findUser(ctx context.Context, a connectors.Account) (*User, error) {
	p := a.Person
	what := "find user " + p.ID
	if id := a.Ref["id"]; id != "" {
		ans, err := c.do(ctx, "GET", "/Users/"+url.PathEscape(id), nil, nil, false, what)
		switch {
		case err == nil:
			var u User
			if err := json.Unmarshal(ans.body, &u); err != nil {
				return nil, tilgang.Wrap(tilgang.Unavailable, err, "scim: %s", what)
			}
			return &u, nil
		case tilgang.KindOf(err) != tilgang.NotFound:
			return nil, err
		}
	}
	users, err := c.findUsers(ctx, "externalId eq "+quote(p.ID), what)
	if err != nil {
		return nil, err
	}
	if len(users) > 1 {
		return nil, tilgang.Errorf(tilgang.Conflict, "scim: %s: %d users have externalId %s", what, len(users), p.ID)
	}
	if len(users) == 1 {
		return &users[0], nil
	}
	name := a.Ref["userName"]
	if name == "" {
		name = c.userName(p)
	}
	if name == "" {
		return nil, nil
	}
	users, err = c.findUsers(ctx, "userName eq "+quote(name), what)
	if err != nil || len(users) == 0 {
		return nil, err
	}
	u := &users[0]
	if u.ExternalID != "" && u.ExternalID != p.ID {
		return nil, tilgang.Errorf(tilgang.Conflict, "scim: %s: userName %s belongs to externalId %s", what, name, u.ExternalID)
	}
	return u, nil
}

func (c *Connector) desired(a connectors.Account) User {
	p := a.Person
	u := User{Schemas: []string{schemaUser}, ExternalID: p.ID, UserName: a.Ref["userName"],
		Name: &Name{GivenName: p.GivenName, FamilyName: p.FamilyName}, DisplayName: strings.TrimSpace(p.GivenName + " " + p.FamilyName)}
	if u.UserName == "" {
		u.UserName = c.userName(p)
	}
	if p.Email != "" {
		u.Emails = []Email{{Value: p.Email, Type: "work", Primary: true}}
	}
	active := !a.Disabled
	u.Active = &active
	return u
}

func refOf(u *User, p tilgang.Person) connectors.Ref {
	return connectors.Ref{"id": u.ID, "userName": u.UserName, "externalId": p.ID}
}

// EnsureAccount finds or creates the user and brings its names, emails and
// externalId up to date (never its active flag: Disable and Enable do).
func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	p := a.Person
	u, err := c.findUser(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	if u == nil {
		want := c.desired(a)
		ans, err := c.do(ctx, "POST", "/Users", nil, want, true, "create user "+p.ID)
		switch {
		case err == nil:
			var made User
			if err := json.Unmarshal(ans.body, &made); err != nil || made.ID == "" {
				return nil, nil, tilgang.Errorf(tilgang.Unavailable, "scim: create user %s: the answer holds no id", p.ID)
			}
			return refOf(&made, p), nil, nil
		case tilgang.KindOf(err) == tilgang.Conflict, tilgang.KindOf(err) == tilgang.Unavailable:
			// 409 uniqueness: it exists after all (made meanwhile, or by a
			// create whose answer was lost): correlate, do not duplicate.
			var ferr error
			u, ferr = c.findUser(ctx, a)
			if ferr != nil || u == nil {
				return nil, nil, err
			}
		default:
			return nil, nil, err
		}
	}
	want := c.desired(a)
	var ops []map[string]any
	if u.ExternalID != p.ID {
		ops = append(ops, map[string]any{"op": "replace", "path": "externalId", "value": p.ID})
	}
	if u.Name == nil || u.Name.GivenName != want.Name.GivenName || u.Name.FamilyName != want.Name.FamilyName {
		ops = append(ops, map[string]any{"op": "replace", "path": "name", "value": want.Name})
	}
	if u.DisplayName != want.DisplayName {
		ops = append(ops, map[string]any{"op": "replace", "path": "displayName", "value": want.DisplayName})
	}
	if len(want.Emails) > 0 && (len(u.Emails) == 0 || u.Emails[0].Value != want.Emails[0].Value) {
		ops = append(ops, map[string]any{"op": "replace", "path": "emails", "value": want.Emails})
	}
	if len(ops) > 0 {
		if _, err := c.patch(ctx, "/Users/"+url.PathEscape(u.ID), ops, false, "update user "+p.ID); err != nil {
			return nil, nil, err
		}
	}
	return refOf(u, p), nil, nil
}

func (c *Connector) patch(ctx context.Context, path string, ops []map[string]any, unsafe bool, what string) (*answer, error) {
	return c.do(ctx, "PATCH", path, nil, map[string]any{"schemas": []string{schemaPatchOp}, "Operations": ops}, unsafe, what)
}

func (c *Connector) setActive(ctx context.Context, a connectors.Account, active bool) error {
	what := map[bool]string{true: "enable", false: "disable"}[active] + " " + a.Person.ID
	u, err := c.findUser(ctx, a)
	if err != nil {
		return err
	}
	if u == nil {
		if !active {
			return nil // nothing to disable
		}
		return tilgang.Errorf(tilgang.NotFound, "scim: %s: no such user", what)
	}
	if !active && c.cfg.DeleteOnDisable {
		_, err := c.do(ctx, "DELETE", "/Users/"+url.PathEscape(u.ID), nil, nil, false, "delete user "+a.Person.ID)
		if tilgang.KindOf(err) == tilgang.NotFound {
			return nil
		}
		return err
	}
	if u.Active != nil && *u.Active == active {
		return nil
	}
	// 200 with the resource and 204 without are both success.
	_, err = c.patch(ctx, "/Users/"+url.PathEscape(u.ID), []map[string]any{{"op": "replace", "path": "active", "value": active}}, false, what)
	return err
}

func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	return c.setActive(ctx, a, false)
}

func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	return c.setActive(ctx, a, true)
}

// groupID resolves an entitlement to a group id, once.
func (c *Connector) groupID(ctx context.Context, ent string) (string, error) {
	if c.cfg.GroupsBy == "id" {
		return ent, nil
	}
	c.mu.Lock()
	id, ok := c.groups[ent]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	raws, err := c.list(ctx, "/Groups", "displayName eq "+quote(ent), "id,displayName", "find group "+ent)
	if err != nil {
		return "", err
	}
	var found []group
	for _, r := range raws {
		var g group
		if json.Unmarshal(r, &g) == nil && g.DisplayName == ent {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return "", tilgang.Errorf(tilgang.NotFound, "scim: group %q does not exist", ent)
	case 1:
	default:
		return "", tilgang.Errorf(tilgang.Conflict, "scim: %d groups are named %q", len(found), ent)
	}
	c.mu.Lock()
	c.groups[ent] = found[0].ID
	c.mu.Unlock()
	return found[0].ID, nil
}

func (c *Connector) forget(ent string) {
	c.mu.Lock()
	delete(c.groups, ent)
	c.mu.Unlock()
}

// members reads a group's members.
func (c *Connector) members(ctx context.Context, ent, gid string) ([]string, error) {
	ans, err := c.do(ctx, "GET", "/Groups/"+url.PathEscape(gid), url.Values{"attributes": {"members"}}, nil, false, "read group "+ent)
	if err != nil {
		if tilgang.KindOf(err) == tilgang.NotFound {
			c.forget(ent)
		}
		return nil, err
	}
	var g group
	if err := json.Unmarshal(ans.body, &g); err != nil {
		return nil, tilgang.Wrap(tilgang.Unavailable, err, "scim: read group %s", ent)
	}
	out := make([]string, len(g.Members))
	for i, m := range g.Members {
		out[i] = m.Value
	}
	return out, nil
}

func (c *Connector) userID(ctx context.Context, a connectors.Account) (string, error) {
	if id := a.Ref["id"]; id != "" {
		return id, nil
	}
	u, err := c.findUser(ctx, a)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", nil
	}
	return u.ID, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Grant adds the user to the entitlement's group unless it is a member:
// read, then PATCH add. An add whose answer was lost is checked by reading
// again, not by sending it again (the server may append a duplicate).
func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	what := fmt.Sprintf("grant %s to %s", ent, a.Person.ID)
	uid, err := c.userID(ctx, a)
	if err != nil {
		return err
	}
	if uid == "" {
		return tilgang.Errorf(tilgang.NotFound, "scim: %s: no such user", what)
	}
	gid, err := c.groupID(ctx, ent)
	if err != nil {
		return err
	}
	ms, err := c.members(ctx, ent, gid)
	if err != nil {
		return err
	}
	if has(ms, uid) {
		return nil
	}
	_, err = c.patch(ctx, "/Groups/"+url.PathEscape(gid), []map[string]any{{"op": "add", "path": "members", "value": []map[string]string{{"value": uid}}}}, true, what)
	if tilgang.KindOf(err) == tilgang.Unavailable {
		if ms, rerr := c.members(ctx, ent, gid); rerr == nil && has(ms, uid) {
			c.logger.Info("scim: an add whose answer was lost had been applied", "entitlement", ent, "person", a.Person.ID)
			return nil
		}
	}
	if tilgang.KindOf(err) == tilgang.NotFound {
		c.forget(ent)
	}
	return err
}

// Revoke removes the user from the group (every copy, should the server
// hold duplicates) unless it is no member.
func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	what := fmt.Sprintf("revoke %s from %s", ent, a.Person.ID)
	uid, err := c.userID(ctx, a)
	if err != nil || uid == "" {
		return err
	}
	gid, err := c.groupID(ctx, ent)
	if err != nil {
		return err
	}
	ms, err := c.members(ctx, ent, gid)
	if err != nil {
		return err
	}
	if !has(ms, uid) {
		return nil
	}
	_, err = c.patch(ctx, "/Groups/"+url.PathEscape(gid), []map[string]any{{"op": "remove", "path": "members[value eq " + quote(uid) + "]"}}, true, what)
	switch {
	case err == nil:
		return nil
	case scimTypeOf(err) == "noTarget":
		return nil // removed meanwhile: already done, for this operation only
	case tilgang.KindOf(err) == tilgang.Unavailable:
		if ms, rerr := c.members(ctx, ent, gid); rerr == nil && !has(ms, uid) {
			return nil
		}
	}
	return err
}

// ListMembers lists the members of the entitlement's group as Refs with
// the SCIM id.
func (c *Connector) ListMembers(ctx context.Context, ent string) ([]connectors.Ref, error) {
	gid, err := c.groupID(ctx, ent)
	if err != nil {
		return nil, err
	}
	ms, err := c.members(ctx, ent, gid)
	if err != nil {
		return nil, err
	}
	out := make([]connectors.Ref, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m] {
			seen[m] = true
			out = append(out, connectors.Ref{"id": m})
		}
	}
	return out, nil
}

// ListUsers pages through the users matching a SCIM filter (every user
// when it is empty) with startIndex/count, for reconciliation.
func (c *Connector) ListUsers(ctx context.Context, filter string) ([]User, error) {
	return c.findUsers(ctx, filter, "list users")
}

func (c *Connector) Close() error {
	c.client.HTTPClient.CloseIdleConnections()
	return nil
}
