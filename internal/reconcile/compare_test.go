package reconcile

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// target is an in-memory connectors.Reader.
type target struct {
	accounts []connectors.TargetAccount
	members  map[string][]string
	failAt   int // fail the member read of the entitlement after this many (0: never)
}

func (t *target) EachAccount(ctx context.Context, fn func(connectors.TargetAccount) error) error {
	for _, a := range t.accounts {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

func (t *target) EachMember(ctx context.Context, ent string, fn func(connectors.Member) error) error {
	for i, k := range t.members[ent] {
		if t.failAt > 0 && i == t.failAt {
			return connectors.ShortRead("members of "+ent, i, len(t.members[ent]))
		}
		if err := fn(connectors.Member{Key: k, Ref: connectors.Ref{"id": k}}); err != nil {
			return err
		}
	}
	return nil
}

func acct(key, person string, enabled bool) connectors.TargetAccount {
	return connectors.TargetAccount{Key: key, Person: person, Enabled: enabled, Ref: connectors.Ref{"id": key}}
}

func granted(enabled bool, ents ...string) *Holder {
	h := &Holder{Known: true, HasAccount: true, Enabled: enabled, Grants: map[string]string{}, Active: map[string]bool{}}
	for _, e := range ents {
		h.Grants[e], h.Active[e] = "g-"+e, true
	}
	return h
}

// The five kinds, each from one out-of-band change, and nothing else.
func TestCompareFindsEachKind(t *testing.T) {
	tg := &target{
		accounts: []connectors.TargetAccount{
			acct("u-ok", "p-ok", true),
			acct("u-added", "p-added", true),     // member added out of band
			acct("u-removed", "p-removed", true), // member removed out of band
			acct("u-off", "p-off", false),        // disabled out of band
			acct("u-left", "p-left", true),       // a leaver's account, enabled
			acct("u-dup1", "p-dup", true),        // two accounts, one person
			acct("u-dup2", "p-dup", true),
		},
		members: map[string][]string{"G": {"u-ok", "u-added", "u-off", "u-dup1"}},
	}
	d := Desired{Connector: "ad", Entitlements: []string{"G"}, Holders: map[string]*Holder{
		"p-ok":      granted(true, "G"),
		"p-added":   granted(true),
		"p-removed": granted(true, "G"),
		"p-off":     granted(true, "G"),
		"p-left":    {Known: true, Left: true, HasAccount: true},
		"p-dup":     granted(true, "G"),
	}}
	s := Settings{Extra: FixRevoke, Orphan: FixDisable, MaxRemovals: 10}
	rep, err := Compare(context.Background(), "sys", tg, d, s)
	require.NoError(t, err)
	type short struct {
		Kind                 Kind
		Person, Account, Ent string
		Fix                  Fix
	}
	var got []short
	for _, f := range rep.Findings {
		got = append(got, short{f.Kind, f.Person, f.Account, f.Entitlement, f.Fix})
	}
	require.Equal(t, []short{
		{Missing, "p-removed", "u-removed", "G", FixGrant},
		{Extra, "p-added", "u-added", "G", FixRevoke},
		{Orphan, "p-left", "u-left", "", FixDisable},
		{State, "p-off", "u-off", "", FixEnable},
		{Disputed, "p-dup", "u-dup1, u-dup2", "", FixNone},
	}, got)
	require.Equal(t, map[Kind]int{Missing: 1, Extra: 1, Orphan: 1, State: 1, Disputed: 1}, rep.Counts)
	require.Equal(t, Read{Accounts: 7, Members: 4}, rep.Read)
	require.Equal(t, 2, rep.Removals())
}

func TestCompareDefaultsOnlyReport(t *testing.T) {
	tg := &target{accounts: []connectors.TargetAccount{acct("u1", "p1", true), acct("u2", "nobody", true)},
		members: map[string][]string{"G": {"u1", "CN=nested"}}}
	d := Desired{Connector: "c", Entitlements: []string{"G"}, Holders: map[string]*Holder{"p1": granted(true)}}
	rep, err := Compare(context.Background(), "sys", tg, d, DefaultSettings)
	require.NoError(t, err)
	require.Len(t, rep.Findings, 3)
	for _, f := range rep.Findings {
		require.Equal(t, FixNone, f.Fix, "%+v", f)
	}
	require.Equal(t, 2, rep.Counts[Extra])
	require.Equal(t, 1, rep.Counts[Orphan], "HR does not know nobody")
}

func TestCompareSkipsWorkInFlight(t *testing.T) {
	tg := &target{accounts: []connectors.TargetAccount{acct("u1", "p1", false)}, members: map[string][]string{"G": nil}}
	h := granted(true, "G")
	h.Busy = true
	rep, err := Compare(context.Background(), "sys", tg, Desired{Connector: "c", Entitlements: []string{"G"},
		Holders: map[string]*Holder{"p1": h}}, DefaultSettings)
	require.NoError(t, err)
	require.Empty(t, rep.Findings)
}

func TestCompareMissingAccount(t *testing.T) {
	tg := &target{members: map[string][]string{"G": nil}}
	rep, err := Compare(context.Background(), "sys", tg, Desired{Connector: "c", Entitlements: []string{"G"},
		Holders: map[string]*Holder{"p1": granted(true, "G")}}, DefaultSettings)
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1)
	require.Equal(t, FixEnsure, rep.Findings[0].Fix)
}

func TestCompareStoredRefElsewhere(t *testing.T) {
	tg := &target{accounts: []connectors.TargetAccount{acct("u-new", "p1", true)}, members: map[string][]string{"G": {"u-new"}}}
	h := granted(true, "G")
	h.Ref = connectors.Ref{"id": "u-old"}
	rep, err := Compare(context.Background(), "sys", tg, Desired{Connector: "c", Entitlements: []string{"G"},
		Holders: map[string]*Holder{"p1": h}}, DefaultSettings)
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1)
	require.Equal(t, Disputed, rep.Findings[0].Kind)
}

// A read that ends early is an error and no findings: never "nobody is a
// member".
func TestCompareShortReadFails(t *testing.T) {
	tg := &target{accounts: []connectors.TargetAccount{acct("u1", "p1", true), acct("u2", "p2", true)},
		members: map[string][]string{"G": {"u1", "u2"}}, failAt: 1}
	d := Desired{Connector: "c", Entitlements: []string{"G"}, Holders: map[string]*Holder{"p1": granted(true, "G"), "p2": granted(true, "G")}}
	rep, err := Compare(context.Background(), "sys", tg, d, Settings{Extra: FixRevoke})
	require.Error(t, err)
	require.True(t, errors.Is(err, connectors.ErrShortRead))
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "read 1 of 2")
	require.Empty(t, rep.Findings)
}

func TestHold(t *testing.T) {
	rep := Report{Read: Read{Accounts: 100}}
	for i := 0; i < 6; i++ {
		rep.Findings = append(rep.Findings, Finding{Kind: Extra, Fix: FixRevoke})
	}
	rep.Findings = append(rep.Findings, Finding{Kind: Missing, Fix: FixGrant})
	held, why := Hold(rep, Settings{MaxRemovals: 5}, 0)
	require.True(t, held)
	require.Contains(t, why, "6 removals")
	held, _ = Hold(rep, Settings{MaxRemovals: 5}, 6)
	require.False(t, held, "--allow-removals 6 lets six through")
	held, why = Hold(rep, Settings{MaxRemovals: 10, MaxShare: 0.05}, 0)
	require.True(t, held, "6 of 100 is more than 5 %")
	require.Contains(t, why, "5 %")
	held, _ = Hold(rep, Settings{MaxRemovals: 10, MaxShare: 0.10}, 0)
	require.False(t, held)
}
