package ad

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
// yields each with its state (ACCOUNTDISABLE not set: enabled) and its
// last sign-in (lastLogonTimestamp, in the same entries: no request more).
// The key is the DN in lower case, as EachMember gives it.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	attr := c.cfg.CorrelateAttr
	attrs := []string{attr, "sAMAccountName", "userPrincipalName", "objectGUID", "userAccountControl", "lastLogonTimestamp"}
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
			last, err := lastLogon(e.GetAttributeValue("lastLogonTimestamp"))
			if err != nil {
				return tilgang.Wrap(tilgang.Unavailable, err, "%s", e.DN)
			}
			return fn(connectors.TargetAccount{Key: strings.ToLower(e.DN), Person: e.GetAttributeValue(attr),
				Enabled: uac&uacDisabled == 0, Ref: refOf(e), LastSignIn: last})
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
		return lost(conn, err)
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

// lastLogon reads lastLogonTimestamp, a FILETIME (100 ns intervals since
// 1601-01-01 UTC) as a decimal string: nil when absent, 0 (never signed in)
// or the largest int64 (AD's "never"). The DC writes it on a logon (a
// Kerberos, NTLM or LDAP simple bind) when none is set or the one set is
// older than msDS-LogonTimeSyncInterval (14 days by default) less a random
// part of up to 5 days, so it may lag the real last sign-in by up to 14
// days: enough to say "no sign-in for 90 days", which is what it is read for.
func lastLogon(v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	ft, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ft < 0 {
		return nil, fmt.Errorf("lastLogonTimestamp %q is not a FILETIME", v)
	}
	if ft == 0 || ft == math.MaxInt64 {
		return nil, nil
	}
	// 11,644,473,600 s from 1601-01-01 to 1970-01-01.
	const epochDiff = 116444736000000000
	d := ft - epochDiff
	t := time.Unix(d/10_000_000, d%10_000_000*100).UTC()
	return &t, nil
}

// pageRequests counts the paged searches eachPage sent (for tests).
var pageRequests atomic.Int64

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
		pageRequests.Add(1)
		res, err := conn.Search(req)
		if err != nil {
			return lost(conn, err)
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

// lost classifies an error on a connection that closed under it (go-ldap
// reports a cut mid-response as a plain error) as Unavailable.
func lost(conn *ldap.Conn, err error) error {
	if err != nil && conn.IsClosing() {
		return tilgang.Wrap(tilgang.Unavailable, err, "ad: the connection was lost in the middle of the read")
	}
	return err
}
