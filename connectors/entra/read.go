package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// accountSelect is what a reconciliation read needs of a user.
const accountSelect = "id,userPrincipalName,employeeId,accountEnabled,onPremisesSyncEnabled"

// advanced marks ri as an advanced query (aad-advanced-queries.md): the
// ConsistencyLevel: eventual header. $count=true is in the query.
func advanced(ri *abs.RequestInformation) *abs.RequestInformation {
	ri.Headers.Add("ConsistencyLevel", "eventual")
	return ri
}

// item is a user or other directory object as a reconciliation read
// selects it.
type item struct {
	Type                  string  `json:"@odata.type"`
	ID                    string  `json:"id"`
	UserPrincipalName     string  `json:"userPrincipalName"`
	EmployeeID            *string `json:"employeeId"`
	AccountEnabled        *bool   `json:"accountEnabled"`
	OnPremisesSyncEnabled *bool   `json:"onPremisesSyncEnabled"`
	// SignInActivity is absent for a user who never signed in (user.md).
	SignInActivity *struct {
		LastSuccessful *time.Time `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
}

// listPage is one page of a Graph collection.
type listPage struct {
	Value *[]item `json:"value"`
	Next  string  `json:"@odata.nextLink"`
	Count *int64  `json:"@odata.count"`
}

// stream sends ri, follows @odata.nextLink to the end and calls fn for each
// value, a page at a time, each request through the throttling-aware call.
// Pages are read as bytes through the adapter (its middleware, and Graph's
// errors as ODataError) and decoded into item, not into the SDK's models:
// a reconciliation read of 50,000 users then costs about what a plain
// paged read does. The first page's @odata.count is what Graph counted for
// the query: a listing that ends with fewer values than that ended early (a
// nextLink missing, a page short) and is an error, as is any page that
// fails after call's retries. what names the listing in errors. yielded
// reports whether fn was called before an error.
func stream(ctx context.Context, c *Connector, what string, ri *abs.RequestInformation, fn func(item) error) (yielded bool, err error) {
	read, want := 0, -1
	for ri != nil {
		var pg listPage
		err := c.call(ctx, func(ctx context.Context) error {
			res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errMap)
			if err != nil {
				return err
			}
			body, _ := res.([]byte)
			pg = listPage{}
			if err := json.Unmarshal(body, &pg); err != nil {
				return fmt.Errorf("%s: a page that is not Graph's JSON: %w", what, err)
			}
			if pg.Value == nil {
				return errEmptyPage
			}
			return nil
		})
		if err != nil {
			return read > 0, err
		}
		if want < 0 && pg.Count != nil {
			want = int(*pg.Count)
		}
		for _, v := range *pg.Value {
			read++
			if err := fn(v); err != nil {
				return true, &fnError{err}
			}
		}
		ri = c.next(&pg.Next)
		if ri != nil {
			advanced(ri)
		}
	}
	if want >= 0 && read < want {
		return read > 0, connectors.ShortRead(what, read, want)
	}
	return read > 0, nil
}

func is403(err error) bool {
	ge, ok := asGraph(err)
	return ok && ge.status == 403
}

// errEmptyPage: Graph answered a listing without a value array.
var errEmptyPage = errors.New("graph answered a page without its value array")

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
//
// With sign_in_activity the listing also selects signInActivity (Graph
// then pages 120 at a time) and each account carries its
// lastSuccessfulSignInDateTime: the last sign-in that succeeded,
// interactive or not. lastSignInDateTime is not used: it records attempts,
// failed ones too (signinactivity.md), so password spraying at a dormant
// account would make it look in use.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	sel, top := accountSelect, "999"
	if c.cfg.SignInActivity {
		sel, top = accountSelect+",signInActivity", "120"
	}
	ri := advanced(c.request(abs.GET, "/users", url.Values{"$filter": {"employeeId ne null"}, "$count": {"true"},
		"$select": {sel}, "$top": {top}}))
	_, err := stream(ctx, c, "entra: users with an employeeId", ri, func(u item) error {
		r := connectors.Ref{RefID: u.ID, RefUPN: u.UserPrincipalName}
		if u.OnPremisesSyncEnabled != nil && *u.OnPremisesSyncEnabled {
			r[RefSynced] = "true"
		}
		a := connectors.TargetAccount{Key: u.ID, Person: deref(u.EmployeeID),
			Enabled: u.AccountEnabled != nil && *u.AccountEnabled, Ref: r}
		if s := u.SignInActivity; s != nil && s.LastSuccessful != nil && !s.LastSuccessful.IsZero() {
			t := s.LastSuccessful.UTC()
			a.LastSignIn = &t
		}
		return fn(a)
	})
	if c.cfg.SignInActivity && is403(err) {
		// classify makes a 403 Denied; the message says which setting asked.
		return classify(err, "entra: list the accounts with their signInActivity (sign_in_activity: true), which needs "+
			"a Microsoft Entra ID P1 or P2 licence and the application permission AuditLog.Read.All")
	}
	return unwrapFn(err, "entra: list the accounts")
}

// EachMember calls fn for every direct member of the entitlement's group,
// 999 a page (GET /groups/{id}/members?$select=id,userPrincipalName,employeeId
// with $count=true and ConsistencyLevel: eventual): the key is the member's
// object id, as EachAccount's. A member carrying an employeeId (an account
// EachAccount lists) comes without a Ref; any other with its id and its
// userPrincipalName, or @odata.type (a nested group, a device). A group deleted since
// it was looked up is looked up again, unless members were already
// passed to fn; a group that does not exist is NotFound.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	for try := 0; ; try++ {
		g, err := c.group(ctx, ent)
		if err != nil {
			return unwrapFn(err, "entra: list the members of %s", ent)
		}
		ri := advanced(c.request(abs.GET, "/groups/"+g.id+"/members", url.Values{"$select": {"id,userPrincipalName,employeeId"},
			"$count": {"true"}, "$top": {"999"}}))
		yielded, err := stream(ctx, c, "entra: members of "+ent, ri, func(o item) error {
			if deref(o.EmployeeID) != "" {
				// An account EachAccount lists, named there: no Ref, so a
				// run holding 100,000 members holds no map for each.
				return fn(connectors.Member{Key: o.ID})
			}
			r := connectors.Ref{RefID: o.ID}
			switch {
			case o.UserPrincipalName != "":
				r[RefUPN] = o.UserPrincipalName
			case o.Type != "" && o.Type != "#microsoft.graph.user":
				r["@odata.type"] = o.Type
			}
			return fn(connectors.Member{Key: o.ID, Ref: r})
		})
		if err != nil && !yielded && try == 0 && is404(err) && c.groupGone(ctx, ent, g) {
			continue
		}
		return unwrapFn(err, "entra: list the members of %s", ent)
	}
}
