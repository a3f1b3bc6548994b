package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

// bigCatalogue writes 200 systems of 10 roles each: every role has a CEL
// eligible condition (over the main employment, the employments list and
// the request), every other role a conflict in another system, and each
// system a birthright rule.
func bigCatalogue(tb testing.TB) *Catalogue {
	dir := tb.TempDir()
	conds := []string{
		`person.org_unit.startsWith("helse/")`,
		`person.position in ["sykepleier", "helsefagarbeider", "lege"]`,
		`person.employments.exists(e, e.org_unit.startsWith("helse/") && e.percent >= 20.0)`,
		`person.municipality == "1547" && request.reason != ""`,
		`person.employments.all(e, e.end == null) || person.org_unit.startsWith("stab/")`,
	}
	for s := 0; s < 200; s++ {
		var b strings.Builder
		fmt.Fprintf(&b, "system: s%03d\nname: System %d\nowner: Eier\nadministrators: [1547-20001, 1547-20002]\nconnectors: [noop]\nroles:\n", s, s)
		for r := 0; r < 10; r++ {
			fmt.Fprintf(&b, "  - id: r%d\n    entitlements: {noop: [S%03d-R%d]}\n    requestable_by: [manager]\n    approval: [manager]\n", r, s, r)
			fmt.Fprintf(&b, "    eligible: '%s'\n    default_duration: 180d\n    max_duration: 365d\n", conds[(s+r)%len(conds)])
			if r%2 == 0 {
				fmt.Fprintf(&b, "    conflicts: [s%03d/r%d]\n", (s+1)%200, r+1)
			}
		}
		fmt.Fprintf(&b, "birthright:\n  - when: 'person.position == \"p%d\"'\n    roles: [r0]\n", s)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%03d.yaml", s)), []byte(b.String()), 0o644))
	}
	cat, err := Load(dir, []string{"noop"})
	require.NoError(tb, err)
	return cat
}

// BenchmarkDecide measures policy evaluation with the conditions compiled
// once, at load: one Decide per iteration over a catalogue of 200 systems
// with 10 roles each, for a person with two employments holding 8 grants.
func BenchmarkDecide(b *testing.B) {
	cat := bigCatalogue(b)
	person := &tilgang.Person{ID: "1547-10412", Municipality: "1547", Employments: []tilgang.Employment{
		{ID: "1", Primary: true, Percent: 80, OrgUnit: "helse/hjemmetjenesten", Position: "sykepleier", Manager: "1547-10300", Start: tilgang.Date{Y: 2020, M: 1, D: 1}},
		{ID: "2", Percent: 20, OrgUnit: "stab/personal", Position: "konsulent", Manager: "1547-10301", Start: tilgang.Date{Y: 2024, M: 1, D: 1}, End: tilgang.Date{Y: 2026, M: 12, D: 31}},
	}}
	var held []Held
	for i := 0; i < 8; i++ {
		held = append(held, Held{GrantID: fmt.Sprint("g-", i), System: fmt.Sprintf("s%03d", i*25), Role: fmt.Sprintf("r%d", i+1), State: tilgang.StateActive})
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, tilgang.Oslo)
	allowed := 0
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r := Request{System: fmt.Sprintf("s%03d", i%200), Role: fmt.Sprintf("r%d", (i/200)%10), Actor: "1547-10300",
			Relations: []string{ByManager}, Reason: "tjenstlig behov", Now: now}
		if Decide(cat, person, r, held).Allowed {
			allowed++
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	if allowed == 0 {
		b.Fatal("nothing allowed: the benchmark measures refusals only")
	}
}

// BenchmarkBirthright measures evaluating every birthright rule of the
// catalogue (200 rules) for one HR record, as a joiner or mover does.
func BenchmarkBirthright(b *testing.B) {
	cat := bigCatalogue(b)
	person := &tilgang.Person{ID: "1547-10412", Municipality: "1547", Employments: []tilgang.Employment{
		{ID: "1", Primary: true, Percent: 100, OrgUnit: "helse/hjemmetjenesten", Position: "p7", Start: tilgang.Date{Y: 2020, M: 1, D: 1}}}}
	b.ReportAllocs()
	for b.Loop() {
		gives, err := BirthrightRoles(cat, person)
		if err != nil || len(gives) != 1 {
			b.Fatal(gives, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
