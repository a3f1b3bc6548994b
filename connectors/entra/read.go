package entra

import (
	"context"
	"errors"
	"net/url"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// accountSelect is what a reconciliation read needs of a user.
const accountSelect = "id,userPrincipalName,employeeId,accountEnabled,onPremisesSyncEnabled"

// counted is a Graph collection page of an advanced query: its values, the
// next page's link and the total Graph counted (@odata.count).
type counted[V any] interface {
	page[V]
	GetOdataCount() *int64
}

// advanced marks ri as an advanced query (aad-advanced-queries.md): the
// ConsistencyLevel: eventual header. $count=true is in the query.
func advanced(ri *abs.RequestInformation) *abs.RequestInformation {
	ri.Headers.Add("ConsistencyLevel", "eventual")
	return ri
}

// stream sends ri, follows @odata.nextLink to the end and calls fn for each
// value, a page at a time, each request through the throttling-aware call.
// The first page's @odata.count is what Graph counted for the query: a
// listing that ends with fewer values than that ended early (a nextLink
// missing, a page short) and is an error, as is any page that fails after
// call's retries. what names the listing in errors. yielded reports
// whether fn was called at all before an error.
func stream[V any, P counted[V]](ctx context.Context, c *Connector, what string, ri *abs.RequestInformation,
	create serialization.ParsableFactory, fn func(V) error) (yielded bool, err error) {
	read, want := 0, -1
	for ri != nil {
		var pg P
		err := c.call(ctx, func(ctx context.Context) error {
			res, err := c.adapter.Send(ctx, ri, create, errMap)
			if err == nil {
				var ok bool
				if pg, ok = res.(P); !ok || res == nil {
					return errEmptyPage
				}
			}
			return err
		})
		if err != nil {
			return read > 0, err
		}
		if want < 0 {
			if n := pg.GetOdataCount(); n != nil {
				want = int(*n)
			}
		}
		for _, v := range pg.GetValue() {
			read++
			if err := fn(v); err != nil {
				return true, &fnError{err}
			}
		}
		ri = c.next(pg.GetOdataNextLink())
		if ri != nil {
			advanced(ri)
		}
	}
	if want >= 0 && read < want {
		return read > 0, connectors.ShortRead(what, read, want)
	}
	return read > 0, nil
}

// errEmptyPage: Graph answered a listing without a body.
var errEmptyPage = errors.New("graph answered a page without a body")

// fnError carries the caller's own error through stream unchanged.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// unwrapFn returns the caller's error as it was, or classifies Graph's.
func unwrapFn(err error, format string, args ...any) error {
	var fe *fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return classify(err, format, args...)
}

// EachAccount calls fn for every user carrying an employeeId (the
// correlation attribute: tilgang writes the person id there), 999 a page:
// GET /users?$filter=employeeId ne null&$count=true with ConsistencyLevel:
// eventual, the advanced query Graph requires for ne and null
// (aad-advanced-queries.md). Users synced from AD are listed too: they are
// the tenant's accounts of those people. A page that fails, or a listing
// that ends before the count Graph announced, is an error.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	ri := advanced(c.request(abs.GET, "/users", url.Values{"$filter": {"employeeId ne null"}, "$count": {"true"},
		"$select": {accountSelect}, "$top": {"999"}}))
	_, err := stream[models.Userable, models.UserCollectionResponseable](ctx, c, "entra: users with an employeeId", ri,
		models.CreateUserCollectionResponseFromDiscriminatorValue, func(u models.Userable) error {
			return fn(connectors.TargetAccount{Key: deref(u.GetId()), Person: deref(u.GetEmployeeId()),
				Enabled: u.GetAccountEnabled() != nil && *u.GetAccountEnabled(), Ref: refOf(u)})
		})
	return unwrapFn(err, "entra: list the accounts")
}

// EachMember calls fn for every direct member of the entitlement's group,
// 999 a page (GET /groups/{id}/members?$select=id,userPrincipalName with
// $count=true and ConsistencyLevel: eventual): the key is the member's
// object id, as EachAccount's. A member that is not a user (a nested
// group, a device) comes with its id and @odata.type. A group deleted since
// it was looked up is looked up again, unless members were already
// passed to fn; a group that does not exist is NotFound.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	for try := 0; ; try++ {
		g, err := c.group(ctx, ent)
		if err != nil {
			return unwrapFn(err, "entra: list the members of %s", ent)
		}
		ri := advanced(c.request(abs.GET, "/groups/"+g.id+"/members", url.Values{"$select": {"id,userPrincipalName"},
			"$count": {"true"}, "$top": {"999"}}))
		yielded, err := stream[models.DirectoryObjectable, models.DirectoryObjectCollectionResponseable](ctx, c,
			"entra: members of "+ent, ri, models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue,
			func(o models.DirectoryObjectable) error {
				r := connectors.Ref{RefID: deref(o.GetId())}
				if u, ok := o.(models.Userable); ok {
					if upn := deref(u.GetUserPrincipalName()); upn != "" {
						r[RefUPN] = upn
					}
				} else if t := deref(o.GetOdataType()); t != "" {
					r["@odata.type"] = t
				}
				return fn(connectors.Member{Key: r[RefID], Ref: r})
			})
		if err != nil && !yielded && try == 0 && is404(err) && c.groupGone(ctx, ent, g) {
			continue
		}
		return unwrapFn(err, "entra: list the members of %s", ent)
	}
}
