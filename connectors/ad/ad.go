// Package ad is the Active Directory connector: accounts and group
// memberships over LDAPS with github.com/go-ldap/ldap/v3, tested against a
// real Samba AD domain controller (deploy/samba-testenv.sh).
//
// Decisions a systemansvarlig would ask about:
//   - An account is found by its objectGUID (once known), else by the
//     correlation attribute (employeeID = the person id), else by the
//     sAMAccountName that Resolve computed and the executor stored. An
//     account carrying the person's id is adopted, never duplicated; two
//     accounts carrying it are a Conflict for a person to sort out.
//   - The sAMAccountName is computed once (Resolve), from the username
//     pattern with Norwegian and Sami letters transliterated, and never
//     changes; nor does the UPN or the CN. A name change updates givenName,
//     sn and displayName.
//   - A new account is made in one LDAP add, with its password: either it
//     exists with a password or not at all. If the process dies after the
//     add and before the executor recorded it, the retry finds the account by
//     employeeID; when it has never been logged on to, it gets a fresh
//     password that is handed out instead of the lost one. Either password
//     is for one logon: pwdLastSet 0 makes the person change it there.
//   - A mover whose municipality changed has the account moved (ModifyDN)
//     from the old municipality's user OU to the new one's; an account
//     outside the user OUs (placed by hand, or a leaver's) stays put.
//   - Disable (a leaver) clears the enabled bit, removes the account from
//     its groups, and moves it to leaver.ou or marks it; it never deletes.
//     Enable reverses the move (a rehire) but restores no groups.
//   - Grant and revoke send the permissive-modify control. Windows AD then
//     answers success for a member already there or already gone; Samba
//     ignores the control for member and answers 68 and 53, which are taken
//     as done only after a read confirms the membership state.
//   - Every value put into a filter is escaped with ldap.EscapeFilter and
//     every value put into a DN with ldap.EscapeDN.
package ad

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// maxCandidates bounds the numbered usernames tried for one base
// ("karhan" .. "karhan999"): common names in a large shared service pass 99.
const maxCandidates = 999

// Ref keys an ad account has.
const (
	RefDN   = "dn"
	RefSAM  = "sAMAccountName"
	RefUPN  = "userPrincipalName"
	RefGUID = "objectGUID"
)

// userAccountControl bits (KB 305144).
const (
	uacDisabled = 0x2
	uacNormal   = 0x200
)

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Lister    = (*Connector)(nil)

	attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
)

// Connector is an ad instance.
type Connector struct {
	name    string
	cfg     Config
	pattern Pattern
	baseDN  *ldap.DN
	pool    *pool
	log     *slog.Logger
}

// Open checks cfg and returns an instance; it connects on first use.
func Open(name string, cfg Config, logger *slog.Logger) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	tc, err := cfg.tlsConfig(u.Hostname())
	if err != nil {
		return nil, err
	}
	pat, _ := ParsePattern(cfg.UsernamePattern)
	base, _ := ldap.ParseDN(cfg.BaseDN)
	return &Connector{name: name, cfg: cfg, pattern: pat, baseDN: base,
		pool: newPool(cfg, u, tc, pw), log: logger.With("connector", name)}, nil
}

var _ connectors.Limited = (*Connector)(nil)

// MaxInFlight is the pool's size (pool_size): the executor starts no more
// of this instance's calls at once, so a call's timeout is not spent
// waiting for a connection (connectors.Limited).
func (c *Connector) MaxInFlight() int { return c.pool.size() }

// Close closes the pooled connections.
func (c *Connector) Close() error {
	c.pool.close()
	return nil
}

var userAttrs = []string{"sAMAccountName", "userPrincipalName", "objectGUID", "userAccountControl",
	"givenName", "sn", "displayName", "mail", "department", "title", "memberOf", "logonCount"}

func (c *Connector) attrs() []string {
	a := append([]string{c.cfg.CorrelateAttr}, userAttrs...)
	if c.cfg.Leaver.MarkAttribute != "" {
		a = append(a, c.cfg.Leaver.MarkAttribute)
	}
	return a
}

func refOf(e *ldap.Entry) connectors.Ref {
	r := connectors.Ref{RefDN: e.DN, RefSAM: e.GetAttributeValue("sAMAccountName")}
	if v := e.GetAttributeValue("userPrincipalName"); v != "" {
		r[RefUPN] = v
	}
	if g := e.GetRawAttributeValue("objectGUID"); len(g) > 0 {
		r[RefGUID] = hex.EncodeToString(g)
	}
	return r
}

// searchUsers runs a paged subtree search for users under base_dn.
func (c *Connector) searchUsers(conn *ldap.Conn, filter string, attrs []string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		int(c.cfg.Timeout.Seconds()), false, "(&(objectClass=user)(!(objectClass=computer))"+filter+")", attrs, nil)
	res, err := conn.SearchWithPaging(req, uint32(c.cfg.PageSize))
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// eq is an equality filter with the value escaped; attr is one of ours
// (checked at Validate), never input.
func eq(attr, value string) string { return "(" + attr + "=" + ldap.EscapeFilter(value) + ")" }

func (c *Connector) byAttr(conn *ldap.Conn, attr, value string) (*ldap.Entry, error) {
	es, err := c.searchUsers(conn, eq(attr, value), c.attrs())
	if err != nil {
		return nil, err
	}
	switch len(es) {
	case 0:
		return nil, nil
	case 1:
		return es[0], nil
	}
	dns := make([]string, len(es))
	for i, e := range es {
		dns[i] = e.DN
	}
	return nil, tilgang.Errorf(tilgang.Conflict, "%d accounts carry %s=%q: %s", len(es), attr, value, strings.Join(dns, "; "))
}

// find locates the person's account: by objectGUID, by the correlation
// attribute, then by the stored sAMAccountName when that account carries no
// other person's id. nil when there is none. The last two are one search.
func (c *Connector) find(conn *ldap.Conn, a connectors.Account) (*ldap.Entry, error) {
	if g := a.Ref[RefGUID]; g != "" {
		raw, err := hex.DecodeString(g)
		if err != nil {
			return nil, tilgang.Errorf(tilgang.Invalid, "stored objectGUID %q is not hex", g)
		}
		e, err := c.byAttr(conn, "objectGUID", string(raw))
		if e != nil || err != nil {
			return e, err
		}
	}
	sam := a.Ref[RefSAM]
	var f []string
	if a.Person.ID != "" {
		f = append(f, eq(c.cfg.CorrelateAttr, a.Person.ID))
	}
	if sam != "" {
		f = append(f, eq("sAMAccountName", sam))
	}
	if len(f) == 0 {
		return nil, nil
	}
	es, err := c.searchUsers(conn, "(|"+strings.Join(f, "")+")", c.attrs())
	if err != nil {
		return nil, err
	}
	// An entry the name did not match was matched by the person's id.
	var byID []*ldap.Entry
	var byName *ldap.Entry
	for _, e := range es {
		named := sam != "" && strings.EqualFold(e.GetAttributeValue("sAMAccountName"), sam)
		if a.Person.ID != "" && (!named || sameID(e.GetAttributeValue(c.cfg.CorrelateAttr), a.Person.ID)) {
			byID = append(byID, e)
		} else if named {
			byName = e
		}
	}
	switch {
	case len(byID) == 1:
		return byID[0], nil
	case len(byID) > 1:
		dns := make([]string, len(byID))
		for i, e := range byID {
			dns[i] = e.DN
		}
		return nil, tilgang.Errorf(tilgang.Conflict, "%d accounts carry %s=%q: %s", len(byID), c.cfg.CorrelateAttr, a.Person.ID, strings.Join(dns, "; "))
	case byName == nil:
		return nil, nil
	}
	if id := byName.GetAttributeValue(c.cfg.CorrelateAttr); id != "" && id != a.Person.ID {
		if a.Ref[RefGUID] == "" {
			// Never recorded as ours: another person's account took the
			// name between Resolve and now (two joiners of one name at
			// once). create picks a fresh name.
			return nil, nil
		}
		return nil, tilgang.Errorf(tilgang.Conflict, "%s is the account of %s=%q, not of person %s", sam, c.cfg.CorrelateAttr, id, a.Person.ID)
	}
	return byName, nil
}

// sameID is the directory's equality for the correlation attribute (a
// case-insensitive string), for values it has matched in a search.
func sameID(stored, id string) bool { return strings.EqualFold(strings.TrimSpace(stored), id) }

func (c *Connector) userOU(p tilgang.Person) (string, error) {
	if ou, ok := c.cfg.UserOUs[p.Municipality]; ok {
		return ou, nil
	}
	if c.cfg.UserOU == "" {
		return "", tilgang.Errorf(tilgang.Invalid, "no user_ous entry for municipality %q and no user_ou", p.Municipality)
	}
	if strings.Contains(c.cfg.UserOU, "{municipality}") && p.Municipality == "" {
		return "", tilgang.Errorf(tilgang.Invalid, "person %s has no municipality for user_ou %s", p.ID, c.cfg.UserOU)
	}
	return strings.ReplaceAll(c.cfg.UserOU, "{municipality}", escapeRDN(p.Municipality)), nil
}

// escapeRDN escapes an attribute value for a DN: ldap.EscapeDN, and '='
// too, which RFC 4514 allows unescaped but Samba refuses (34).
func escapeRDN(v string) string { return strings.ReplaceAll(ldap.EscapeDN(v), "=", `\=`) }

func displayName(p tilgang.Person) string {
	return strings.TrimSpace(strings.TrimSpace(p.GivenName) + " " + strings.TrimSpace(p.FamilyName))
}

// cut shortens s to n characters (AD's rangeUpper on cn, givenName, sn,
// department is 64).
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// Resolve returns prior when it names an account, the existing account's
// values when one carries the person's id, and otherwise a free
// sAMAccountName (checked against the directory), its UPN and the DN a new
// account will get. It changes nothing.
func (c *Connector) Resolve(ctx context.Context, p tilgang.Person, prior connectors.Ref) (connectors.Ref, error) {
	if prior[RefSAM] != "" {
		return prior, nil
	}
	var ref connectors.Ref
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		var err error
		ref, err = c.allocate(conn, p, true)
		return err
	})
	if err != nil {
		return nil, classify(err, "ad: resolve %s", p.ID)
	}
	return ref, nil
}

// allocate picks a free sAMAccountName (checked against the directory),
// its UPN, and a free DN for a new account of p. With adopt, the search
// for the names taken also looks for a user carrying the person's id, and
// when there is one, allocate returns its values instead.
func (c *Connector) allocate(conn *ldap.Conn, p tilgang.Person, adopt bool) (connectors.Ref, error) {
	ou, ouErr := c.userOU(p)
	if ouErr != nil && !adopt {
		return nil, ouErr
	}
	base := c.pattern.Base(p.GivenName, p.FamilyName, p.ID)
	if base == "" {
		base = Candidate("u"+Transliterate(p.ID), 1)
		if len(base) > MaxSAMAccountName {
			base = base[:MaxSAMAccountName]
		}
	}
	// Every candidate (base, base2, ... base999) starts with prefix, so
	// one search finds all that are taken.
	prefix := base
	if len(prefix) > MaxSAMAccountName-3 {
		prefix = prefix[:MaxSAMAccountName-3]
	}
	esc := ldap.EscapeFilter(prefix)
	names := "(sAMAccountName=" + esc + "*)(userPrincipalName=" + esc + "*)"
	if !adopt {
		es, err := c.searchUsersAny(conn, "(|"+names+")", []string{"sAMAccountName", "userPrincipalName"})
		if err != nil {
			return nil, err
		}
		return c.pick(conn, p, ou, base, es)
	}
	user := "(&(objectClass=user)(!(objectClass=computer))" + eq(c.cfg.CorrelateAttr, p.ID) + ")"
	es, err := c.searchUsersAny(conn, "(|"+user+names+")", append(c.attrs(), "objectClass"))
	if err != nil {
		return nil, err
	}
	// An entry the names did not match was matched by the person's id.
	lp := strings.ToLower(prefix)
	var mine []*ldap.Entry
	for _, e := range es {
		named := strings.HasPrefix(strings.ToLower(e.GetAttributeValue("sAMAccountName")), lp) ||
			strings.HasPrefix(strings.ToLower(e.GetAttributeValue("userPrincipalName")), lp)
		if isUser(e) && (!named || sameID(e.GetAttributeValue(c.cfg.CorrelateAttr), p.ID)) {
			mine = append(mine, e)
		}
	}
	switch len(mine) {
	case 0:
	case 1:
		return refOf(mine[0]), nil
	default:
		dns := make([]string, len(mine))
		for i, e := range mine {
			dns[i] = e.DN
		}
		return nil, tilgang.Errorf(tilgang.Conflict, "%d accounts carry %s=%q: %s", len(mine), c.cfg.CorrelateAttr, p.ID, strings.Join(dns, "; "))
	}
	if ouErr != nil {
		return nil, ouErr
	}
	return c.pick(conn, p, ou, base, es)
}

// isUser reports whether e is a user and not a computer (whose objectClass
// includes user).
func isUser(e *ldap.Entry) bool {
	user := false
	for _, v := range e.GetAttributeValues("objectClass") {
		switch strings.ToLower(v) {
		case "computer":
			return false
		case "user":
			user = true
		}
	}
	return user
}

// pick takes the first name from base not among the taken entries, and
// a DN for it in ou that no entry has.
func (c *Connector) pick(conn *ldap.Conn, p tilgang.Person, ou, base string, es []*ldap.Entry) (connectors.Ref, error) {
	taken := map[string]bool{}
	for _, e := range es {
		taken[strings.ToLower(e.GetAttributeValue("sAMAccountName"))] = true
		if upn := e.GetAttributeValue("userPrincipalName"); upn != "" {
			taken[strings.ToLower(strings.SplitN(upn, "@", 2)[0])] = true
		}
	}
	sam, ok := FirstFree(base, taken, maxCandidates)
	if !ok {
		return nil, tilgang.Errorf(tilgang.Conflict, "no free username from %q (%d taken)", base, maxCandidates)
	}
	cn := cut(displayName(p), 64)
	if cn == "" {
		cn = sam
	}
	dn := "CN=" + escapeRDN(cn) + "," + ou
	if exists, err := c.exists(conn, dn); err != nil {
		return nil, err
	} else if exists {
		dn = "CN=" + escapeRDN(cut(cn, 64-len(sam)-3)+" ("+sam+")") + "," + ou
	}
	return connectors.Ref{RefSAM: sam, RefUPN: sam + "@" + c.cfg.UPNSuffix, RefDN: dn}, nil
}

// searchUsersAny is searchUsers over any object with a sAMAccountName
// (groups and computers take names from the same space).
func (c *Connector) searchUsersAny(conn *ldap.Conn, filter string, attrs []string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		int(c.cfg.Timeout.Seconds()), false, filter, attrs, nil)
	res, err := conn.SearchWithPaging(req, uint32(c.cfg.PageSize))
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

func (c *Connector) exists(conn *ldap.Conn, dn string) (bool, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
		int(c.cfg.Timeout.Seconds()), false, "(objectClass=*)", []string{"1.1"}, nil)
	_, err := conn.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return false, nil
	}
	return err == nil, err
}

// wanted is the attributes the person's record gives the account.
func (c *Connector) wanted(p tilgang.Person) map[string]string {
	w := map[string]string{
		"givenName":   cut(strings.TrimSpace(p.GivenName), 64),
		"sn":          cut(strings.TrimSpace(p.FamilyName), 64),
		"displayName": cut(displayName(p), 256),
		"mail":        p.Email,
	}
	if m, ok := p.Main(); ok {
		w["department"] = cut(m.OrgUnit, 64)
		w["title"] = cut(m.Position, 128)
	}
	return w
}

// EnsureAccount adopts the person's account (updating names and
// attributes) or creates it with a generated password, enabled unless
// a.Disabled. Errors: Conflict when the name is another's, NotFound when the
// OU is missing, Invalid for refusals of the directory's rules, Denied for
// missing rights, Unavailable when the DC cannot be reached.
func (c *Connector) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	var ref connectors.Ref
	var cred *connectors.Credential
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		ref, cred = nil, nil
		e, err := c.find(conn, a)
		if err != nil {
			return err
		}
		if e == nil {
			ref, cred, err = c.create(conn, a)
			return err
		}
		if err := c.update(conn, e, a.Person); err != nil {
			return err
		}
		dn, err := c.relocate(conn, e, a.Person)
		if err != nil {
			return err
		}
		e.DN = dn
		// Created by an earlier attempt whose result was never recorded
		// (the stored Ref has no objectGUID yet, and the account has the
		// name that attempt computed): its password was lost with the
		// process. If nobody has logged on with it, issue a fresh one.
		ours := a.Ref[RefGUID] == "" && a.Ref[RefSAM] != "" && strings.EqualFold(a.Ref[RefSAM], e.GetAttributeValue("sAMAccountName"))
		if lc := e.GetAttributeValue("logonCount"); ours && (lc == "" || lc == "0") {
			if !c.pool.encrypted() {
				return tilgang.Errorf(tilgang.Denied, "cannot set a password over a connection without TLS")
			}
			pw, err := generatePassword(c.cfg.PasswordLength)
			if err != nil {
				return err
			}
			// One modify: the reset sets pwdLastSet to now, and 0 after it
			// makes the fresh password one-time like the lost one.
			mod := ldap.NewModifyRequest(e.DN, nil)
			mod.Replace("unicodePwd", []string{encodePassword(pw)})
			mod.Replace("pwdLastSet", []string{"0"})
			if err := conn.Modify(mod); err != nil {
				return err
			}
			cred = &connectors.Credential{Username: e.GetAttributeValue("sAMAccountName"), Secret: []byte(pw)}
		}
		e, err = c.reread(conn, e.DN)
		if err != nil {
			return err
		}
		ref = refOf(e)
		return nil
	})
	if err != nil {
		return nil, nil, classify(err, "ad: ensure account of %s", a.Person.ID)
	}
	if cred != nil {
		c.log.Info("ad: account created or recovered; initial password issued", "person", a.Person.ID, "username", cred.Username)
	}
	return ref, cred, nil
}

func (c *Connector) reread(conn *ldap.Conn, dn string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
		int(c.cfg.Timeout.Seconds()), false, "(objectClass=*)", c.attrs(), nil)
	res, err := conn.Search(req)
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, tilgang.Errorf(tilgang.NotFound, "%s vanished", dn)
	}
	return res.Entries[0], nil
}

// maxRenames bounds how often create picks a fresh name because another
// account took the resolved one meanwhile; n joiners of one name at once
// need up to n-1.
const maxRenames = 32

// create makes the account with the resolved name and DN. When another
// account took either meanwhile (the add fails with 68 or 19, and the
// directory shows the name or DN held by another), it picks a fresh name
// and DN and tries again: the new account is found by employeeID on any
// retry, so a name other than the stored one never makes a second account.
func (c *Connector) create(conn *ldap.Conn, a connectors.Account) (connectors.Ref, *connectors.Credential, error) {
	ref := a.Ref
	for i := 0; ; i++ {
		r, cred, err := c.add(conn, a.Person, ref, a.Disabled)
		if err == nil || !ldap.IsErrorAnyOf(err, ldap.LDAPResultEntryAlreadyExists, ldap.LDAPResultConstraintViolation) {
			return r, cred, err
		}
		taken, terr := c.taken(conn, ref)
		if terr != nil || !taken {
			return nil, nil, err
		}
		if i == maxRenames {
			// Still racing others for the names: the outbox tries later.
			return nil, nil, tilgang.Wrap(tilgang.Unavailable, err, "the username was taken by a concurrent creation %d times in a row", i+1)
		}
		fresh, aerr := c.allocate(conn, a.Person, false)
		if aerr != nil {
			return nil, nil, aerr
		}
		c.log.Info("ad: the resolved username or DN was taken meanwhile; using another", "person", a.Person.ID,
			"resolved", ref[RefSAM], "username", fresh[RefSAM])
		ref = fresh
	}
}

// taken reports whether ref's sAMAccountName, UPN or DN is held by an entry.
func (c *Connector) taken(conn *ldap.Conn, ref connectors.Ref) (bool, error) {
	f := eq("sAMAccountName", ref[RefSAM])
	if ref[RefUPN] != "" {
		f = "(|" + f + eq("userPrincipalName", ref[RefUPN]) + ")"
	}
	es, err := c.searchUsersAny(conn, f, []string{"sAMAccountName", "userPrincipalName"})
	if err != nil || len(es) > 0 {
		return len(es) > 0, err
	}
	return c.exists(conn, ref[RefDN])
}

func (c *Connector) add(conn *ldap.Conn, p tilgang.Person, ref connectors.Ref, disabled bool) (connectors.Ref, *connectors.Credential, error) {
	sam, upn, dn := ref[RefSAM], ref[RefUPN], ref[RefDN]
	if sam == "" || dn == "" {
		return nil, nil, tilgang.Errorf(tilgang.Invalid, "no resolved sAMAccountName and DN to create an account with (call Resolve first)")
	}
	if !c.pool.encrypted() {
		return nil, nil, tilgang.Errorf(tilgang.Denied, "cannot set a password over a connection without TLS; configure ldaps:// or start_tls")
	}
	pw, err := generatePassword(c.cfg.PasswordLength)
	if err != nil {
		return nil, nil, err
	}
	uac := uacNormal
	if disabled {
		uac |= uacDisabled
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{sam})
	if upn != "" {
		req.Attribute("userPrincipalName", []string{upn})
	}
	req.Attribute(c.cfg.CorrelateAttr, []string{p.ID})
	for k, v := range c.wanted(p) {
		if v != "" {
			req.Attribute(k, []string{v})
		}
	}
	// One add with the password: the account exists with it or not at all.
	// pwdLastSet 0: the password is for one logon, which must change it.
	req.Attribute("unicodePwd", []string{encodePassword(pw)})
	req.Attribute("pwdLastSet", []string{"0"})
	req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	if err := conn.Add(req); err != nil {
		return nil, nil, err
	}
	e, err := c.reread(conn, dn)
	if err != nil {
		return nil, nil, err
	}
	return refOf(e), &connectors.Credential{Username: sam, Secret: []byte(pw)}, nil
}

// update replaces the attributes that differ from the person's record; the
// sAMAccountName, UPN and CN stay. Empty values in the record leave the
// directory's value alone (mail may be managed elsewhere).
func (c *Connector) update(conn *ldap.Conn, e *ldap.Entry, p tilgang.Person) error {
	mod := ldap.NewModifyRequest(e.DN, nil)
	if e.GetAttributeValue(c.cfg.CorrelateAttr) == "" {
		mod.Replace(c.cfg.CorrelateAttr, []string{p.ID})
	}
	for k, v := range c.wanted(p) {
		if v != "" && e.GetAttributeValue(k) != v {
			mod.Replace(k, []string{v})
		}
	}
	if len(mod.Changes) == 0 {
		return nil
	}
	return conn.Modify(mod)
}

func uacOf(e *ldap.Entry) (int, error) {
	v := e.GetAttributeValue("userAccountControl")
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, tilgang.Errorf(tilgang.Internal, "%s: userAccountControl %q is not a number", e.DN, v)
	}
	return n, nil
}

func (c *Connector) setUAC(conn *ldap.Conn, e *ldap.Entry, disabled bool) error {
	uac, err := uacOf(e)
	if err != nil {
		return err
	}
	want := uac &^ uacDisabled
	if disabled {
		want = uac | uacDisabled
	}
	if want == uac {
		return nil
	}
	mod := ldap.NewModifyRequest(e.DN, nil)
	mod.Replace("userAccountControl", []string{strconv.Itoa(want)})
	return conn.Modify(mod)
}

// Disable disables the account of a leaver: the enabled bit cleared, the
// groups left (unless leaver.keep_groups), the mark set, the account moved
// to leaver.ou. Never deleted. NotFound when the person has no account.
func (c *Connector) Disable(ctx context.Context, a connectors.Account) error {
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		e, err := c.find(conn, a)
		if err != nil {
			return err
		}
		if e == nil {
			return tilgang.Errorf(tilgang.NotFound, "no account")
		}
		if err := c.setUAC(conn, e, true); err != nil {
			return err
		}
		if m := c.cfg.Leaver.MarkAttribute; m != "" && e.GetAttributeValue(m) == "" {
			mod := ldap.NewModifyRequest(e.DN, nil)
			// The Oslo calendar date: a leave at 00:00 is that day, not the one before in UTC.
			mod.Replace(m, []string{"tilgang: disabled " + tilgang.DateOf(c.cfg.Now()).String()})
			if err := conn.Modify(mod); err != nil {
				return err
			}
		}
		if !c.cfg.Leaver.KeepGroups {
			for _, g := range e.GetAttributeValues("memberOf") {
				if err := c.removeMember(conn, g, e.DN); err != nil {
					return fmt.Errorf("leave %s: %w", g, err)
				}
			}
		}
		if c.cfg.Leaver.OU != "" {
			_, err := c.move(conn, e, c.cfg.Leaver.OU)
			return err
		}
		return nil
	})
	return classify(err, "ad: disable %s", a.Person.ID)
}

// Enable sets the enabled bit; an account in leaver.ou (a rehire) goes back
// to the person's OU and loses the mark. Groups are not restored.
func (c *Connector) Enable(ctx context.Context, a connectors.Account) error {
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		e, err := c.find(conn, a)
		if err != nil {
			return err
		}
		if e == nil {
			return tilgang.Errorf(tilgang.NotFound, "no account")
		}
		if err := c.setUAC(conn, e, false); err != nil {
			return err
		}
		if m := c.cfg.Leaver.MarkAttribute; m != "" && strings.HasPrefix(e.GetAttributeValue(m), "tilgang: disabled") {
			mod := ldap.NewModifyRequest(e.DN, nil)
			mod.Delete(m, nil)
			if err := conn.Modify(mod); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
				return err
			}
		}
		if c.cfg.Leaver.OU != "" && c.parentIs(e.DN, c.cfg.Leaver.OU) {
			ou, err := c.userOU(a.Person)
			if err != nil {
				return err
			}
			_, err = c.move(conn, e, ou)
			return err
		}
		return nil
	})
	return classify(err, "ad: enable %s", a.Person.ID)
}

func (c *Connector) parentIs(dn, ou string) bool {
	d, err1 := ldap.ParseDN(dn)
	o, err2 := ldap.ParseDN(ou)
	if err1 != nil || err2 != nil || len(d.RDNs) < 2 {
		return false
	}
	return (&ldap.DN{RDNs: d.RDNs[1:]}).EqualFold(o)
}

// relocate moves the account of a mover between municipalities to the
// user OU of the person's municipality now, and returns its DN. Only an
// account in a user OU (of user_ou or user_ous) is moved: one that an
// administrator placed elsewhere, or a leaver's in leaver.ou, stays, and so
// does any account when the person's OU cannot be told. Moving is
// idempotent: an account already there is left alone, and a retry after a
// move whose result was lost finds the account by objectGUID or employeeID
// at its new place.
func (c *Connector) relocate(conn *ldap.Conn, e *ldap.Entry, p tilgang.Person) (string, error) {
	ou, err := c.userOU(p)
	if err != nil || c.parentIs(e.DN, ou) || (c.cfg.Leaver.OU != "" && c.parentIs(e.DN, c.cfg.Leaver.OU)) {
		return e.DN, nil
	}
	d, err := ldap.ParseDN(e.DN)
	if err != nil || len(d.RDNs) < 2 || !c.isUserOU(&ldap.DN{RDNs: d.RDNs[1:]}) {
		return e.DN, nil
	}
	c.log.Info("ad: moving the account to the municipality's OU", "person", p.ID, "from", e.DN, "to", ou)
	return c.move(conn, e, ou)
}

// placeholder stands for {municipality} while user_ou is parsed as a DN.
const placeholder = "tilgang0municipality0placeholder"

// isUserOU reports whether dn is one of user_ous or fits user_ou with any
// municipality.
func (c *Connector) isUserOU(dn *ldap.DN) bool {
	for _, ou := range c.cfg.UserOUs {
		if d, err := ldap.ParseDN(ou); err == nil && d.EqualFold(dn) {
			return true
		}
	}
	if c.cfg.UserOU == "" {
		return false
	}
	t, err := ldap.ParseDN(strings.ReplaceAll(c.cfg.UserOU, "{municipality}", placeholder))
	if err != nil || len(t.RDNs) != len(dn.RDNs) {
		return false
	}
	for i, r := range t.RDNs {
		o := dn.RDNs[i]
		if len(r.Attributes) != len(o.Attributes) {
			return false
		}
		for j, av := range r.Attributes {
			ov := o.Attributes[j]
			if !strings.EqualFold(av.Type, ov.Type) {
				return false
			}
			pre, post, ok := strings.Cut(av.Value, placeholder)
			if !ok {
				if !strings.EqualFold(av.Value, ov.Value) {
					return false
				}
				continue
			}
			v := ov.Value
			if len(v) <= len(pre)+len(post) || !strings.EqualFold(v[:len(pre)], pre) || !strings.EqualFold(v[len(v)-len(post):], post) {
				return false
			}
		}
	}
	return true
}

// move moves e under ou, keeping its RDN, and returns its new DN; when an
// entry of that name is already there (two leavers called Ola Nordmann),
// the RDN gets the sAMAccountName.
func (c *Connector) move(conn *ldap.Conn, e *ldap.Entry, ou string) (string, error) {
	if c.parentIs(e.DN, ou) {
		return e.DN, nil
	}
	d, err := ldap.ParseDN(e.DN)
	if err != nil {
		return "", tilgang.Wrap(tilgang.Internal, err, "parse %s", e.DN)
	}
	// Not RelativeDN.String: it leaves '=' unescaped, which Samba refuses.
	var avs []string
	cn := ""
	for _, av := range d.RDNs[0].Attributes {
		avs = append(avs, av.Type+"="+escapeRDN(av.Value))
		cn = av.Value
	}
	rdn := strings.Join(avs, "+")
	err = conn.ModifyDN(ldap.NewModifyDNRequest(e.DN, rdn, true, ou))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		sam := e.GetAttributeValue("sAMAccountName")
		rdn = "CN=" + escapeRDN(cut(cn, 64-len(sam)-3)+" ("+sam+")")
		err = conn.ModifyDN(ldap.NewModifyDNRequest(e.DN, rdn, true, ou))
	}
	if err != nil {
		return "", err
	}
	return rdn + "," + ou, nil
}

// group checks that an entitlement is a DN under base_dn.
func (c *Connector) group(ent string) (string, error) {
	d, err := ldap.ParseDN(ent)
	if err != nil || len(d.RDNs) == 0 {
		return "", tilgang.Errorf(tilgang.Invalid, "entitlement %q is not a group DN", ent)
	}
	if !c.baseDN.AncestorOfFold(d) {
		return "", tilgang.Errorf(tilgang.Invalid, "group %q is not under base_dn %s", ent, c.cfg.BaseDN)
	}
	return ent, nil
}

var permissive = ldap.NewControlString(ldap.ControlTypeMicrosoftPermissiveModify, false, "")

// isMember reads whether member is a direct member of group, from the group.
func (c *Connector) isMember(conn *ldap.Conn, group, member string) (bool, error) {
	req := ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
		int(c.cfg.Timeout.Seconds()), false, eq("member", member), []string{"1.1"}, nil)
	res, err := conn.Search(req)
	if err != nil {
		return false, err
	}
	return len(res.Entries) == 1, nil
}

func (c *Connector) modifyMember(conn *ldap.Conn, group, member string, add bool) error {
	mod := ldap.NewModifyRequest(group, []ldap.Control{permissive})
	if add {
		mod.Add("member", []string{member})
	} else {
		mod.Delete("member", []string{member})
	}
	return conn.Modify(mod)
}

func (c *Connector) addMember(conn *ldap.Conn, group, member string) error {
	err := c.modifyMember(conn, group, member, true)
	// Already a member: 20 (the RFC), 68 (Samba, which ignores the control
	// for member). Done only if the group says so.
	if ldap.IsErrorAnyOf(err, ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultEntryAlreadyExists) {
		if ok, rerr := c.isMember(conn, group, member); rerr == nil && ok {
			return nil
		}
	}
	return err
}

func (c *Connector) removeMember(conn *ldap.Conn, group, member string) error {
	err := c.modifyMember(conn, group, member, false)
	// Not a member: 16 (the RFC), 53 (Samba). Done only if the group says so.
	if ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultUnwillingToPerform) {
		if ok, rerr := c.isMember(conn, group, member); rerr == nil && !ok {
			return nil
		}
	}
	return err
}

// guidDN is the account's DN in AD's GUID form (MS-ADTS 3.1.1.3.1.2.4),
// which AD and Samba accept as a member value: it names the account even
// after a move, and saves a search per grant.
func guidDN(a connectors.Account) string {
	g := a.Ref[RefGUID]
	if len(g) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(g); err != nil {
		return ""
	}
	return "<GUID=" + g + ">"
}

// Grant adds the account to the group named by the entitlement (a DN).
// Already a member is success. NotFound when the account or the group is
// missing, Invalid when the entitlement is not a DN under base_dn.
func (c *Connector) Grant(ctx context.Context, a connectors.Account, ent string) error {
	g, err := c.group(ent)
	if err != nil {
		return classify(err, "ad: grant %s to %s", ent, a.Person.ID)
	}
	err = c.pool.do(ctx, func(conn *ldap.Conn) error {
		if m := guidDN(a); m != "" {
			err := c.modifyMember(conn, g, m, true)
			if !ldap.IsErrorAnyOf(err, ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultEntryAlreadyExists, ldap.LDAPResultNoSuchObject) {
				return err
			}
			// Already a member, or no such account or group: look closer.
		}
		e, err := c.find(conn, a)
		if err != nil {
			return err
		}
		if e == nil {
			return tilgang.Errorf(tilgang.NotFound, "no account")
		}
		return c.addMember(conn, g, e.DN)
	})
	return classify(err, "ad: grant %s to %s", ent, a.Person.ID)
}

// Revoke removes the account from the group. Not a member, or no account
// at all, is success.
func (c *Connector) Revoke(ctx context.Context, a connectors.Account, ent string) error {
	g, err := c.group(ent)
	if err != nil {
		return classify(err, "ad: revoke %s from %s", ent, a.Person.ID)
	}
	err = c.pool.do(ctx, func(conn *ldap.Conn) error {
		if m := guidDN(a); m != "" {
			err := c.modifyMember(conn, g, m, false)
			if !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultNoSuchObject) {
				return err
			}
		}
		e, err := c.find(conn, a)
		if err != nil || e == nil {
			return err
		}
		return c.removeMember(conn, g, e.DN)
	})
	return classify(err, "ad: revoke %s from %s", ent, a.Person.ID)
}

// ListMembers lists the group's direct members with range retrieval
// (member;range=low-high, range_size values at a time), then reads the
// user members' names with a paged search. Each Ref has the member's dn; a
// user's also its sAMAccountName, userPrincipalName and objectGUID.
func (c *Connector) ListMembers(ctx context.Context, ent string) ([]connectors.Ref, error) {
	g, err := c.group(ent)
	if err != nil {
		return nil, classify(err, "ad: list members of %s", ent)
	}
	var out []connectors.Ref
	err = c.pool.do(ctx, func(conn *ldap.Conn) error {
		out = nil
		dns, err := c.members(conn, g)
		if err != nil {
			return err
		}
		users, err := c.searchUsers(conn, eq("memberOf", g), []string{"sAMAccountName", "userPrincipalName", "objectGUID"})
		if err != nil {
			return err
		}
		byDN := map[string]*ldap.Entry{}
		for _, u := range users {
			byDN[strings.ToLower(u.DN)] = u
		}
		for _, dn := range dns {
			if u, ok := byDN[strings.ToLower(dn)]; ok {
				out = append(out, refOf(u))
			} else {
				out = append(out, connectors.Ref{RefDN: dn})
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(err, "ad: list members of %s", ent)
	}
	return out, nil
}

// rangeRequests counts the range requests ListMembers made (for tests).
var rangeRequests atomic.Int64

func (c *Connector) members(conn *ldap.Conn, group string) ([]string, error) {
	var dns []string
	low := 0
	for {
		attr := fmt.Sprintf("member;range=%d-%d", low, low+c.cfg.RangeSize-1)
		req := ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
			int(c.cfg.Timeout.Seconds()), false, "(objectClass=*)", []string{attr}, nil)
		rangeRequests.Add(1)
		res, err := conn.Search(req)
		if err != nil {
			return nil, err
		}
		if len(res.Entries) != 1 {
			return nil, tilgang.Errorf(tilgang.NotFound, "group %s not found", group)
		}
		next := -1
		for _, at := range res.Entries[0].Attributes {
			name := strings.ToLower(at.Name)
			if name == "member" { // a server that ignores ranges sends everything
				return append(dns, at.Values...), nil
			}
			if !strings.HasPrefix(name, "member;range=") {
				continue
			}
			dns = append(dns, at.Values...)
			_, hi, ok := strings.Cut(strings.TrimPrefix(name, "member;range="), "-")
			if !ok {
				return nil, tilgang.Errorf(tilgang.Internal, "unexpected attribute %s", at.Name)
			}
			if hi == "*" {
				return dns, nil
			}
			n, err := strconv.Atoi(hi)
			if err != nil || n < low {
				return nil, tilgang.Errorf(tilgang.Internal, "unexpected attribute %s", at.Name)
			}
			next = n + 1
		}
		if next < 0 {
			return dns, nil // no member attribute: an empty group, or past the end
		}
		low = next
	}
}

// generatePassword makes a password of n characters with upper- and
// lower-case letters, digits and symbols (AD's complexity rule wants three
// of the four), without look-alikes, so it can be read out in person.
func generatePassword(n int) (string, error) {
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "-_.!#%+=?"}
	all := strings.Join(classes, "")
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, tilgang.Wrap(tilgang.Internal, err, "random")
		}
		return set[i.Int64()], nil
	}
	b := make([]byte, n)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		ch, err := pick(set)
		if err != nil {
			return "", err
		}
		b[i] = ch
	}
	// Shuffle so the classes are not always at the start.
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", tilgang.Wrap(tilgang.Internal, err, "random")
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b), nil
}

// encodePassword is unicodePwd's value: the password in double quotes,
// UTF-16LE (MS-ADTS 3.1.1.3.1.5.1).
func encodePassword(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}
