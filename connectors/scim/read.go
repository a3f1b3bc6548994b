package scim

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// EachAccount pages through /Users (startIndex/count, page_size at a time)
// and yields those with an externalId, the correlation attribute: the
// instance's accounts. A page that errors, or an empty page before
// totalResults is reached, fails the read.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	return c.eachPage(ctx, "/Users", "list users", func(raw json.RawMessage) error {
		var u User
		if err := json.Unmarshal(raw, &u); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "scim: list users: a user that is not one")
		}
		if u.ExternalID == "" {
			return nil
		}
		if u.ID == "" {
			return tilgang.Errorf(tilgang.Unavailable, "scim: list users: user %q has no id", u.UserName)
		}
		enabled := u.Active == nil || *u.Active // RFC 7643: active absent means not said; SCIM servers default to true
		return fn(connectors.TargetAccount{Key: u.ID, Person: u.ExternalID, Enabled: enabled,
			Ref: connectors.Ref{"id": u.ID, "userName": u.UserName, "externalId": u.ExternalID}})
	})
}

// EachMember yields the members of the entitlement's group, keyed by the
// SCIM id.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	gid, err := c.groupID(ctx, ent)
	if err != nil {
		return err
	}
	ms, err := c.members(ctx, ent, gid)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m == "" || seen[m] {
			continue
		}
		seen[m] = true
		if err := fn(connectors.Member{Key: m, Ref: connectors.Ref{"id": m}}); err != nil {
			return err
		}
	}
	return nil
}

// eachPage reads a listing a page at a time; it fails rather than end
// before totalResults.
func (c *Connector) eachPage(ctx context.Context, endpoint, what string, fn func(json.RawMessage) error) error {
	start, read := 1, 0
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(c.cfg.PageSize)}}
		a, err := c.do(ctx, "GET", endpoint, q, nil, false, what)
		if err != nil {
			return err
		}
		var lr listResponse
		if err := json.Unmarshal(a.body, &lr); err != nil {
			return tilgang.Wrap(tilgang.Unavailable, err, "scim: %s: not a ListResponse", what)
		}
		if len(lr.Resources) == 0 {
			if read < lr.TotalResults {
				return connectors.ShortRead("scim: "+what, read, lr.TotalResults)
			}
			return nil
		}
		for _, r := range lr.Resources {
			if err := fn(r); err != nil {
				return err
			}
		}
		read += len(lr.Resources)
		start += len(lr.Resources)
		if read >= lr.TotalResults {
			return nil
		}
	}
}
