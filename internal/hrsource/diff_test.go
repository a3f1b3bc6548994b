package hrsource

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ror-ikt/tilgang"
	"github.com/stretchr/testify/require"
)

func d(s string) tilgang.Date {
	t, err := tilgang.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func person(no int, emps ...tilgang.Employment) tilgang.Person {
	if emps == nil {
		emps = []tilgang.Employment{{ID: fmt.Sprintf("%d-1", no), Primary: true, Percent: 100, OrgUnit: "u",
			Position: "p", Start: d("2020-01-01")}}
	}
	return tilgang.Person{ID: fmt.Sprintf("1547-%d", no), GivenName: "G", FamilyName: "F", Municipality: "1547", Employments: emps}
}

func population(n int) (map[string]Stored, []tilgang.Person) {
	prev := map[string]Stored{}
	var people []tilgang.Person
	for i := range n {
		p := person(i + 1)
		prev[p.ID] = Stored{Person: p, Version: 5}
		people = append(people, p)
	}
	return prev, people
}

func TestDiffFailSafe(t *testing.T) {
	t.Parallel()
	prev, people := population(10)
	moved := func(ps []tilgang.Person, n int) []tilgang.Person {
		out := append([]tilgang.Person(nil), ps...)
		for i := range n {
			out[i].Employments = []tilgang.Employment{{ID: out[i].Employments[0].ID, Primary: true, Percent: 100,
				OrgUnit: "other", Position: "p", Start: d("2020-01-01")}}
		}
		return out
	}
	noEmployments := func(ps []tilgang.Person) []tilgang.Person {
		out := append([]tilgang.Person(nil), ps...)
		for i := range out {
			out[i].Employments = []tilgang.Employment{}
		}
		return out
	}
	tests := []struct {
		name    string
		prev    map[string]Stored
		people  []tilgang.Person
		opts    FailSafe
		held    bool
		reasons []string
	}{
		{name: "40 % missing", prev: prev, people: people[4:], held: true, reasons: []string{
			"4 of 10 people would leave (40.0 %); the limit is 10.0 %",
			"4 of 10 people would move or leave (40.0 %); the limit is 25.0 %"}},
		{name: "one of ten leaving is at the limit, not above", prev: prev, people: people[1:]},
		{name: "two of ten leaving is above", prev: prev, people: people[2:], held: true, reasons: []string{
			"2 of 10 people would leave (20.0 %); the limit is 10.0 %"}},
		{name: "a wider leave share lets them go", prev: prev, people: people[2:], opts: FailSafe{MaxLeaveShare: 0.2}},
		{name: "three movers of ten are above 25 %", prev: prev, people: moved(people, 3), held: true, reasons: []string{
			"3 of 10 people would move or leave (30.0 %); the limit is 25.0 %"}},
		{name: "two movers of ten pass", prev: prev, people: moved(people, 2)},
		{name: "joiners do not count", prev: prev, people: append(append([]tilgang.Person(nil), people...),
			person(11), person(12), person(13), person(14), person(15))},
		{name: "empty snapshot", prev: prev, people: nil, held: true, reasons: []string{
			"10 of 10 people would leave (100.0 %); the limit is 10.0 %",
			"10 of 10 people would move or leave (100.0 %); the limit is 25.0 %",
			"the snapshot holds no people at all"}},
		{name: "no employments at all", prev: prev, people: noEmployments(people),
			opts: FailSafe{MaxChangeShare: 1}, held: true, reasons: []string{"the snapshot holds no employments at all"}},
		{name: "first snapshot is exempt even when empty", prev: nil, people: nil},
		{name: "first snapshot is exempt", prev: nil, people: noEmployments(people)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Today = today
			p := Diff(tt.prev, Snapshot{People: tt.people, Complete: true}, tt.opts)
			require.Equal(t, tt.held, p.Held, p.Reasons)
			require.Equal(t, tt.reasons, p.Reasons)
			all := map[string]bool{}
			for id := range tt.prev {
				all[id] = true
			}
			for _, q := range tt.people {
				all[q.ID] = true
			}
			s := p.Summary("x", len(tt.people))
			require.Equal(t, len(all), s.Joiners+s.Movers+s.Leavers+s.Unchanged+s.Rejected, "each person counts once")
		})
	}
}

func TestDiffEachPersonCountsOnce(t *testing.T) {
	t.Parallel()
	prev, people := population(6)
	snap := Snapshot{Complete: true,
		People:   []tilgang.Person{people[0], person(7)},
		Rejected: []Rejection{{PersonID: people[1].ID, Reason: "bad"}, {Reason: "a row without id"}}}
	snap.People[0].GivenName = "Ny"
	p := Diff(prev, snap, FailSafe{Today: today, MaxLeaveShare: 1, MaxChangeShare: 1})
	require.Equal(t, map[string]Kind{people[0].ID: Mover, "1547-7": Joiner}, kinds(p))
	require.Equal(t, []string{people[2].ID, people[3].ID, people[4].ID, people[5].ID}, p.Unchanged,
		"the row without id may be any of them: nobody leaves; the rejected person is neither unchanged nor a leaver")
	require.Len(t, p.Rejected, 2)
	s := p.Summary("csv", 2)
	require.Equal(t, Summary{Source: "csv", People: 2, Joiners: 1, Movers: 1, Unchanged: 4, Rejected: 2, Held: false,
		Reasons: []string{}}, s)

	// Without the row whose id could not be read, the missing leave.
	snap.Rejected = snap.Rejected[:1]
	p = Diff(prev, snap, FailSafe{Today: today, MaxLeaveShare: 1, MaxChangeShare: 1})
	require.Equal(t, map[string]Kind{people[0].ID: Mover, "1547-7": Joiner, people[2].ID: Leaver, people[3].ID: Leaver,
		people[4].ID: Leaver, people[5].ID: Leaver}, kinds(p))
	require.Empty(t, p.Unchanged)
}

func TestDiffIncompleteSnapshotHasNoLeavers(t *testing.T) {
	t.Parallel()
	prev, people := population(5)
	p := Diff(prev, Snapshot{People: people[:2], Complete: false}, FailSafe{Today: today})
	require.Empty(t, p.Events)
	require.Len(t, p.Unchanged, 5)
	require.False(t, p.Held)
}

func TestDiffLeaver(t *testing.T) {
	t.Parallel()
	open := tilgang.Employment{ID: "a", Primary: true, Percent: 100, OrgUnit: "u", Position: "p", Start: d("2020-01-01")}
	later := tilgang.Employment{ID: "b", Percent: 20, OrgUnit: "u", Position: "p", Start: d("2020-01-01"), End: d("2027-06-30")}
	ended := tilgang.Employment{ID: "c", Percent: 20, OrgUnit: "u", Position: "p", Start: d("2019-01-01"), End: d("2019-12-31")}
	future := tilgang.Employment{ID: "d", Percent: 50, OrgUnit: "u", Position: "p", Start: d("2027-01-01")}
	tests := []struct {
		name string
		emps []tilgang.Employment
		want []tilgang.Employment // nil: unchanged
	}{
		{name: "open and later ends end yesterday, earlier ends stay", emps: []tilgang.Employment{later, open, ended},
			want: []tilgang.Employment{
				{ID: "a", Primary: true, Percent: 100, OrgUnit: "u", Position: "p", Start: d("2020-01-01"), End: d("2026-12-03")},
				{ID: "b", Percent: 20, OrgUnit: "u", Position: "p", Start: d("2020-01-01"), End: d("2026-12-03")},
				ended}},
		{name: "a start not yet come is cut to the one day", emps: []tilgang.Employment{future},
			want: []tilgang.Employment{{ID: "d", Percent: 50, OrgUnit: "u", Position: "p", Start: d("2026-12-03"), End: d("2026-12-03")}}},
		{name: "already left: unchanged", emps: []tilgang.Employment{ended}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := person(1, tt.emps...)
			prev := map[string]Stored{p.ID: {Person: p, Version: 9}, "1547-2": {Person: person(2), Version: 3}}
			plan := Diff(prev, Snapshot{People: []tilgang.Person{person(2)}, Complete: true},
				FailSafe{Today: today, MaxLeaveShare: 1, MaxChangeShare: 1})
			if tt.want == nil {
				require.Empty(t, plan.Events)
				require.Equal(t, []string{"1547-1", "1547-2"}, plan.Unchanged)
				require.Equal(t, 1, plan.Base, "a person who had left is not of the base")
				return
			}
			require.Len(t, plan.Events, 1)
			e := plan.Events[0]
			require.Equal(t, Leaver, e.Kind)
			require.Equal(t, int64(10), e.Version)
			require.Equal(t, tt.want, e.Person.Employments)
			require.NoError(t, e.Person.Validate())
			at, ok := e.Person.LeaveAt()
			require.True(t, ok)
			require.Equal(t, today.Start(), at, "leave at 00:00 Oslo today: the engine leaves at once")
		})
	}
}

func TestDiffVersions(t *testing.T) {
	t.Parallel()
	prev, people := population(2)
	people[0].GivenName = "Ny"
	snap := Snapshot{People: append(people, person(3)), Complete: true}
	t.Run("stored + 1", func(t *testing.T) {
		p := Diff(prev, snap, FailSafe{Today: today, MaxChangeShare: 1})
		require.Equal(t, []int64{6, 1}, []int64{p.Events[0].Version, p.Events[1].Version})
	})
	t.Run("next", func(t *testing.T) {
		n := int64(100)
		p := Diff(prev, snap, FailSafe{Today: today, MaxChangeShare: 1, Next: func() int64 { n++; return n }})
		require.Equal(t, []int64{101, 102}, []int64{p.Events[0].Version, p.Events[1].Version})
	})
	t.Run("next below the stored version", func(t *testing.T) {
		p := Diff(prev, snap, FailSafe{Today: today, MaxChangeShare: 1, Next: func() int64 { return 2 }})
		require.Equal(t, []int64{6, 2}, []int64{p.Events[0].Version, p.Events[1].Version})
	})
}

func TestDiffEmploymentOrderIsNoChange(t *testing.T) {
	t.Parallel()
	a := tilgang.Employment{ID: "a", Percent: 50, OrgUnit: "u", Position: "p", Start: d("2020-01-01")}
	b := tilgang.Employment{ID: "b", Percent: 50, OrgUnit: "u", Position: "p", Start: d("2021-01-01")}
	p := person(1, b, a)
	prev := map[string]Stored{p.ID: {Person: p, Version: 1}}
	plan := Diff(prev, Snapshot{People: []tilgang.Person{person(1, a, b)}, Complete: true}, FailSafe{Today: today})
	require.Empty(t, plan.Events)
	plan = Diff(prev, Snapshot{People: []tilgang.Person{person(1, a)}, Complete: true}, FailSafe{Today: today, MaxChangeShare: 1})
	require.Equal(t, map[string]Kind{p.ID: Mover}, kinds(plan), "an employment gone is a mover")
}

func TestEventData(t *testing.T) {
	t.Parallel()
	p := person(1)
	p.Employments[0].End = d("2026-12-31")
	b, err := json.Marshal(Event{Kind: Leaver, Person: p, Version: 7}.Data())
	require.NoError(t, err)
	require.JSONEq(t, `{"version":7,"person":{"id":"1547-1","given_name":"G","family_name":"F","municipality":"1547",
		"employments":[{"id":"1-1","primary":true,"percent":100,"org_unit":"u","position":"p","start":"2020-01-01","end":"2026-12-31"}]}}`, string(b))
	require.Equal(t, "no.tilgang.hr.leaver.v1", Leaver.EventType())
}
