package policy

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestConditionProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want string // "line: substring"; "" = loads
	}{
		{name: "eligible compiles", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'person.org_unit.startsWith("helse/") && person.position in ["sykepleier", "helsefagarbeider"]'`)},
		{name: "eligible over employments and request", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'person.employments.exists(e, e.org_unit.startsWith("helse/")) && request.reason != ""'`)},
		{name: "eligible with a string function", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'person.org_unit.lowerAscii().startsWith("helse")'`)},
		{name: "eligible does not parse", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'person.org_unit.startsWith("helse"'`),
			want: `12: role "bruker": eligible does not compile: Syntax error`},
		{name: "eligible names an unknown variable", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'employee.org_unit == "helse"'`),
			want: `12: role "bruker": eligible does not compile: undeclared reference to 'employee'`},
		{name: "eligible is not a condition", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'person.org_unit'`),
			want: `12: role "bruker": eligible must give true or false, but gives a dyn`},
		{name: "eligible is a string", file: edit(t, gerica, `'person.org_unit.startsWith("helse")'`, `'"helse"'`),
			want: `12: role "bruker": eligible must give true or false, but gives a string`},
		{name: "when does not compile", file: edit(t, gerica, `'person.position == "sykepleier"'`, `'person.position = "sykepleier"'`),
			want: `24: birthright: when does not compile`},
		{name: "when is a number", file: edit(t, gerica, `'person.position == "sykepleier"'`, `'1 + 1'`),
			want: `24: birthright: when must give true or false, but gives a int`},
		{name: "when may be true", file: edit(t, gerica, `'person.position == "sykepleier"'`, `'true'`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeDir(t, map[string]string{"gerica.yaml": tt.file})
			probs := Check(dir, devConnectors)
			if tt.want == "" {
				require.Empty(t, probs)
				return
			}
			require.Len(t, probs, 1, "%v", probs)
			line, msg, _ := cut(tt.want)
			require.Equal(t, line, probs[0].Line)
			require.Contains(t, probs[0].Msg, msg)
		})
	}
}

func cut(s string) (int, string, bool) {
	var line int
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		line = line*10 + int(s[i]-'0')
	}
	return line, s[i+2:], true
}

func examplePeople(t *testing.T) map[string]*tilgang.Person {
	t.Helper()
	b, err := os.ReadFile("../../deploy/examples/people.json")
	require.NoError(t, err)
	var people []tilgang.Person
	require.NoError(t, json.Unmarshal(b, &people))
	byID := map[string]*tilgang.Person{}
	for i := range people {
		byID[people[i].ID] = &people[i]
	}
	return byID
}

func TestExampleConditions(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleDir, devConnectors)
	require.NoError(t, err)
	people := examplePeople(t)

	tests := []struct {
		name         string
		person       string
		system, role string
		eligible     bool
	}{
		{name: "the nurse may use Gerica", person: "1547-10412", system: "gerica", role: "bruker", eligible: true},
		{name: "the teacher with a helse job may use Gerica", person: "1547-10234", system: "gerica", role: "bruker", eligible: true},
		{name: "the rektor may not use Gerica", person: "1547-10001", system: "gerica", role: "bruker"},
		{name: "superbruker follows the main employment", person: "1547-10234", system: "gerica", role: "superbruker"},
		{name: "the teacher may use Flyt Skole", person: "1547-10234", system: "visma-flyt-skole", role: "laerer", eligible: true},
		{name: "the rektor is rektor", person: "1547-10001", system: "visma-flyt-skole", role: "rektor", eligible: true},
		{name: "the future joiner may use Familia", person: "1506-10777", system: "familia", role: "saksbehandler", eligible: true},
		{name: "the nurse may not use Familia", person: "1547-10412", system: "familia", role: "saksbehandler"},
		{name: "the barnevernleder may lead in Familia", person: "1506-20049", system: "familia", role: "leder", eligible: true},
		{name: "the vaktmester may use Plania", person: "1557-10080", system: "plania", role: "bruker", eligible: true},
		{name: "no condition admits everyone", person: "1547-10412", system: "public360", role: "saksbehandler", eligible: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, r, ok := c.Role(tt.system, tt.role)
			require.True(t, ok)
			got, err := r.IsEligible(PersonVars(people[tt.person]), map[string]any{"reason": "test"})
			require.NoError(t, err)
			require.Equal(t, tt.eligible, got)
		})
	}

	// Birthright: which roles each person gets on import.
	given := map[string][]string{}
	for _, id := range c.SystemIDs() {
		s := c.Systems[id]
		for _, b := range s.Birthright {
			for pid, p := range people {
				ok, err := b.Applies(PersonVars(p))
				require.NoError(t, err)
				if ok {
					for _, r := range b.Roles {
						given[pid] = append(given[pid], id+"/"+r)
					}
				}
			}
		}
	}
	require.Equal(t, []string{"gerica/bruker", "visma-enterprise/ansatt"}, given["1547-10412"])
	require.Equal(t, []string{"visma-enterprise/ansatt", "visma-flyt-skole/laerer"}, given["1547-10234"])
	require.Equal(t, []string{"visma-enterprise/ansatt", "visma-enterprise/leder"}, given["1547-10300"])
	require.Equal(t, []string{"cosdoc/helsesykepleier", "visma-enterprise/ansatt"}, given["1579-20040"])
	require.Equal(t, []string{"visma-enterprise/ansatt"}, given["1506-10777"])
}

func TestConditionErrors(t *testing.T) {
	t.Parallel()
	r := &Role{ID: "x", Eligible: `person.missing == "y"`}
	_, err := r.IsEligible(map[string]any{}, nil)
	require.Error(t, err)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	require.Contains(t, err.Error(), "no such key")

	ok, err := (&Role{ID: "everyone"}).IsEligible(nil, nil)
	require.NoError(t, err)
	require.True(t, ok)

	_, err = (&Role{ID: "x", Eligible: "person."}).IsEligible(nil, nil)
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))

	ok, err = Birthright{When: `person.position == "lærer"`}.Applies(map[string]any{"position": "lærer"})
	require.NoError(t, err)
	require.True(t, ok)
}

func TestPersonVars(t *testing.T) {
	t.Parallel()
	ase := examplePeople(t)["1547-10234"]
	v := PersonVars(ase)
	require.Equal(t, "oppvekst/aukra-skule", v["org_unit"])
	require.Equal(t, "lærer", v["position"])
	require.Equal(t, "1547-10001", v["manager"])
	require.Equal(t, "1547", v["municipality"])
	require.NotContains(t, v, "given_name")
	emps := v["employments"].([]any)
	require.Len(t, emps, 2)
	require.Nil(t, emps[0].(map[string]any)["end"])
	require.Equal(t, "2026-12-31", emps[1].(map[string]any)["end"])
	require.Equal(t, 20.0, emps[1].(map[string]any)["percent"])
}
