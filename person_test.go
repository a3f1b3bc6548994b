package tilgang

import (
	"testing"

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
