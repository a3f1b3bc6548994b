package csv

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// EachAccount lists the accounts of the instance's own state (every one is
// the instance's: the person id is the key), in id order.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	var out []connectors.TargetAccount
	err := c.locked(ctx, "list_accounts", func() (bool, error) {
		for id, a := range c.st.Accounts {
			out = append(out, connectors.TargetAccount{Key: id, Person: id, Enabled: a.Enabled, Ref: connectors.Ref{"id": id}})
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("csv: list accounts: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	for _, a := range out {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// EachMember lists the holders of an entitlement from the state.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	var ids []string
	err := c.locked(ctx, "list_members", func() (bool, error) {
		for id, a := range c.st.Accounts {
			if _, ok := slices.BinarySearch(a.Roles, ent); ok {
				ids = append(ids, id)
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("csv: list members of %s: %w", ent, err)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := fn(connectors.Member{Key: id, Ref: connectors.Ref{"id": id}}); err != nil {
			return err
		}
	}
	return nil
}
