package ad

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestTransliterate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{name: "norwegian", in: "Åse Øvergård-Bø", want: "aaseovergaardbo"},
		{name: "ae", in: "Kjærstad", want: "kjaerstad"},
		{name: "upper case", in: "ÆØÅ", want: "aeoaa"},
		{name: "north sami", in: "Máhtte Šuoŋŋa Čáhppes Đuolbba Ŧeahkká Žoaŋa", want: "mahttesuonnacahppesduolbbateahkkazoana"},
		{name: "south sami and swedish", in: "Ïrjen Öhman Ärrö", want: "irjenohmanarro"},
		{name: "accents", in: "Renée Éloïse Müller-Lüdenscheidt", want: "reneeeloisemullerludenscheidt"},
		{name: "apostrophe and spaces", in: "O'Brien  van der Berg", want: "obrienvanderberg"},
		{name: "other letters", in: "Łukasz Weiß Þór", want: "lukaszweissthor"},
		{name: "hostile", in: `*)(uid=*,OU=x+"\`, want: "uidoux"},
		{name: "digits kept", in: "Anne 2", want: "anne2"},
		{name: "other scripts dropped", in: "Юлия", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Transliterate(tc.in))
		})
	}
}

func TestUsernamePattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, pattern, given, family, id, want string }{
		{name: "three and three", pattern: "{given:3}{family:3}", given: "Åse", family: "Øvergård-Bø", want: "aasove"},
		{name: "short names", pattern: "{given:3}{family:3}", given: "Bo", family: "Ek", want: "boek"},
		{name: "whole names cut to 20", pattern: "{given}{family}", given: "Kristoffer-Alexander", family: "Skjærvø", want: "kristofferalexanders"},
		{name: "initials", pattern: "{initials}{family:5}", given: "Anne-Lise Marie", family: "Bø", want: "almbbo"},
		{name: "literal and id", pattern: "x{id}", given: "A", family: "B", id: "1547-10234", want: "x154710234"},
		{name: "sami", pattern: "{given:4}{family:4}", given: "Máhtte", family: "Šuoŋŋa", want: "mahtsuon"},
		{name: "no latin letters", pattern: "{given:3}{family:3}", given: "Юлия", family: "Петрова", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePattern(tc.pattern)
			require.NoError(t, err)
			got := p.Base(tc.given, tc.family, tc.id)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), MaxSAMAccountName)
		})
	}
}

func TestParsePatternRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, pattern, want string }{
		{name: "empty", pattern: "", want: "empty"},
		{name: "no field", pattern: "admin", want: "names no field"},
		{name: "unknown field", pattern: "{surname}", want: "unknown field"},
		{name: "upper case literal", pattern: "{given}X", want: "neither"},
		{name: "dot", pattern: "{given}.{family}", want: "neither"},
		{name: "zero length", pattern: "{given:0}", want: "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePattern(tc.pattern)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		base  string
		taken []string
		want  string
	}{
		{name: "free", base: "aasove", want: "aasove"},
		{name: "taken once", base: "aasove", taken: []string{"aasove"}, want: "aasove2"},
		{name: "gap is reused", base: "aasove", taken: []string{"aasove", "aasove3"}, want: "aasove2"},
		{name: "long base is cut for the suffix", base: "kristofferalexanders", taken: []string{"kristofferalexanders"}, want: "kristofferalexander2"},
		{name: "two digits", base: "kristofferalexanders", taken: append([]string{"kristofferalexanders"}, seq("kristofferalexander", 2, 9)...), want: "kristofferalexande10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := map[string]bool{}
			for _, n := range tc.taken {
				taken[n] = true
			}
			got, ok := FirstFree(tc.base, taken, maxCandidates)
			require.True(t, ok)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), MaxSAMAccountName)
			// Resolve finds every candidate with one prefix search.
			require.True(t, strings.HasPrefix(got, tc.base[:min(len(tc.base), MaxSAMAccountName-3)]))
		})
	}
}

func seq(base string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, Candidate(base+"s", i))
	}
	return out
}

func TestConfigValidateReportsEverything(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "ldap://dc.example", BindPasswordEnv: "TILGANG_AD_NO_SUCH_VAR_SET", BaseDN: "not a dn",
		UsernamePattern: "{nope}", CorrelateAttr: "employee ID", PoolSize: 100}
	err := cfg.Validate()
	require.Equal(t, tilgang.Invalid, tilgang.KindOf(err))
	for _, want := range []string{"plain LDAP", "bind_dn is empty", "TILGANG_AD_NO_SUCH_VAR_SET", "base_dn", "user_ou is empty",
		"upn_suffix", "username_pattern", "correlate_attribute", "pool_size"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, Config{BindPasswordEnv: "X"}.String(), "X=")
}

func TestKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code uint16
		want tilgang.Kind
	}{
		{name: "busy", code: 51, want: tilgang.Unavailable},
		{name: "unavailable", code: 52, want: tilgang.Unavailable},
		{name: "network", code: 200, want: tilgang.Unavailable},
		{name: "constraint (password policy)", code: 19, want: tilgang.Invalid},
		{name: "object class", code: 65, want: tilgang.Invalid},
		{name: "unwilling", code: 53, want: tilgang.Invalid},
		{name: "insufficient access", code: 50, want: tilgang.Denied},
		{name: "invalid credentials", code: 49, want: tilgang.Denied},
		{name: "no such object", code: 32, want: tilgang.NotFound},
		{name: "exists", code: 68, want: tilgang.Conflict},
		{name: "admin limit", code: 11, want: tilgang.Throttled},
		{name: "other", code: 80, want: tilgang.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, kindOf(tc.code))
		})
	}
}
