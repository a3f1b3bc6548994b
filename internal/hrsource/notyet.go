package hrsource

import "github.com/ror-ikt/tilgang"

// NotYet leaves out of people the future joiners that are not due yet: a
// person prev does not hold whose every employment starts more than days
// days after today. Such a person is sent by a later run, days days before
// their first start, so that access can be asked for and approved ahead
// of day one (notes/hr-sources-and-lifecycle.md, edge case 1). A person
// prev holds is never left out: a start moved later is a mover, not a
// leaver. It returns the people kept and how many were left out.
func NotYet(people []tilgang.Person, prev map[string]Stored, today tilgang.Date, days int) ([]tilgang.Person, int) {
	limit := plusDays(today, days)
	kept := people[:0:0]
	later := 0
	for _, p := range people {
		if _, known := prev[p.ID]; !known && len(p.Employments) > 0 && startsAfter(p, limit) {
			later++
			continue
		}
		kept = append(kept, p)
	}
	return kept, later
}

// startsAfter: every employment of p starts after d.
func startsAfter(p tilgang.Person, d tilgang.Date) bool {
	for _, e := range p.Employments {
		if !d.Before(e.Start) {
			return false
		}
	}
	return true
}
