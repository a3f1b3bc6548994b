package ad

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"

	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Bulk = (*Connector)(nil)

// maxBulkMembers bounds the member values of one modify: a school year's
// joiners go to a group a few hundred at a time. Samba takes about as long
// for one modify of 20 values as for one of 1 (each is one transaction,
// with its sync to disk), so a thousand adds one by one cost the directory
// a thousand transactions, and in modifies of this size a handful.
const maxBulkMembers = 200

// bulkModifies counts the modifies of several members GrantMany and
// RevokeMany sent (for tests).
var bulkModifies atomic.Int64

// GrantMany makes the accounts members of one group: the accounts whose
// objectGUID is known in modifies of up to maxBulkMembers values, each
// all or nothing in the directory. Where such a modify is refused (one of
// its accounts is a member already, or gone: AD and Samba then refuse it
// whole), each of its accounts is granted on its own as Grant does, and so
// is an account whose objectGUID is not known. One error per account, nil
// for success.
func (c *Connector) GrantMany(ctx context.Context, accounts []connectors.Account, ent string) []error {
	return c.many(ctx, accounts, ent, true)
}

// RevokeMany removes the accounts from one group as GrantMany adds them;
// not a member, or no account at all, is success.
func (c *Connector) RevokeMany(ctx context.Context, accounts []connectors.Account, ent string) []error {
	return c.many(ctx, accounts, ent, false)
}

func (c *Connector) many(ctx context.Context, accounts []connectors.Account, ent string, add bool) []error {
	errs := make([]error, len(accounts))
	verb, prep := "revoke", "from"
	if add {
		verb, prep = "grant", "to"
	}
	g, err := c.group(ent)
	if err != nil {
		for i, a := range accounts {
			errs[i] = classify(err, "ad: %s %s %s %s", verb, ent, prep, a.Person.ID)
		}
		return errs
	}
	var known, single []int
	for i, a := range accounts {
		if guidDN(a) != "" {
			known = append(known, i)
		} else {
			single = append(single, i)
		}
	}
	for start := 0; start < len(known); start += maxBulkMembers {
		chunk := known[start:min(start+maxBulkMembers, len(known))]
		values := make([]string, len(chunk))
		for k, i := range chunk {
			values[k] = guidDN(accounts[i])
		}
		err := c.pool.do(ctx, func(conn *ldap.Conn) error {
			bulkModifies.Add(1)
			mod := ldap.NewModifyRequest(g, []ldap.Control{permissive})
			if add {
				mod.Add("member", values)
			} else {
				mod.Delete("member", values)
			}
			return conn.Modify(mod)
		})
		var le *ldap.Error
		switch {
		case err == nil:
			continue
		case isNetwork(err) || ctx.Err() != nil || !errors.As(err, &le):
			// Not the directory's answer to this request: whether it was
			// applied is not known. Every account of it is retried.
			for _, i := range chunk {
				errs[i] = classify(err, "ad: %s %s %s %s", verb, ent, prep, accounts[i].Person.ID)
			}
		default:
			// The directory refused the whole modify: one by one.
			single = append(single, chunk...)
		}
	}
	for _, i := range single {
		if add {
			errs[i] = c.Grant(ctx, accounts[i], ent)
		} else {
			errs[i] = c.Revoke(ctx, accounts[i], ent)
		}
	}
	return errs
}
