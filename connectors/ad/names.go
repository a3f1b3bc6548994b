package ad

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxSAMAccountName is AD's limit on sAMAccountName (the pre-Windows 2000 logon name).
const MaxSAMAccountName = 20

// letters maps the Norwegian, Sami and other Nordic letters that do not
// decompose into an ASCII base letter plus a mark. Everything else is
// decomposed (NFD) and its marks dropped: é→e, č→c, š→s, á→a, ü→u.
var letters = map[rune]string{
	'æ': "ae", 'ø': "o", 'å': "aa",
	'ä': "a", 'ö': "o", // Swedish and South Sami spellings: one letter, as ø
	'đ': "d", 'ŋ': "n", 'ŧ': "t", // North Sami
	'ß': "ss", 'ð': "d", 'þ': "th", 'ł': "l", 'ı': "i", 'œ': "oe",
}

// Transliterate folds a name to the letters a username may use: lower-case
// ASCII letters and digits. Everything else (spaces, hyphens, apostrophes,
// punctuation, letters of other scripts) is dropped.
func Transliterate(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if t, ok := letters[r]; ok {
			b.WriteString(t)
			continue
		}
		for _, d := range norm.NFD.String(string(r)) {
			if unicode.Is(unicode.Mn, d) {
				continue
			}
			if (d >= 'a' && d <= 'z') || (d >= '0' && d <= '9') {
				b.WriteRune(d)
			}
		}
	}
	return b.String()
}

// Pattern is a username pattern: literal lower-case letters and digits, and
// the fields {given}, {family}, {given:N}, {family:N} (the first N letters
// after transliteration), {initials} (the first letter of each part of the
// given and family names) and {id} (the person id's letters and digits).
//
// Examples: "{given:3}{family:3}" gives Åse Øvergård-Bø "aseove";
// "{given}.{family}" would be refused ('.' is allowed in AD but not here, so
// names stay one word for the fagsystemer that copy them).
type Pattern struct {
	parts []patternPart
}

type patternPart struct {
	literal string
	field   string // given, family, initials, id
	n       int    // 0: all
}

var fieldRE = regexp.MustCompile(`^\{(given|family|initials|id)(?::([1-9][0-9]?))?\}`)

// ParsePattern checks and compiles a username pattern.
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	if s == "" {
		return p, fmt.Errorf("empty username pattern")
	}
	fields := 0
	for rest := s; rest != ""; {
		if rest[0] == '{' {
			m := fieldRE.FindStringSubmatch(rest)
			if m == nil {
				return p, fmt.Errorf("username pattern %q: unknown field at %q (known: {given}, {family}, {given:N}, {family:N}, {initials}, {id})", s, rest)
			}
			n := 0
			if m[2] != "" {
				n, _ = strconv.Atoi(m[2])
			}
			p.parts = append(p.parts, patternPart{field: m[1], n: n})
			fields++
			rest = rest[len(m[0]):]
			continue
		}
		c := rest[0]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return p, fmt.Errorf("username pattern %q: %q is neither a field nor a lower-case letter or digit", s, c)
		}
		p.parts = append(p.parts, patternPart{literal: string(c)})
		rest = rest[1:]
	}
	if fields == 0 {
		return p, fmt.Errorf("username pattern %q names no field: every person would get the same name", s)
	}
	return p, nil
}

// Base is the username the pattern gives before collision handling, cut to
// MaxSAMAccountName. It may be empty when a name has no Latin letters.
func (p Pattern) Base(given, family, id string) string {
	var b strings.Builder
	for _, part := range p.parts {
		var v string
		switch part.field {
		case "":
			v = part.literal
		case "given":
			v = Transliterate(given)
		case "family":
			v = Transliterate(family)
		case "id":
			v = Transliterate(id)
		case "initials":
			for _, w := range strings.FieldsFunc(given+" "+family, func(r rune) bool { return r == ' ' || r == '-' }) {
				if t := Transliterate(w); t != "" {
					v += t[:1]
				}
			}
		}
		if part.n > 0 && len(v) > part.n {
			v = v[:part.n]
		}
		b.WriteString(v)
	}
	s := b.String()
	if len(s) > MaxSAMAccountName {
		s = s[:MaxSAMAccountName]
	}
	return s
}

// Candidate is the n-th name to try for base: base itself for n <= 1, then
// base2, base3, ..., the base cut so that the whole stays within
// MaxSAMAccountName.
func Candidate(base string, n int) string {
	if n <= 1 {
		return base
	}
	suffix := strconv.Itoa(n)
	if len(base)+len(suffix) > MaxSAMAccountName {
		base = base[:MaxSAMAccountName-len(suffix)]
	}
	return base + suffix
}

// FirstFree is the first candidate of base not in taken (lower-case names).
func FirstFree(base string, taken map[string]bool, max int) (string, bool) {
	for n := 1; n <= max; n++ {
		if c := Candidate(base, n); !taken[c] {
			return c, true
		}
	}
	return "", false
}
