package hrsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
)

// Snapshot is what one read of a source delivered.
type Snapshot struct {
	// People are the valid records, sorted by id, each with its employments
	// sorted by id.
	People []tilgang.Person
	// Complete is true when the snapshot holds everyone the source knows, so
	// that a person missing from it has left.
	Complete bool
	// Warnings are data-quality findings that did not stop a record.
	Warnings []Warning
	// Rejected are the records that could not be taken; each keeps its
	// previous state.
	Rejected []Rejection
}

// Warning is a data-quality finding about one person.
type Warning struct {
	PersonID string `json:"person"`
	Message  string `json:"message"`
}

// Rejection is a record that was not taken. PersonID is empty when the
// record's id could not be read.
type Rejection struct {
	PersonID string `json:"person,omitempty"`
	Reason   string `json:"reason"`
}

// Input is what a read is given: a file for the file types, an HTTP client
// and a base URL for the services, and the day the read is for.
type Input struct {
	File    io.Reader    // stamdata3, json, csv
	Client  *http.Client // visma-hrm, fint; nil is http.DefaultClient
	BaseURL string       // visma-hrm, fint; overrides the config's base_url when set
	Today   tilgang.Date // the Oslo date of the read; zero is today
}

// Source reads one snapshot.
type Source interface {
	// Read reads a whole snapshot. An error (a failed, refused or truncated
	// read) means there is no snapshot; invalid records are Rejections.
	Read(ctx context.Context, in Input) (Snapshot, error)
}

// Config is a source type's settings; the struct is its YAML schema.
type Config interface {
	// Validate reports every problem of the config at once.
	Validate() error
	// Open validates the config, reads its secrets and returns the source.
	Open() (Source, error)
}

// Registry maps a source type name to its config constructor.
type Registry map[string]func() Config

// Types is the registry of every source type of this package.
var Types = Registry{
	Stamdata3Type: func() Config { return &Stamdata3Config{} },
	VismaType:     func() Config { return &VismaConfig{} },
	FINTType:      func() Config { return &FINTConfig{} },
	JSONType:      func() Config { return &JSONConfig{} },
	CSVType:       func() Config { return &CSVConfig{} },
}

// New returns an empty config of type typ.
func (r Registry) New(typ string) (Config, error) {
	f, ok := r[typ]
	if !ok {
		names := make([]string, 0, len(r))
		for n := range r {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, tilgang.Errorf(tilgang.Invalid, "hrsource: unknown source type %q (known: %s)", typ, strings.Join(names, ", "))
	}
	return f(), nil
}

func (in Input) today() tilgang.Date {
	if in.Today.IsZero() {
		return tilgang.DateOf(time.Now())
	}
	return in.Today
}

// collector gathers what a reader decoded and finishes it into a Snapshot.
type collector struct {
	people   []tilgang.Person
	rejected []Rejection
	tree     OrgTree
}

func (c *collector) reject(id, format string, args ...any) {
	c.rejected = append(c.rejected, Rejection{PersonID: safeID(id), Reason: fmt.Sprintf(format, args...)})
}

// finish resolves managers, validates, warns about the main employment and
// sorts: the steps every reader shares.
func (c *collector) finish() Snapshot {
	snap := Snapshot{Complete: true, Rejected: c.rejected}
	count := map[string]int{}
	for _, p := range c.people {
		count[p.ID]++
	}
	for _, p := range c.people {
		if n := count[p.ID]; n > 1 {
			snap.Rejected = append(snap.Rejected, Rejection{PersonID: safeID(p.ID),
				Reason: fmt.Sprintf("the person id appears %d times in the snapshot", n)})
			count[p.ID] = -1
			continue
		} else if n < 0 {
			continue
		}
		if field, bad := fnrShaped(p); bad {
			// Not even the id is repeated: it may be the number itself.
			snap.Rejected = append(snap.Rejected, Rejection{PersonID: safeID(p.ID),
				Reason: field + " holds 11 digits in a row, the shape of a fødselsnummer, which is never an identifier"})
			continue
		}
		p.Employments = append([]tilgang.Employment{}, p.Employments...) // never nil: the record holds an array
		for i := range p.Employments {
			e := &p.Employments[i]
			e.Manager = c.tree.Manager(e.OrgUnit, e.Manager, p.ID)
		}
		sort.SliceStable(p.Employments, func(i, j int) bool { return p.Employments[i].ID < p.Employments[j].ID })
		if err := p.Validate(); err != nil {
			snap.Rejected = append(snap.Rejected, Rejection{PersonID: p.ID, Reason: err.Error()})
			continue
		}
		if w, ok := mainWarning(p); ok {
			snap.Warnings = append(snap.Warnings, w)
		}
		snap.People = append(snap.People, p)
	}
	sort.SliceStable(snap.People, func(i, j int) bool { return snap.People[i].ID < snap.People[j].ID })
	return snap
}

// fnrShaped names the first id of p (person, employment, manager) holding
// a run of exactly 11 digits: a fødselsnummer or D-number used as an id,
// which DESIGN.md forbids.
func fnrShaped(p tilgang.Person) (string, bool) {
	if elevenDigits(p.ID) {
		return "person.id", true
	}
	for i, e := range p.Employments {
		if elevenDigits(e.ID) {
			return fmt.Sprintf("person.employments[%d].id", i), true
		}
		if elevenDigits(e.Manager) {
			return fmt.Sprintf("person.employments[%d].manager", i), true
		}
	}
	return "", false
}

func elevenDigits(s string) bool {
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		if run == 11 {
			return true
		}
		run = 0
	}
	return false
}

// safeID is id, or "" when id itself is shaped like a fødselsnummer.
func safeID(id string) string {
	if elevenDigits(id) {
		return ""
	}
	return id
}

// mainWarning reports a person of several employments with no primary one
// or more than one; the choice is tilgang.Person.Main's.
func mainWarning(p tilgang.Person) (Warning, bool) {
	if len(p.Employments) < 2 {
		return Warning{}, false
	}
	n := 0
	for _, e := range p.Employments {
		if e.Primary {
			n++
		}
	}
	if n == 1 {
		return Warning{}, false
	}
	m, _ := p.Main()
	what := "no main employment"
	if n > 1 {
		what = fmt.Sprintf("%d main employments", n)
	}
	return Warning{PersonID: p.ID, Message: fmt.Sprintf(
		"%s among %d employments; taking %q (primary, else highest percent, else earliest start)",
		what, len(p.Employments), m.ID)}, true
}

// openEnd is the first year an end date means "no end" (2099-12-31 and
// 9999-12-31 are what exports write for open-ended).
const openEnd = 2099

// parseDate reads "YYYY-MM-DD", optionally followed by a time ("T..."); a
// timestamp with a zone is read as the Oslo date of that instant. Empty is
// the zero Date.
func parseDate(s string) (tilgang.Date, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return tilgang.Date{}, nil
	}
	if len(s) > 10 && s[10] == 'T' {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return tilgang.DateOf(t), nil
		}
		s = s[:10]
	}
	return tilgang.ParseDate(s)
}

// parseEnd is parseDate with ends from 2099 on read as open.
func parseEnd(s string) (tilgang.Date, error) {
	d, err := parseDate(s)
	if err == nil && d.Y >= openEnd {
		return tilgang.Date{}, nil
	}
	return d, err
}

// parsePercent reads a percentage written with "." or "," as the decimal
// mark; empty is 0.
func parsePercent(s string) (float64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil {
		return 0, fmt.Errorf("percent %s is not a number", quote(s))
	}
	return f, nil
}

// parseBool reads the ways exports write a flag; empty is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "ja", "j", "y", "x":
		return true, nil
	case "false", "0", "no", "nei", "n", "":
		return false, nil
	}
	return false, fmt.Errorf("%s is not true or false", quote(s))
}

// quote quotes a value for an error message, shortened.
func quote(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

func minusDays(d tilgang.Date, n int) tilgang.Date {
	return tilgang.DateOf(d.Start().AddDate(0, 0, -n))
}

func plusDays(d tilgang.Date, n int) tilgang.Date {
	return tilgang.DateOf(d.Start().AddDate(0, 0, n))
}

// covers reports whether the period [from, to] (to zero: open) holds d.
func covers(from, to, d tilgang.Date) bool {
	return !d.Before(from) && (to.IsZero() || !to.Before(d))
}

// problems joins config problems into one Invalid error.
func problems(kind string, errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return tilgang.Errorf(tilgang.Invalid, "hrsource %s: %s", kind, strings.Join(errs, "; "))
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func sortStrings(s []string) { sort.Strings(s) }
