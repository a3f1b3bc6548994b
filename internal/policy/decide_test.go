package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func nurse(id, unit, position string) *tilgang.Person {
	return &tilgang.Person{ID: id, Municipality: "1547", Employments: []tilgang.Employment{{ID: id + "-1", Primary: true,
		Percent: 100, OrgUnit: unit, Position: position, Manager: "1547-10300", Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	cat, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, tilgang.Oslo)
	helse := nurse("1547-10412", "helse/hjemmetjenesten", "sykepleier")
	skule := nurse("1547-10412", "oppvekst/aukra-skule", "lærer")
	req := func(sys, role string, rel ...string) Request {
		return Request{System: sys, Role: role, Actor: "1547-10300", Relations: rel, Now: now}
	}
	tests := []struct {
		name   string
		person *tilgang.Person
		req    Request
		held   []Held
		rule   string // "" = allowed
		reason string
	}{
		{name: "eligible nurse", person: helse, req: req("gerica", "bruker", ByManager)},
		{name: "teacher not eligible", person: skule, req: req("gerica", "bruker", ByManager), rule: RuleEligible, reason: "gerica.yaml:"},
		{name: "not requestable by self", person: helse, req: req("gerica", "bruker", BySelf), rule: RuleRequestableBy, reason: "requestable by manager, hr"},
		{name: "birthright needs no requester", person: helse, req: Request{System: "gerica", Role: "bruker", Birthright: true, Now: now}},
		{name: "conflict named by the role", person: helse, req: req("gerica", "bruker", ByManager),
			held: []Held{{GrantID: "g-1", System: "gerica", Role: "admin", State: tilgang.StateActive}}, rule: RuleConflicts, reason: "gerica/admin (grant g-1, active)"},
		{name: "conflict naming the role", person: helse, req: req("gerica", "admin", ByAdministrator),
			held: []Held{{GrantID: "g-2", System: "gerica", Role: "bruker", State: tilgang.StatePendingApproval}}, rule: RuleConflicts, reason: "gerica/bruker (grant g-2"},
		{name: "a final grant does not conflict", person: helse, req: req("gerica", "bruker", ByManager),
			held: []Held{{GrantID: "g-1", System: "gerica", Role: "admin", State: tilgang.StateRevoked}}},
		{name: "at provisioning the requester does not count", person: helse, req: Request{System: "gerica", Role: "bruker", When: AtProvisioning, Now: now}},
		{name: "an end in the past", person: helse, req: Request{System: "gerica", Role: "bruker", Relations: []string{ByManager}, Now: now, ValidUntil: tilgang.Date{Y: 2026, M: 3, D: 1}},
			rule: RuleValidUntil},
		{name: "unknown role", person: helse, req: req("gerica", "nope", ByManager), rule: RuleUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Decide(cat, tt.person, tt.req, tt.held)
			require.Equal(t, tt.rule == "", d.Allowed, d.Reason)
			require.Equal(t, tt.rule, d.Rule)
			require.Contains(t, d.Reason, tt.reason)
			require.Equal(t, cat.Version, d.Catalogue)
		})
	}
}

func TestRoleEnd(t *testing.T) {
	t.Parallel()
	r := &Role{DefaultDuration: 180, MaxDuration: 365}
	d := func(y, m, dd int) tilgang.Date { return tilgang.Date{Y: y, M: m, D: dd} }
	// Activated late in the evening Oslo time: the Oslo date counts.
	act := time.Date(2026, 3, 1, 23, 30, 0, 0, tilgang.Oslo)
	end, short := r.End(tilgang.Date{}, act)
	require.Equal(t, d(2026, 8, 28), end) // 2026-03-01 + 180 days
	require.False(t, short)
	end, short = r.End(d(2026, 6, 30), act)
	require.Equal(t, d(2026, 6, 30), end, "an asked end date inside max_duration stands")
	require.False(t, short)
	end, short = r.End(d(2028, 1, 1), act)
	require.Equal(t, d(2027, 3, 1), end, "max_duration counted from activation caps it")
	require.True(t, short)
	end, _ = (&Role{MaxDuration: 30}).End(tilgang.Date{}, act)
	require.Equal(t, d(2026, 3, 31), end, "no default: the maximum")
	end, _ = (&Role{}).End(tilgang.Date{}, act)
	require.True(t, end.IsZero())
	require.Equal(t, time.Date(2026, 4, 1, 0, 0, 0, 0, tilgang.Oslo), d(2026, 3, 31).End(), "ends at the end of the Oslo day")
}
