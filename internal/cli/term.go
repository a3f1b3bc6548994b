package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Text from outside tilgang (a target system's error text, a rejection's
// reason, a name, a comment) is printed to a terminal, which acts on what
// it reads: ESC sequences retitle the window, clear the screen or move the
// cursor to print a fake "grant active" over the real state; a carriage
// return overwrites the line; a bidi override shows text reversed. Every
// value the text output prints goes through termSafe (table cells, one-line
// values: oneLine uses it) or termLines (error messages, which may span
// lines). JSON output needs neither: encoding/json escapes what matters
// for a terminal reading JSON as data.

// termSafe returns s with every control character (C0, DEL, C1), every
// bidi embedding, override and isolate (U+202A-U+202E, U+2066-U+2069) and
// every byte that is not UTF-8 written as a visible Go escape: \x1b,
// \u202e, \xff. Anything else, a backslash too, is left as it is.
func termSafe(s string) string {
	return termEscape(s, false)
}

// termLines is termSafe for text of several lines: it keeps "\n".
func termLines(s string) string {
	return termEscape(s, true)
}

func termEscape(s string, keepLF bool) string {
	i := firstUnsafe(s, keepLF)
	if i < 0 {
		return s // the common case: nothing to escape, nothing allocated
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for s = s[i:]; s != ""; {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\n' && keepLF:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unsafeForTerm(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeForTerm(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// firstUnsafe is the index of the first byte of s that termEscape changes,
// or -1.
func firstUnsafe(s string, keepLF bool) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (unsafeForTerm(r) && !(keepLF && r == '\n')) {
			return i
		}
		i += n
	}
	return -1
}

// unsafeForTerm: C0 controls, DEL, C1 controls, and the bidi embeddings,
// overrides and isolates.
func unsafeForTerm(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// printRow writes one tab-separated row for a tabwriter, each cell made
// safe by termSafe (so no cell can add a column or a line either).
func printRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, termSafe(c))
	}
	io.WriteString(w, "\n")
}
