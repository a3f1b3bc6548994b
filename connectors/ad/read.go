package ad

import (
	"context"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// errRetriedMidRead is what a read returns when the pool would run it again
// on a fresh connection after it had already yielded entries: running it
// again would yield them twice, so the read fails instead.
var errRetriedMidRead = tilgang.Errorf(tilgang.Unavailable, "ad: the connection was lost in the middle of the read")

// EachAccount runs a paged subtree search under base_dn for users that
// carry the correlation attribute, one page (page_size) at a time, and
// yields each with its state (ACCOUNTDISABLE not set: enabled). The key is
// the DN in lower case, as EachMember gives it.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	attr := c.cfg.CorrelateAttr
	attrs := []string{attr, "sAMAccountName", "userPrincipalName", "objectGUID", "userAccountControl"}
	filter := "(&(objectClass=user)(!(objectClass=computer))(" + attr + "=*))"
	yielded := false
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		if yielded {
			return errRetriedMidRead
		}
		return c.eachPage(ctx, conn, filter, attrs, func(e *ldap.Entry) error {
			yielded = true
			uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
			if err != nil {
				return tilgang.Errorf(tilgang.Unavailable, "%s has userAccountControl %q", e.DN, e.GetAttributeValue("userAccountControl"))
			}
			return fn(connectors.TargetAccount{Key: strings.ToLower(e.DN), Person: e.GetAttributeValue(attr),
				Enabled: uac&uacDisabled == 0, Ref: refOf(e)})
		})
	})
	return classify(err, "ad: list accounts")
}

// EachMember reads the group's member attribute with range retrieval
// (member;range=low-high, range_size values at a time) and yields each
// member DN, keyed in lower case.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	g, err := c.group(ent)
	if err != nil {
		return classify(err, "ad: list members of %s", ent)
	}
	var dns []string
	err = c.pool.do(ctx, func(conn *ldap.Conn) error {
		dns, err = c.members(conn, g)
		return err
	})
	if err != nil {
		return classify(err, "ad: list members of %s", ent)
	}
	for _, dn := range dns {
		if err := fn(connectors.Member{Key: strings.ToLower(dn), Ref: connectors.Ref{RefDN: dn}}); err != nil {
			return err
		}
	}
	return nil
}

// eachPage runs a paged search, handing each page's entries to fn before
// asking for the next, so only one page is held.
func (c *Connector) eachPage(ctx context.Context, conn *ldap.Conn, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(c.cfg.PageSize))
	for {
		if err := ctx.Err(); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "ad: read cancelled")
		}
		req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
			int(c.cfg.Timeout.Seconds()), false, filter, attrs, []ldap.Control{paging})
		res, err := conn.Search(req)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || ctrl == nil {
			// A server that ignores paging sends everything at once.
			return nil
		}
		if len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}
