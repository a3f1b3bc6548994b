package noop

import (
	"context"
	"sort"
	"syscall"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

var _ connectors.Reader = (*Connector)(nil)

// snapshot copies the state after catching up with the journal.
func (c *Connector) snapshot() (map[string]bool, map[string]map[string]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.journal != nil {
		if err := syscall.Flock(int(c.journal.Fd()), syscall.LOCK_SH); err != nil {
			return nil, nil, tilgang.Wrap(tilgang.Unavailable, err, "noop: lock journal")
		}
		defer syscall.Flock(int(c.journal.Fd()), syscall.LOCK_UN)
		if err := c.catchUp(); err != nil {
			return nil, nil, tilgang.Wrap(tilgang.Unavailable, err, "noop: journal")
		}
	}
	accts := make(map[string]bool, len(c.accounts))
	for p, on := range c.accounts {
		accts[p] = on
	}
	members := make(map[string]map[string]bool, len(c.members))
	for e, set := range c.members {
		members[e] = make(map[string]bool, len(set))
		for p := range set {
			members[e][p] = true
		}
	}
	return accts, members, nil
}

// EachAccount lists the accounts in its state (every one the instance's;
// the person id is the key), in id order.
func (c *Connector) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	accts, _, err := c.snapshot()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(accts))
	for p := range accts {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	for _, p := range ids {
		if err := fn(connectors.TargetAccount{Key: p, Person: p, Enabled: accts[p], Ref: connectors.Ref{"id": p}}); err != nil {
			return err
		}
	}
	return nil
}

// EachMember lists the holders of the entitlement, in id order.
func (c *Connector) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	_, members, err := c.snapshot()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(members[ent]))
	for p := range members[ent] {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	for _, p := range ids {
		if err := fn(connectors.Member{Key: p, Ref: connectors.Ref{"id": p}}); err != nil {
			return err
		}
	}
	return nil
}
