// Package entra is the Entra ID connector: users and group memberships
// through Microsoft Graph v1.0 with msgraph-sdk-go, tested against the
// emulator in internal/graphemu over real HTTP.
//
// Only the SDK's models and models/odataerrors packages, msgraph-sdk-go-core
// and kiota are imported, never the root package or its request builders
// (they compile the whole Graph API); requests are built here as kiota
// RequestInformation. No other package imports this one except the registry.
//
// Decisions a systemansvarlig would ask about:
//   - A user is found by its object id (once known), else by employeeId (the
//     person id), else by the userPrincipalName Resolve computed. A user
//     carrying the person's id is adopted, never duplicated.
//   - Users synced from AD (onPremisesSyncEnabled) are adopted but never
//     changed: Graph refuses writes to them, and the error names the ad
//     connector. With synced_from_ad, EnsureAccount never creates a
//     cloud-only user; it waits (Unavailable) until the sync brings one.
//   - A new user gets a generated one-time password (forceChangePasswordNextSignIn),
//     returned as a Credential and never logged. If the result of the create
//     was lost (its response dropped, a timeout, a crash before it was
//     recorded) and a later attempt finds the user made by it, the user gets
//     a fresh password (or Temporary Access Pass) that is handed out instead
//     of the lost one, unless the person has signed in with it since.
//   - Grant and revoke are idempotent through Graph's own answers: the 400
//     "One or more added object references already exist" on an add, a 404
//     on a removal from an existing group.
//   - A group's id is cached by entitlement; a 404 that the group itself
//     confirms (deleted, perhaps made again under the same name) forgets it
//     and the call looks the group up again.
//   - Throttling: 429 and 503 wait their Retry-After, other 5xx and network
//     errors back off with jitter, all bounded, in one retry layer (call);
//     the SDK's RetryHandler is removed. A 404 right after a create is
//     retried for replication_wait.
package entra

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// Ref keys an entra account has.
const (
	RefID     = "id"
	RefUPN    = "userPrincipalName"
	RefSynced = "onPremisesSyncEnabled"
)

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Lister    = (*Connector)(nil)

	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

const userSelect = "id,userPrincipalName,displayName,givenName,surname,accountEnabled,employeeId," +
	"department,jobTitle,usageLocation,mailNickname,onPremisesSyncEnabled"

// Connector is an entra instance.
type Connector struct {
	name    string
	cfg     Config
	adapter abs.RequestAdapter
	tokens  *tokenSource
	sem     chan struct{}
	log     *slog.Logger

	mu     sync.Mutex
	groups map[string]group
}

type group struct {
	id     string
	name   string
	synced bool
}

// Open checks cfg and returns an instance; it fetches a token on first use.
func Open(name string, cfg Config, logger *slog.Logger) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var secret string
	var cert *certificate
	var err error
	if cfg.ClientCertFile != "" {
		cert, err = loadCertificate(cfg.ClientCertFile)
	} else {
		secret, err = cfg.secret()
	}
	if err != nil {
		return nil, err
	}
	gu, _ := url.Parse(cfg.GraphURL)
	scope := "https://graph.microsoft.com/.default"
	ts := &tokenSource{url: cfg.AuthorityURL + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0/token",
		clientID: cfg.ClientID, secret: secret, cert: cert, scope: scope, hc: newTokenClient(cfg)}
	a, err := newAdapter(cfg, &authProvider{ts: ts, host: gu.Host})
	if err != nil {
		return nil, err
	}
	return &Connector{name: name, cfg: cfg, adapter: a, tokens: ts, sem: make(chan struct{}, cfg.Concurrency),
		log: logger.With("connector", name), groups: map[string]group{}}, nil
}

// Close releases nothing: the HTTP client's idle connections close by themselves.
func (c *Connector) Close() error { return nil }

func refOf(u models.Userable) connectors.Ref {
	r := connectors.Ref{}
	if p := u.GetId(); p != nil {
		r[RefID] = *p
	}
	if p := u.GetUserPrincipalName(); p != nil {
		r[RefUPN] = *p
	}
	if isSynced(u) {
		r[RefSynced] = "true"
	}
	return r
}

func isSynced(u models.Userable) bool {
	p := u.GetOnPremisesSyncEnabled()
	return p != nil && *p
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func syncedError(what string) error {
	return tilgang.Errorf(tilgang.Invalid, "%s is synced from Active Directory (onPremisesSyncEnabled) and Graph refuses changes to it: change it through the ad connector", what)
}

// getUser reads a user by id or UPN; fresh retries a 404 (just created).
func (c *Connector) getUser(ctx context.Context, key string, fresh bool) (models.Userable, error) {
	var u models.Userable
	fn := func(ctx context.Context) error {
		res, err := c.adapter.Send(ctx, c.request(abs.GET, "/users/"+url.PathEscape(key), url.Values{"$select": {userSelect}}),
			models.CreateUserFromDiscriminatorValue, errMap)
		if err == nil {
			u = res.(models.Userable)
		}
		return err
	}
	var err error
	if fresh {
		err = c.callFresh(ctx, fn)
	} else {
		err = c.call(ctx, fn)
	}
	if g, ok := asGraph(err); ok && g.status == 404 {
		return nil, nil
	}
	return u, err
}

// listUsers pages through the users matching filter.
func (c *Connector) listUsers(ctx context.Context, filter, sel string) ([]models.Userable, error) {
	ri := c.request(abs.GET, "/users", url.Values{"$filter": {filter}, "$select": {sel}, "$top": {"999"}})
	return pages[models.Userable, models.UserCollectionResponseable](ctx, c, ri, models.CreateUserCollectionResponseFromDiscriminatorValue)
}

// page is a Graph collection response: its values and the next page's link.
type page[V any] interface {
	GetValue() []V
	GetOdataNextLink() *string
}

// pages sends ri and follows @odata.nextLink to the end, each request
// through the throttling-aware call, and returns every page's values.
func pages[V any, P page[V]](ctx context.Context, c *Connector, ri *abs.RequestInformation, create serialization.ParsableFactory) ([]V, error) {
	var out []V
	for ri != nil {
		var pg P
		err := c.call(ctx, func(ctx context.Context) error {
			res, err := c.adapter.Send(ctx, ri, create, errMap)
			if err == nil {
				pg = res.(P)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, pg.GetValue()...)
		ri = c.next(pg.GetOdataNextLink())
	}
	return out, nil
}

// next is the request for an absolute @odata.nextLink, nil at the end.
func (c *Connector) next(link *string) *abs.RequestInformation {
	if link == nil || *link == "" {
		return nil
	}
	u, err := url.Parse(*link)
	if err != nil {
		return nil
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	return ri
}

func (c *Connector) byEmployeeID(ctx context.Context, id string) (models.Userable, error) {
	us, err := c.listUsers(ctx, "employeeId eq "+odataString(id), userSelect)
	if err != nil {
		return nil, err
	}
	switch len(us) {
	case 0:
		return nil, nil
	case 1:
		return us[0], nil
	}
	var upns []string
	for _, u := range us {
		upns = append(upns, deref(u.GetUserPrincipalName()))
	}
	return nil, tilgang.Errorf(tilgang.Conflict, "%d users carry employeeId %s (%s): a person must sort this out", len(us), id, strings.Join(upns, ", "))
}

// find looks a user up by object id, employeeId, then resolved UPN.
func (c *Connector) find(ctx context.Context, a connectors.Account) (models.Userable, error) {
	if id := a.Ref[RefID]; id != "" {
		u, err := c.getUser(ctx, id, true)
		if err != nil || u != nil {
			return u, err
		}
	}
	u, err := c.byEmployeeID(ctx, a.Person.ID)
	if err != nil || u != nil {
		return u, err
	}
	if upn := a.Ref[RefUPN]; upn != "" {
		return c.getUser(ctx, upn, false)
	}
	return nil, nil
}

// Resolve returns prior when it names a user, the existing user's values
// when one carries the person's id, and otherwise a free userPrincipalName
// (checked against the tenant). It changes nothing.
func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	if prior[RefUPN] != "" || prior[RefID] != "" {
		return prior, nil
	}
	u, err := c.byEmployeeID(ctx, p.ID)
	if err != nil {
		return nil, classify(err, "entra: resolve %s", p.ID)
	}
	if u != nil {
		return refOf(u), nil
	}
	base := nickname(p)
	taken := map[string]bool{}
	us, err := c.listUsers(ctx, "startswith(userPrincipalName,"+odataString(base)+")", "userPrincipalName")
	if err != nil {
		return nil, classify(err, "entra: resolve %s", p.ID)
	}
	for _, u := range us {
		taken[strings.ToLower(deref(u.GetUserPrincipalName()))] = true
	}
	for n := 1; n <= 999; n++ {
		cand := base
		if n > 1 {
			cand += strconv.Itoa(n)
		}
		upn := cand + "@" + c.cfg.UPNSuffix
		if !taken[strings.ToLower(upn)] {
			return connectors.Ref{RefUPN: upn}, nil
		}
	}
	return nil, tilgang.Errorf(tilgang.Conflict, "entra: resolve %s: no free userPrincipalName for %s", p.ID, base)
}

var translit = strings.NewReplacer("æ", "ae", "ø", "o", "å", "aa", "ä", "a", "ö", "o", "ü", "u", "é", "e",
	"è", "e", "á", "a", "à", "a", "ó", "o", "í", "i", "ú", "u", "č", "c", "š", "s", "ž", "z", "đ", "d", "ŋ", "n", "ŧ", "t")

// nickname is given.family, lower case, transliterated to the characters a
// UPN's local part allows (user-post-users.md).
func nickname(p tilgang.Person) string {
	clean := func(s string) string {
		s = translit.Replace(strings.ToLower(strings.TrimSpace(s)))
		var b strings.Builder
		for _, r := range s {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
				b.WriteRune(r)
			}
		}
		return strings.Trim(b.String(), "-")
	}
	parts := []string{}
	for _, s := range []string{p.GivenName, p.FamilyName} {
		if v := clean(s); v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "u" + clean(p.ID)
	}
	n := strings.Join(parts, ".")
	if len(n) > 60 {
		n = n[:60]
	}
	return n
}

func displayName(p tilgang.Person) string {
	return strings.TrimSpace(strings.TrimSpace(p.GivenName) + " " + strings.TrimSpace(p.FamilyName))
}

// wanted is the attributes the person's record gives the user.
func (c *Connector) wanted(p tilgang.Person) map[string]string {
	w := map[string]string{"displayName": displayName(p), "givenName": strings.TrimSpace(p.GivenName),
		"surname": strings.TrimSpace(p.FamilyName), "employeeId": p.ID, "usageLocation": c.cfg.UsageLocation}
	if m, ok := p.Main(); ok {
		w["department"] = m.OrgUnit
		w["jobTitle"] = m.Position
	}
	return w
}

func current(u models.Userable) map[string]string {
	return map[string]string{"displayName": deref(u.GetDisplayName()), "givenName": deref(u.GetGivenName()),
		"surname": deref(u.GetSurname()), "employeeId": deref(u.GetEmployeeId()), "usageLocation": deref(u.GetUsageLocation()),
		"department": deref(u.GetDepartment()), "jobTitle": deref(u.GetJobTitle())}
}

// EnsureAccount adopts the person's user (updating names and attributes)
// or creates it with a generated password, enabled unless a.Disabled.
// Errors: Conflict when the UPN or employeeId is another's, Invalid for
// Graph's refusals (with its message), Denied for missing rights, Throttled
// and Unavailable when Graph cannot serve now.
func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	ref, cred, err := c.ensure(ctx, a)
	// Joiners of the same name provisioned side by side resolve the same
	// free userPrincipalName; the one that loses the race takes the next
	// free name instead of failing. A user once recorded (an object id in
	// the Ref) is never swapped for another.
	for try := 0; errors.Is(err, errNameTaken) && a.Ref[RefID] == "" && try < 32; try++ {
		fresh, rerr := c.Resolve(ctx, a.Person, nil)
		if rerr != nil {
			err = rerr
			break
		}
		a.Ref = fresh
		ref, cred, err = c.ensure(ctx, a)
	}
	if errors.Is(err, errNameTaken) {
		err = tilgang.Wrap(tilgang.Unavailable, err, "still losing the race for a free name; trying again later")
	}
	if err != nil {
		return nil, nil, classify(err, "entra: ensure account of %s", a.Person.ID)
	}
	if cred != nil {
		c.log.Info("entra: account created or recovered; initial password issued", "person", a.Person.ID, "username", cred.Username)
	}
	return ref, cred, nil
}

func (c *Connector) ensure(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	u, err := c.find(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	if u == nil {
		if c.cfg.SyncedFromAD {
			return nil, nil, tilgang.Errorf(tilgang.Unavailable, "no user with employeeId %s yet: accounts in this tenant come from Active Directory (synced_from_ad); waiting for the sync", a.Person.ID)
		}
		return c.create(ctx, a)
	}
	if isSynced(u) {
		// AD owns its attributes; adopting it is all Graph allows.
		return refOf(u), nil, nil
	}
	if e := deref(u.GetEmployeeId()); e != "" && e != a.Person.ID {
		return nil, nil, fmt.Errorf("user %s belongs to employeeId %s: %w", deref(u.GetUserPrincipalName()), e, errNameTaken)
	}
	if err := c.update(ctx, u, a.Person); err != nil {
		return nil, nil, err
	}
	if c.madeByLostAttempt(a, u) {
		return c.reissue(ctx, u)
	}
	return refOf(u), nil, nil
}

// madeByLostAttempt tells whether u is the user an earlier attempt of this
// instance created without its result being recorded: the stored Ref has no
// object id yet, and u has the userPrincipalName Resolve computed for that
// attempt. Its credential went nowhere.
func (c *Connector) madeByLostAttempt(a connectors.Account, u models.Userable) bool {
	upn := a.Ref[RefUPN]
	return !c.cfg.SyncedFromAD && a.Ref[RefID] == "" && upn != "" && strings.EqualFold(upn, deref(u.GetUserPrincipalName()))
}

// reissue gives a user whose credential was lost a fresh one, as a create
// would have (a password, or a Temporary Access Pass when the instance says
// so), if nobody has used the user yet; a user that has been used is
// adopted as it is.
func (c *Connector) reissue(ctx context.Context, u models.Userable) (connectors.Ref, *connectors.Credential, error) {
	id, upn := deref(u.GetId()), deref(u.GetUserPrincipalName())
	fresh, err := c.neverSignedIn(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !fresh {
		c.log.Info("entra: user made by an earlier attempt has been signed in to: adopted without a new password", "username", upn)
		return refOf(u), nil, nil
	}
	pw, err := generatePassword(c.cfg.PasswordLength)
	if err != nil {
		return nil, nil, err
	}
	patch := models.NewUser()
	patch.SetPasswordProfile(passwordProfile(pw))
	if err := c.patchUser(ctx, id, patch); err != nil {
		return nil, nil, err
	}
	return c.credential(ctx, refOf(u), upn, pw)
}

// neverSignedIn tells whether the password the user was created with (or
// last reset to) by this connector is still unused. Graph shows
// passwordProfile only on $select, never with the password, and its
// forceChangePasswordNextSignIn stays true, as the create set it, until the
// person signs in and changes the password as forced; then the profile reads
// null (microsoft-graph-docs-contrib issue #3342). That is a directory
// property read with the user permissions the connector holds anyway, and
// the emulator models it. signInActivity.lastSignInDateTime would say more but
// needs AuditLog.Read.All and an Entra ID P1 licence and lags sign-ins by
// hours; lastPasswordChangeDateTime moves with an administrator's reset too.
// With temporary_access_pass the person signs in with the pass and the
// flag stays true; but a pass is handed out only with a recorded result
// (an object id in the Ref), which rules the user out before this is asked.
func (c *Connector) neverSignedIn(ctx context.Context, id string) (bool, error) {
	var u models.Userable
	err := c.callFresh(ctx, func(ctx context.Context) error {
		res, err := c.adapter.Send(ctx, c.request(abs.GET, "/users/"+url.PathEscape(id), url.Values{"$select": {"id,passwordProfile"}}),
			models.CreateUserFromDiscriminatorValue, errMap)
		if err == nil {
			u = res.(models.Userable)
		}
		return err
	})
	if err != nil {
		return false, err
	}
	pp := u.GetPasswordProfile()
	if pp == nil {
		return false, nil
	}
	force := pp.GetForceChangePasswordNextSignIn()
	return force != nil && *force, nil
}

func (c *Connector) create(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	p := a.Person
	upn := a.Ref[RefUPN]
	if upn == "" {
		return nil, nil, tilgang.Errorf(tilgang.Invalid, "no resolved userPrincipalName to create a user with (call Resolve first)")
	}
	pw, err := generatePassword(c.cfg.PasswordLength)
	if err != nil {
		return nil, nil, err
	}
	u := models.NewUser()
	enabled := !a.Disabled
	nick := strings.SplitN(upn, "@", 2)[0]
	u.SetAccountEnabled(&enabled)
	u.SetUserPrincipalName(&upn)
	u.SetMailNickname(&nick)
	for k, v := range c.wanted(p) {
		if v == "" {
			continue
		}
		setAttr(u, k, v)
	}
	u.SetPasswordProfile(passwordProfile(pw))
	var made models.Userable
	err = c.call(ctx, func(ctx context.Context) error {
		ri := c.request(abs.POST, "/users", nil)
		if err := ri.SetContentFromParsable(ctx, c.adapter, "application/json", u); err != nil {
			return err
		}
		res, err := c.adapter.Send(ctx, ri, models.CreateUserFromDiscriminatorValue, errMap)
		if err == nil {
			made = res.(models.Userable)
		}
		return err
	})
	if tilgang.KindOf(classify(err, "")) == tilgang.Conflict {
		// Our own earlier attempt (a lost response, a retried request) or
		// someone else's user: only the employeeId tells.
		return c.recover(ctx, a, upn)
	}
	if err != nil {
		return nil, nil, err
	}
	return c.credential(ctx, refOf(made), upn, pw)
}

// credential is what the new user's person is handed (sealed by the
// executor): the one-time password, or a Temporary Access Pass when the
// instance says so (POST /users/{id}/authentication/temporaryAccessPassMethods).
func (c *Connector) credential(ctx context.Context, ref connectors.Ref, upn, pw string) (connectors.Ref, *connectors.Credential, error) {
	if c.cfg.InitialCredential != "temporary_access_pass" {
		return ref, &connectors.Credential{Username: upn, Secret: []byte(pw)}, nil
	}
	body := models.NewTemporaryAccessPassAuthenticationMethod()
	life := int32(c.cfg.TAPLifetime / time.Minute)
	once := false
	body.SetLifetimeInMinutes(&life)
	body.SetIsUsableOnce(&once)
	var pass string
	err := c.call(ctx, func(ctx context.Context) error {
		ri := c.request(abs.POST, "/users/"+ref[RefID]+"/authentication/temporaryAccessPassMethods", nil)
		if err := ri.SetContentFromParsable(ctx, c.adapter, "application/json", body); err != nil {
			return err
		}
		res, err := c.adapter.Send(ctx, ri, models.CreateTemporaryAccessPassAuthenticationMethodFromDiscriminatorValue, errMap)
		if err == nil {
			pass = deref(res.(models.TemporaryAccessPassAuthenticationMethodable).GetTemporaryAccessPass())
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("temporary access pass for %s: %w", upn, err)
	}
	return ref, &connectors.Credential{Username: upn, Secret: []byte(pass)}, nil
}

// recover adopts a user whose create answered "already exists" when it
// carries the person's id, and gives it a fresh password (reissue): the one
// sent with the lost create was never handed out.
func (c *Connector) recover(ctx context.Context, a connectors.Account, upn string) (connectors.Ref, *connectors.Credential, error) {
	u, err := c.getUser(ctx, upn, true)
	if err != nil {
		return nil, nil, err
	}
	if u == nil || deref(u.GetEmployeeId()) != a.Person.ID {
		return nil, nil, fmt.Errorf("userPrincipalName %s: %w", upn, errNameTaken)
	}
	if isSynced(u) {
		return refOf(u), nil, nil // AD's, with AD's password
	}
	return c.reissue(ctx, u)
}

func passwordProfile(pw string) models.PasswordProfileable {
	pp := models.NewPasswordProfile()
	force := true
	pp.SetPassword(&pw)
	pp.SetForceChangePasswordNextSignIn(&force)
	return pp
}

func setAttr(u models.Userable, k, v string) {
	switch k {
	case "displayName":
		u.SetDisplayName(&v)
	case "givenName":
		u.SetGivenName(&v)
	case "surname":
		u.SetSurname(&v)
	case "employeeId":
		u.SetEmployeeId(&v)
	case "usageLocation":
		u.SetUsageLocation(&v)
	case "department":
		u.SetDepartment(&v)
	case "jobTitle":
		u.SetJobTitle(&v)
	}
}

// update patches the attributes that differ from the person's record;
// the UPN stays. Empty values in the record leave Graph's value alone.
func (c *Connector) update(ctx context.Context, u models.Userable, p tilgang.Person) error {
	have := current(u)
	patch := models.NewUser()
	changed := false
	for k, v := range c.wanted(p) {
		if v != "" && have[k] != v {
			setAttr(patch, k, v)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return c.patchUser(ctx, deref(u.GetId()), patch)
}

func (c *Connector) patchUser(ctx context.Context, id string, patch models.Userable) error {
	return c.callFresh(ctx, func(ctx context.Context) error {
		ri := c.request(abs.PATCH, "/users/"+url.PathEscape(id), nil)
		if err := ri.SetContentFromParsable(ctx, c.adapter, "application/json", patch); err != nil {
			return err
		}
		return c.adapter.SendNoContent(ctx, ri, errMap)
	})
}

func (c *Connector) setEnabled(ctx context.Context, a connectors.Account, enabled bool) error {
	u, err := c.find(ctx, a)
	if err != nil {
		return err
	}
	if u == nil {
		return tilgang.Errorf(tilgang.NotFound, "no user for person %s", a.Person.ID)
	}
	if isSynced(u) {
		return syncedError("user " + deref(u.GetUserPrincipalName()))
	}
	if p := u.GetAccountEnabled(); p != nil && *p == enabled {
		return nil
	}
	patch := models.NewUser()
	patch.SetAccountEnabled(&enabled)
	return c.patchUser(ctx, deref(u.GetId()), patch)
}

// Disable sets accountEnabled false. Errors: NotFound, Invalid for a
// user synced from AD (naming the ad connector), Throttled, Unavailable.
func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	return classify(c.setEnabled(ctx, a, false), "entra: disable %s", a.Person.ID)
}

// Enable sets accountEnabled true; errors as Disable.
func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	return classify(c.setEnabled(ctx, a, true), "entra: enable %s", a.Person.ID)
}

// group resolves an entitlement (an object id or a display name) once,
// until a request finds the group deleted (groupGone forgets it).
func (c *Connector) group(ctx context.Context, ent string) (group, error) {
	c.mu.Lock()
	g, ok := c.groups[ent]
	c.mu.Unlock()
	if ok {
		return g, nil
	}
	sel := url.Values{"$select": {"id,displayName,onPremisesSyncEnabled"}}
	var gs []models.Groupable
	if guidRE.MatchString(ent) {
		err := c.call(ctx, func(ctx context.Context) error {
			res, err := c.adapter.Send(ctx, c.request(abs.GET, "/groups/"+ent, sel), models.CreateGroupFromDiscriminatorValue, errMap)
			if err == nil {
				gs = []models.Groupable{res.(models.Groupable)}
			}
			return err
		})
		if err != nil {
			return group{}, err
		}
	} else {
		sel.Set("$filter", "displayName eq "+odataString(ent))
		err := c.call(ctx, func(ctx context.Context) error {
			res, err := c.adapter.Send(ctx, c.request(abs.GET, "/groups", sel), models.CreateGroupCollectionResponseFromDiscriminatorValue, errMap)
			if err == nil {
				gs = res.(models.GroupCollectionResponseable).GetValue()
			}
			return err
		})
		if err != nil {
			return group{}, err
		}
		switch len(gs) {
		case 0:
			return group{}, tilgang.Errorf(tilgang.NotFound, "no group named %q", ent)
		case 1:
		default:
			return group{}, tilgang.Errorf(tilgang.Conflict, "%d groups are named %q: name it by object id", len(gs), ent)
		}
	}
	s := gs[0].GetOnPremisesSyncEnabled()
	g = group{id: deref(gs[0].GetId()), name: deref(gs[0].GetDisplayName()), synced: s != nil && *s}
	c.mu.Lock()
	c.groups[ent] = g
	c.mu.Unlock()
	return g, nil
}

// errNameTaken: the resolved userPrincipalName belongs to another person's
// user (a Conflict when it is not resolved again).
var errNameTaken = &tilgang.Error{Kind: tilgang.Conflict, Message: "taken by another user"}

var (
	_ connectors.Checker = (*Connector)(nil)
	_ connectors.Bulk    = (*Connector)(nil)
)

// CheckEntitlement warns about an entitlement that names no group, or a
// group synced from AD, which Graph refuses to change: such a role belongs
// to the ad connector.
func (c *Connector) CheckEntitlement(ctx context.Context, ent string) (string, error) {
	g, err := c.group(ctx, ent)
	switch {
	case tilgang.KindOf(err) == tilgang.NotFound || tilgang.KindOf(err) == tilgang.Conflict:
		return err.Error(), nil
	case err != nil:
		return "", err
	case g.synced:
		return fmt.Sprintf("group %q is synced from Active Directory: Graph refuses to change it; grant it through the ad connector", g.name), nil
	}
	return "", nil
}

// userID is the account's object id, from its Ref or looked up.
func (c *Connector) userID(ctx context.Context, a connectors.Account) (string, error) {
	if id := a.Ref[RefID]; id != "" {
		return id, nil
	}
	u, err := c.find(ctx, a)
	if err != nil || u == nil {
		return "", err
	}
	return deref(u.GetId()), nil
}

func (c *Connector) memberRef(id string) map[string]string {
	return map[string]string{"@odata.id": c.cfg.GraphURL + "/directoryObjects/" + id}
}

// errGroupGone: the group an entitlement was looked up as no longer exists
// (deleted, and perhaps made again under the same name with a new id).
var errGroupGone = &tilgang.Error{Kind: tilgang.NotFound, Message: "the group was deleted since it was looked up"}

// groupGone tells, after a 404 from a request to g, whether g itself is
// gone rather than the member the request named; then ent's entry is
// forgotten so the group is looked up again. A Graph that cannot answer
// now counts as not gone: the request's own error stands.
func (c *Connector) groupGone(ctx context.Context, ent string, g group) bool {
	err := c.call(ctx, func(ctx context.Context) error {
		_, err := c.adapter.Send(ctx, c.request(abs.GET, "/groups/"+g.id, url.Values{"$select": {"id"}}),
			models.CreateGroupFromDiscriminatorValue, errMap)
		return err
	})
	if ge, ok := asGraph(err); !ok || ge.status != 404 {
		return false
	}
	c.mu.Lock()
	if c.groups[ent].id == g.id {
		delete(c.groups, ent)
	}
	c.mu.Unlock()
	c.log.Info("entra: group deleted since it was looked up; looking it up again", "entitlement", ent, "group_id", g.id)
	return true
}

// goneError is what fn of inGroup returns when groupGone found g deleted.
func goneError(g group) error {
	return fmt.Errorf("group %s (%s): %w", g.name, g.id, errGroupGone)
}

// inGroup runs fn against the entitlement's group (its id cached), and once
// more against the group looked up again when fn found the cached one
// deleted (errGroupGone), so a group deleted and made again under the same
// name is found by its new id without a restart.
func (c *Connector) inGroup(ctx context.Context, ent string, fn func(g group) error) error {
	for try := 0; ; try++ {
		g, err := c.group(ctx, ent)
		if err != nil {
			return err
		}
		err = fn(g)
		if try > 0 || !errors.Is(err, errGroupGone) {
			return err
		}
	}
}

func is404(err error) bool {
	ge, ok := asGraph(err)
	return ok && ge.status == 404
}

// addMember adds one member; Graph's "already exist" answer is success. A
// 404 is the group gone (errGroupGone), or else the user, created moments
// ago, not yet readable: that is retried for replication_wait.
func (c *Connector) addMember(ctx context.Context, ent string, g group, uid string) error {
	send := func(ctx context.Context) error {
		ri := jsonBody(c.request(abs.POST, "/groups/"+g.id+"/members/$ref", nil), c.memberRef(uid))
		return c.adapter.SendNoContent(ctx, ri, errMap)
	}
	err := c.call(ctx, send)
	if is404(err) {
		if c.groupGone(ctx, ent, g) {
			return goneError(g)
		}
		err = c.callFresh(ctx, send)
	}
	if ge, ok := asGraph(err); ok && ge.status == 400 && strings.Contains(ge.message, msgAlreadyMember) {
		return nil
	}
	return err
}

// Grant makes the account a member of the group. Errors: NotFound (no
// such group or user), Invalid for a group synced from AD (naming the ad
// connector) or Graph's refusal, Throttled, Unavailable.
func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	err := c.inGroup(ctx, ent, func(g group) error {
		if g.synced {
			return syncedError("group " + g.name)
		}
		uid, err := c.userID(ctx, a)
		if err != nil {
			return err
		}
		if uid == "" {
			return tilgang.Errorf(tilgang.NotFound, "no user for person %s", a.Person.ID)
		}
		return c.addMember(ctx, ent, g, uid)
	})
	return classify(err, "entra: grant %s to %s", ent, a.Person.ID)
}

// Revoke removes the account from the group; not a member (Graph's 404 on
// the member of an existing group) or no user at all is success.
func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	err := c.inGroup(ctx, ent, func(g group) error {
		if g.synced {
			return syncedError("group " + g.name)
		}
		uid, err := c.userID(ctx, a)
		if err != nil || uid == "" {
			return err
		}
		err = c.call(ctx, func(ctx context.Context) error {
			return c.adapter.SendNoContent(ctx, c.request(abs.DELETE, "/groups/"+g.id+"/members/"+url.PathEscape(uid)+"/$ref", nil), errMap)
		})
		if ge, ok := asGraph(err); ok && ge.status == 404 && ge.code == "Request_ResourceNotFound" {
			// Not a member, unless the group itself is gone: then the
			// member may still be in the group now under that name.
			if c.groupGone(ctx, ent, g) {
				return goneError(g)
			}
			return nil
		}
		return err
	})
	return classify(err, "entra: revoke %s from %s", ent, a.Person.ID)
}

// ListMembers pages through the group's members (999 a page).
func (c *Connector) ListMembers(ctx context.Context, ent string) ([]connectors.Ref, error) {
	var out []connectors.Ref
	err := c.inGroup(ctx, ent, func(g group) error {
		ri := c.request(abs.GET, "/groups/"+g.id+"/members", url.Values{"$select": {"id,userPrincipalName"}, "$top": {"999"}})
		members, err := pages[models.DirectoryObjectable, models.DirectoryObjectCollectionResponseable](ctx, c, ri,
			models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
		if is404(err) && c.groupGone(ctx, ent, g) {
			return goneError(g)
		}
		if err != nil {
			return err
		}
		out = make([]connectors.Ref, 0, len(members))
		for _, o := range members {
			r := connectors.Ref{RefID: deref(o.GetId())}
			if u, ok := o.(models.Userable); ok && u.GetUserPrincipalName() != nil {
				r[RefUPN] = *u.GetUserPrincipalName()
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, classify(err, "entra: list members of %s", ent)
	}
	return out, nil
}

// generatePassword makes a password of n characters from upper- and
// lower-case letters, digits and symbols (Entra wants three of the four),
// without look-alikes, so it can be read out in person.
func generatePassword(n int) (string, error) {
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "-_.!#%+=?"}
	all := strings.Join(classes, "")
	b := make([]byte, n)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return "", tilgang.Wrap(tilgang.Internal, err, "random")
		}
		b[i] = set[k.Int64()]
	}
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", tilgang.Wrap(tilgang.Internal, err, "random")
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b), nil
}
