package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ror-ikt/tilgang/connectors"
)

// Settings are a system's `reconcile:` settings (policy format), with the
// defaults applied.
type Settings struct {
	Extra  Fix // FixNone (report), FixRevoke or FixReview
	Orphan Fix // FixNone (report) or FixDisable
	// MaxRemovals and MaxShare bound the removals (revokes and disables) a
	// run may make without --allow-removals: above MaxRemovals, or above
	// MaxShare of the accounts read, the run holds.
	MaxRemovals int
	MaxShare    float64
}

// DefaultSettings are the settings of a system that names none: extras and
// orphans reported, at most 10 removals and at most 5 % of the accounts.
var DefaultSettings = Settings{Extra: FixNone, Orphan: FixNone, MaxRemovals: 10, MaxShare: 0.05}

// Holder is one person's standing in the ledger, as far as one connector
// instance is concerned.
type Holder struct {
	// Known: HR knows the person; Left: the leave has run.
	Known, Left bool
	// Account is the ledger's account row on the instance: HasAccount
	// when there is one, Enabled as the ledger believes it, Ref as stored.
	HasAccount bool
	Enabled    bool
	Ref        connectors.Ref
	// Busy: the person has unfinished operations on the instance (queued,
	// claimed, waiting); what the target shows may be work in flight, so
	// no finding is made about them in this run.
	Busy bool
	// Grants maps each entitlement on the instance that a live grant of the
	// person gives to that grant's id; Active holds those whose grant is
	// active (provisioned), which are the only ones reported missing.
	Grants map[string]string
	Active map[string]bool
}

// Desired is the ledger's side for one connector instance.
type Desired struct {
	Connector string
	// Entitlements are the entitlements on the instance the system's roles
	// name; their members are read.
	Entitlements []string
	// Holders are the people the ledger knows anything about on the
	// instance (an account row or a live grant), by person id.
	Holders map[string]*Holder
	// Person answers for a person the target shows but Holders lacks:
	// whether HR knows them and whether they have left. Nil: unknown.
	Person func(id string) (known, left bool)
}

// Compare reads the target through r and classifies each difference from
// d. A read that fails returns its error and no findings: the caller must
// fix nothing. The report's Fixed and Held are left to the caller.
func Compare(ctx context.Context, system string, r connectors.Reader, d Desired, s Settings) (Report, error) {
	rep := Report{System: system}
	// Accounts at the target, by key and by person.
	type acct struct {
		person  string
		enabled bool
		name    string
		ref     connectors.Ref
	}
	byKey := map[string]acct{}
	byPerson := map[string][]string{}
	err := r.EachAccount(ctx, func(a connectors.TargetAccount) error {
		rep.Read.Accounts++
		byKey[a.Key] = acct{person: a.Person, enabled: a.Enabled, name: accountName(a.Ref, a.Key), ref: a.Ref}
		byPerson[a.Person] = append(byPerson[a.Person], a.Key)
		return nil
	})
	if err != nil {
		return Report{System: system}, fmt.Errorf("read the accounts of %s: %w", d.Connector, err)
	}
	// Members, by entitlement: one set of keys at a time would be enough
	// for extras, but missing needs the person's view, so keep key sets.
	members := map[string]map[string]connectors.Member{}
	for _, ent := range d.Entitlements {
		set := map[string]connectors.Member{}
		err := r.EachMember(ctx, ent, func(m connectors.Member) error {
			rep.Read.Members++
			set[m.Key] = m
			return nil
		})
		if err != nil {
			return Report{System: system}, fmt.Errorf("read the members of %s on %s: %w", ent, d.Connector, err)
		}
		members[ent] = set
	}

	holder := func(id string) *Holder {
		if h, ok := d.Holders[id]; ok {
			return h
		}
		h := &Holder{}
		if d.Person != nil {
			h.Known, h.Left = d.Person(id)
		}
		return h
	}
	add := func(f Finding) {
		f.Connector = d.Connector
		if f.target == nil {
			for _, k := range byPerson[f.Person] {
				if f.Person != "" {
					f.target = byKey[k].ref
				}
			}
		}
		rep.Findings = append(rep.Findings, f)
	}
	disputed := map[string]bool{}

	// Accounts: disputes, orphans, state.
	people := make([]string, 0, len(byPerson))
	for p := range byPerson {
		people = append(people, p)
	}
	sort.Strings(people)
	for _, p := range people {
		keys := byPerson[p]
		h := holder(p)
		if len(keys) > 1 {
			sort.Strings(keys)
			names := make([]string, len(keys))
			for i, k := range keys {
				names[i] = byKey[k].name
			}
			add(Finding{Kind: Disputed, Person: p, Account: strings.Join(names, ", "),
				Detail: fmt.Sprintf("%d accounts carry this person id", len(keys))})
			disputed[p] = true
			continue
		}
		a := byKey[keys[0]]
		if h.HasAccount && refDisagrees(h.Ref, keys[0], a.ref) {
			add(Finding{Kind: Disputed, Person: p, Account: a.name,
				Detail: "the account the ledger stores for this person is not the one that carries the person id"})
			disputed[p] = true
			continue
		}
		if h.Busy {
			continue
		}
		switch {
		case (!h.Known || h.Left) && a.enabled:
			why := "the person has left"
			if !h.Known {
				why = "HR does not know the person"
			}
			fix := s.Orphan
			if !h.Known {
				fix = FixNone // the executor works from the HR record
			}
			add(Finding{Kind: Orphan, Person: p, Account: a.name, Fix: fix, Detail: why + "; the account is enabled"})
		case h.Known && !h.Left && h.HasAccount && a.enabled != h.Enabled:
			f := Finding{Kind: State, Person: p, Account: a.name, Fix: FixEnable, Detail: "disabled at the target, enabled in the ledger"}
			if a.enabled {
				f.Fix, f.Detail = FixDisable, "enabled at the target, disabled in the ledger"
			}
			add(f)
		}
	}

	// Missing: active grants whose account or membership is not there.
	holders := make([]string, 0, len(d.Holders))
	for p := range d.Holders {
		holders = append(holders, p)
	}
	sort.Strings(holders)
	for _, p := range holders {
		h := d.Holders[p]
		if h.Busy || disputed[p] || h.Left || len(h.Active) == 0 {
			continue
		}
		keys := byPerson[p]
		if len(keys) == 0 {
			if h.HasAccount {
				add(Finding{Kind: Missing, Person: p, Account: accountName(h.Ref, ""), Fix: FixEnsure,
					Grant: firstGrant(h), Detail: "the account is not at the target"})
			}
			continue
		}
		for _, ent := range sortedTrue(h.Active) {
			set, read := members[ent]
			if !read {
				continue // not an entitlement of this system: another run reads it
			}
			if _, ok := set[keys[0]]; !ok {
				add(Finding{Kind: Missing, Person: p, Account: byKey[keys[0]].name, Entitlement: ent, Fix: FixGrant,
					Grant: h.Grants[ent], Detail: "a live grant gives it; the target does not have the member"})
			}
		}
	}

	// Extra: members no live grant explains.
	for _, ent := range d.Entitlements {
		set := members[ent]
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a, isAccount := byKey[k]
			if !isAccount {
				add(Finding{Kind: Extra, Account: accountName(set[k].Ref, k), Entitlement: ent,
					Detail: "the member is not an account this instance manages (no correlation attribute)"})
				continue
			}
			h := holder(a.person)
			if disputed[a.person] || h.Busy {
				continue
			}
			if _, ok := h.Grants[ent]; ok {
				continue
			}
			fix := s.Extra
			if !h.Known {
				fix = FixNone
			}
			add(Finding{Kind: Extra, Person: a.person, Account: a.name, Entitlement: ent, Fix: fix,
				Detail: "no live grant gives it"})
		}
	}
	rep.Count()
	return rep, nil
}

// Hold says whether a report's removals exceed the settings: above the
// count, or above the share of the accounts read (allow raises the count).
func Hold(rep Report, s Settings, allow int) (bool, string) {
	n := rep.Removals()
	if n == 0 {
		return false, ""
	}
	limit := s.MaxRemovals
	if allow > limit {
		limit = allow
	}
	if n > limit {
		return true, fmt.Sprintf("%d removals, more than the %d allowed", n, limit)
	}
	if allow < n && s.MaxShare > 0 && rep.Read.Accounts > 0 && float64(n) > s.MaxShare*float64(rep.Read.Accounts) {
		return true, fmt.Sprintf("%d removals of %d accounts read, more than %.0f %%", n, rep.Read.Accounts, s.MaxShare*100)
	}
	return false, ""
}

func firstGrant(h *Holder) string {
	for _, ent := range sortedTrue(h.Active) {
		return h.Grants[ent]
	}
	return ""
}

func sortedTrue(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// refDisagrees says whether the stored ref names another account than the
// one at the target (key, ref): it does when they share an identifying
// field (id, dn, objectGUID) and no such field agrees (case-insensitive, as
// DNs are). A ref with none in common says nothing.
func refDisagrees(stored connectors.Ref, key string, target connectors.Ref) bool {
	shared, agree := false, false
	for _, k := range []string{"id", "dn", "objectGUID"} {
		v := stored[k]
		if v == "" {
			continue
		}
		t := target[k]
		if t == "" && k == "dn" {
			t = key
		}
		if t == "" {
			continue
		}
		shared = true
		agree = agree || strings.EqualFold(v, t)
	}
	return shared && !agree
}

// accountName is how the report names an account: its username, UPN,
// DN or id, whichever the ref has, else the key.
func accountName(ref connectors.Ref, key string) string {
	for _, k := range []string{"sAMAccountName", "username", "userName", "userPrincipalName", "upn", "dn", "id"} {
		if v := ref[k]; v != "" {
			return v
		}
	}
	return key
}
