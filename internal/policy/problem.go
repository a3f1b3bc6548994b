package policy

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang"
)

// Problem is one thing wrong in the catalogue.
type Problem struct {
	File string // path of the policy file (or the directory)
	Line int    // 1-based; 0 when it concerns the whole file
	Msg  string
}

// String is "file:line: msg", or "file: msg" without a line.
func (p Problem) String() string {
	if p.Line > 0 {
		return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Msg
	}
	return p.File + ": " + p.Msg
}

// LoadError is every problem found in a catalogue, sorted by file and line.
// tilgang.KindOf reads it as Invalid.
type LoadError struct {
	Problems []Problem
}

// Error prints one problem a line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap classifies the error for tilgang.KindOf and errors.As.
func (e *LoadError) Unwrap() error {
	return &tilgang.Error{Kind: tilgang.Invalid, Message: "invalid policy catalogue"}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}
