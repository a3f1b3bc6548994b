package tilgang

import (
	"fmt"
	"sort"
	"time"
	"unicode"
)

// Person is the HR record of one person, the whole truth at Version.
// See DESIGN.md "The HR person record".
type Person struct {
	ID           string       `json:"id"`
	GivenName    string       `json:"given_name"`
	FamilyName   string       `json:"family_name"`
	Email        string       `json:"email,omitempty"`
	Municipality string       `json:"municipality"`
	Employments  []Employment `json:"employments"`
}

// Employment is one arbeidsforhold. End is inclusive; zero means open.
type Employment struct {
	ID       string  `json:"id"`
	Primary  bool    `json:"primary"`
	Percent  float64 `json:"percent"`
	OrgUnit  string  `json:"org_unit"`
	Position string  `json:"position"`
	Manager  string  `json:"manager,omitempty"`
	Start    Date    `json:"start"`
	End      Date    `json:"end"`
}

// Validate reports every problem of the record at once, naming the field.
func (p *Person) Validate() error {
	var errs []string
	if !ValidToken(p.ID) {
		errs = append(errs, fmt.Sprintf("person.id %q must be letters, digits, '-' or '_'", p.ID))
	}
	if p.GivenName == "" {
		errs = append(errs, "person.given_name is empty")
	}
	if p.FamilyName == "" {
		errs = append(errs, "person.family_name is empty")
	}
	if p.Municipality == "" {
		errs = append(errs, "person.municipality is empty")
	}
	text := func(field, s string) {
		if r, ok := unsafeRune(s); ok {
			errs = append(errs, fmt.Sprintf("%s %s contains the control character %U", field, quoteShort(s), r))
		}
	}
	text("person.given_name", p.GivenName)
	text("person.family_name", p.FamilyName)
	text("person.email", p.Email)
	text("person.municipality", p.Municipality)
	seen := map[string]bool{}
	for i, e := range p.Employments {
		at := fmt.Sprintf("person.employments[%d]", i)
		text(at+".id", e.ID)
		text(at+".org_unit", e.OrgUnit)
		text(at+".position", e.Position)
		if e.ID == "" {
			errs = append(errs, at+".id is empty")
		} else if seen[e.ID] {
			errs = append(errs, fmt.Sprintf("%s.id %q is repeated", at, e.ID))
		}
		seen[e.ID] = true
		if e.Percent < 0 || e.Percent > 100 {
			errs = append(errs, fmt.Sprintf("%s.percent %v is outside 0..100", at, e.Percent))
		}
		if e.Start.IsZero() {
			errs = append(errs, at+".start is missing")
		}
		if !e.End.IsZero() && e.End.Before(e.Start) {
			errs = append(errs, fmt.Sprintf("%s.end %s is before start %s", at, e.End, e.Start))
		}
		if e.Manager != "" && !ValidToken(e.Manager) {
			errs = append(errs, fmt.Sprintf("%s.manager %q is not a person id", at, e.Manager))
		}
	}
	if len(errs) > 0 {
		return Errorf(Invalid, "%s", joinErrs(errs))
	}
	return nil
}

// unsafeRune finds the first rune of s that an HR text field must not
// hold: a control character (C0, DEL, C1: escape sequences, NUL, line
// breaks, tabs) or a bidi embedding, override or isolate (U+202A-U+202E,
// U+2066-U+2069), which reorders how the text around it is shown. Names
// reach terminals, logs and other systems' files.
func unsafeRune(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return r, true
		}
	}
	return 0, false
}

// quoteShort quotes s for an error message (control characters escaped),
// shortened so that a hostile record cannot flood the logs.
func quoteShort(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		return fmt.Sprintf("%q...", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}

func joinErrs(errs []string) string {
	s := errs[0]
	for _, e := range errs[1:] {
		s += "; " + e
	}
	return s
}

// Main is the employment policies see: the primary one, else the highest
// percent, else the earliest start (then the lowest id, so it is stable).
// ok is false when the person has no employments.
func (p *Person) Main() (e Employment, ok bool) {
	if len(p.Employments) == 0 {
		return Employment{}, false
	}
	es := append([]Employment(nil), p.Employments...)
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Primary != b.Primary {
			return a.Primary
		}
		if a.Percent != b.Percent {
			return a.Percent > b.Percent
		}
		if a.Start != b.Start {
			return a.Start.Before(b.Start)
		}
		return a.ID < b.ID
	})
	return es[0], true
}

// Manager is the main employment's manager, "" when none.
func (p *Person) Manager() string {
	m, _ := p.Main()
	return m.Manager
}

// At is the record as it is in effect at t: with the employments that have
// started and not ended at t; before the first start, those that have not
// ended (a joiner's); after the last end, all of them. Its Main is the main
// employment at t, so a change HR records ahead (a new position or unit
// from a later date, one of several employments ending) shows from its
// date. The record itself is not changed.
func (p Person) At(t time.Time) Person {
	var now, ahead []Employment
	for _, e := range p.Employments {
		if !e.End.IsZero() && !t.Before(e.End.End()) {
			continue
		}
		if t.Before(e.Start.Start()) {
			ahead = append(ahead, e)
		} else {
			now = append(now, e)
		}
	}
	switch {
	case len(now) > 0:
		p.Employments = now
	case len(ahead) > 0:
		p.Employments = ahead
	}
	return p
}

// NextChange is the first moment after t at which At's employments change
// (an employment starts while another is in effect, or ends while another
// goes on), before the leave; zero when there is none.
func (p Person) NextChange(t time.Time) time.Time {
	leave, ends := p.LeaveAt()
	cur := p.At(t).Employments
	var next time.Time
	consider := func(at time.Time) {
		if !at.After(t) || (ends && !at.Before(leave)) || (!next.IsZero() && !at.Before(next)) {
			return
		}
		if !sameEmployments(p.At(at).Employments, cur) {
			next = at
		}
	}
	for _, e := range p.Employments {
		consider(e.Start.Start())
		if !e.End.IsZero() {
			consider(e.End.End())
		}
	}
	return next
}

func sameEmployments(a, b []Employment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// LeaveAt is 00:00 Oslo on the day after the latest end, once every
// employment has an end; ok is false while any employment is open (or the
// person has none, which is not a leave either: HR sent no end).
func (p *Person) LeaveAt() (t time.Time, ok bool) {
	if len(p.Employments) == 0 {
		return time.Time{}, false
	}
	var last Date
	for _, e := range p.Employments {
		if e.End.IsZero() {
			return time.Time{}, false
		}
		if last.Before(e.End) {
			last = e.End
		}
	}
	return last.End(), true
}

// StartAt is 00:00 Oslo on the earliest start of an employment.
func (p *Person) StartAt() time.Time {
	var first Date
	for _, e := range p.Employments {
		if first.IsZero() || e.Start.Before(first) {
			first = e.Start
		}
	}
	if first.IsZero() {
		return time.Time{}
	}
	return first.Start()
}
