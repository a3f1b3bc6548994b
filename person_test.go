package tilgang

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validPerson() Person {
	return Person{ID: "1547-10234", GivenName: "Åse", FamilyName: "Øvergård-Bø", Email: "ase@aukra.kommune.no", Municipality: "1547",
		Employments: []Employment{{ID: "1547-10234-1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten",
			Position: "sykepleier", Manager: "1547-20001", Start: Date{Y: 2020, M: 1, D: 1}}}}
}

// Text fields of an HR record end up in terminals, logs and files of
// other systems: a control character (an escape sequence that clears the
// screen, a NUL, a line break that forges a log line) or a bidi override
// that reverses what is shown is refused, naming the field.
func TestPersonRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	require.NoError(t, func() error { p := validPerson(); return p.Validate() }())
	for _, tc := range []struct {
		name  string
		set   func(p *Person, s string)
		field string
	}{
		{"given name", func(p *Person, s string) { p.GivenName = s }, "person.given_name"},
		{"family name", func(p *Person, s string) { p.FamilyName = s }, "person.family_name"},
		{"email", func(p *Person, s string) { p.Email = s }, "person.email"},
		{"municipality", func(p *Person, s string) { p.Municipality = s }, "person.municipality"},
		{"employment id", func(p *Person, s string) { p.Employments[0].ID = s }, "person.employments[0].id"},
		{"org unit", func(p *Person, s string) { p.Employments[0].OrgUnit = s }, "person.employments[0].org_unit"},
		{"position", func(p *Person, s string) { p.Employments[0].Position = s }, "person.employments[0].position"},
	} {
		for _, bad := range []struct{ name, value, char string }{
			{"escape", "Ola\x1b]0;pwned\x07\x1b[2J", "U+001B"},
			{"nul", "Ola\x00", "U+0000"},
			{"line feed", "Ola\nINFO grant active", "U+000A"},
			{"carriage return", "Ola\r", "U+000D"},
			{"tab", "Ola\tNordmann", "U+0009"},
			{"delete", "Ola\x7f", "U+007F"},
			{"c1", "Ola\u009b2J", "U+009B"},
			{"bidi override", "Ola\u202enamdroN", "U+202E"},
			{"bidi isolate", "Ola\u2066x", "U+2066"},
		} {
			t.Run(tc.name+"/"+bad.name, func(t *testing.T) {
				t.Parallel()
				p := validPerson()
				tc.set(&p, bad.value)
				err := p.Validate()
				require.Error(t, err)
				require.Equal(t, Invalid, KindOf(err))
				require.ErrorContains(t, err, tc.field+" ")
				require.ErrorContains(t, err, bad.char)
				require.NotContains(t, err.Error(), "\x1b", "the error itself is safe to print")
			})
		}
	}
}

func day(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	require.NoError(t, err)
	return d
}

// At is the record in effect at a moment; NextChange the moment it next
// changes, before the leave.
func TestAtAndNextChange(t *testing.T) {
	school := Employment{ID: "1", Primary: true, Percent: 80, OrgUnit: "oppvekst/skule", Manager: "m1",
		Start: day(t, "2020-08-01"), End: day(t, "2027-01-31")}
	health := Employment{ID: "2", Primary: true, Percent: 100, OrgUnit: "helse/heim", Manager: "m2", Start: day(t, "2027-02-01")}
	p := Person{ID: "p", Employments: []Employment{school, health}}
	before := day(t, "2027-01-31").Start().Add(12 * time.Hour)
	main := func(at time.Time) string {
		v := p.At(at)
		m, _ := v.Main()
		return m.ID
	}
	whole, _ := p.Main()
	require.Equal(t, "2", whole.ID, "the whole record's main: the higher percent")
	require.Equal(t, "1", main(before), "until the move: the school")
	require.Equal(t, "2", main(day(t, "2027-02-01").Start()), "from 00:00 Oslo on the date")
	require.Len(t, p.Employments, 2, "At changes nothing of the record")
	require.True(t, day(t, "2027-02-01").Start().Equal(p.NextChange(before)))
	require.True(t, p.NextChange(day(t, "2027-02-01").Start()).IsZero(), "nothing after the move")

	// Before day one: the employments not ended. After the last end: all.
	joiner := Person{ID: "j", Employments: []Employment{{ID: "1", Start: day(t, "2027-08-01")}}}
	require.Len(t, joiner.At(before).Employments, 1)
	require.True(t, joiner.NextChange(before).IsZero(), "a joiner's start changes nothing of the record in effect")
	gone := Person{ID: "g", Employments: []Employment{school}}
	require.Len(t, gone.At(day(t, "2027-03-01").Start()).Employments, 1)
	require.True(t, gone.NextChange(before).IsZero(), "the last end is the leave, not a change")

	// Two employments, one ending: a change the day after its end.
	two := Person{ID: "t", Employments: []Employment{{ID: "1", Primary: true, Percent: 100, Start: day(t, "2020-01-01")},
		{ID: "2", Percent: 20, Start: day(t, "2020-01-01"), End: day(t, "2027-01-31")}}}
	require.True(t, day(t, "2027-02-01").Start().Equal(two.NextChange(before)))
	require.Len(t, two.At(day(t, "2027-02-01").Start()).Employments, 1)
}
