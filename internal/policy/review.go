package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Review is a system's `review:` settings (DESIGN.md "Access reviews and
// the access register"):
//
//	review:
//	  every: 6mo                 # a campaign this often: <n>mo (months), <n>w or <n>d; optional (no schedule)
//	  reviewers: systemansvarlig # who decides each item: systemansvarlig | manager
//	  duration: 14d              # how long reviewers have (default 14d)
//	  if_no_response: remove     # what an unanswered item becomes at the end: remove | keep (default keep)
//	  justification: required    # a comment with every decision: required | optional (default optional)
//
// A system without review: has no campaigns.
type Review struct {
	Every         Every  // zero: only started by hand
	Reviewers     string // ReviewBySystemansvarlig | ReviewByManager
	Duration      Days
	IfNoResponse  string // ReviewRemove | ReviewKeep
	Justification string // JustificationRequired | JustificationOptional
	Line          int
}

// Review settings' values.
const (
	ReviewBySystemansvarlig = "systemansvarlig"
	ReviewByManager         = "manager"
	ReviewRemove            = "remove"
	ReviewKeep              = "keep"
	JustificationRequired   = "required"
	JustificationOptional   = "optional"
)

// DefaultReviewDuration is a campaign's duration when review: names none.
const DefaultReviewDuration Days = 14

// Every is how often a campaign starts: Months calendar months plus Days.
type Every struct {
	Months, Days int
}

// IsZero reports whether no schedule is set.
func (e Every) IsZero() bool { return e.Months == 0 && e.Days == 0 }

// After is the time e after t (calendar months in t's location).
func (e Every) After(t time.Time) time.Time { return t.AddDate(0, e.Months, e.Days) }

func (e Every) String() string {
	switch {
	case e.IsZero():
		return ""
	case e.Days == 0:
		return strconv.Itoa(e.Months) + "mo"
	case e.Days%7 == 0 && e.Months == 0:
		return strconv.Itoa(e.Days/7) + "w"
	case e.Months == 0:
		return strconv.Itoa(e.Days) + "d"
	}
	return fmt.Sprintf("%dmo%dd", e.Months, e.Days)
}

// ParseEvery reads "<n>mo" (1..120 months), "<n>w" (1..520 weeks) or
// "<n>d" (7..3650 days): a campaign more often than weekly is no review.
func ParseEvery(s string) (Every, error) {
	bad := fmt.Errorf("%q is not a period like 6mo, 12w or 90d", s)
	for _, u := range []struct {
		suffix   string
		min, max int
		make     func(int) Every
	}{
		{"mo", 1, 120, func(n int) Every { return Every{Months: n} }},
		{"w", 1, 520, func(n int) Every { return Every{Days: 7 * n} }},
		{"d", 7, 3650, func(n int) Every { return Every{Days: n} }},
	} {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || num == "" || num[0] < '0' || num[0] > '9' {
			return Every{}, bad
		}
		if n < u.min || n > u.max {
			return Every{}, fmt.Errorf("%q must be between %d%s and %d%s", s, u.min, u.suffix, u.max, u.suffix)
		}
		return u.make(n), nil
	}
	return Every{}, bad
}

var reviewKeys = []string{"every", "reviewers", "duration", "if_no_response", "justification"}

func (p *parser) review(n *yaml.Node) *Review {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	r := &Review{Duration: DefaultReviewDuration, IfNoResponse: ReviewKeep, Justification: JustificationOptional, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "review must be a mapping (every:, reviewers:, duration:, if_no_response:, justification:), not %s", kindName(n))
		return nil
	}
	f := p.mapping(n, "review", reviewKeys)
	oneOf := func(key string, allowed ...string) (string, bool) {
		fl, ok := f[key]
		if !ok {
			return "", false
		}
		v, ok := p.str(fl.val, "review."+key)
		if !ok {
			return "", false
		}
		for _, a := range allowed {
			if v == a {
				return v, true
			}
		}
		p.add(fl.val.Line, "review.%s %q is not one of %s", key, v, strings.Join(allowed, ", "))
		return "", false
	}
	if _, ok := f["reviewers"]; !ok {
		p.add(n.Line, "review.reviewers is missing: name who decides each item (systemansvarlig or manager)")
	} else if v, ok := oneOf("reviewers", ReviewBySystemansvarlig, ReviewByManager); ok {
		r.Reviewers = v
	}
	if v, ok := oneOf("if_no_response", ReviewRemove, ReviewKeep); ok {
		r.IfNoResponse = v
	}
	if v, ok := oneOf("justification", JustificationRequired, JustificationOptional); ok {
		r.Justification = v
	}
	if fl, ok := f["every"]; ok {
		if v, ok := p.str(fl.val, "review.every"); ok {
			e, err := ParseEvery(v)
			if err != nil {
				p.add(fl.val.Line, "review.every %v", err)
			} else {
				r.Every = e
			}
		}
	}
	if fl, ok := f["duration"]; ok {
		if v, ok := p.str(fl.val, "review.duration"); ok {
			d, err := ParseDays(v)
			if err != nil {
				p.add(fl.val.Line, "review.duration %v", err)
			} else {
				r.Duration = d
			}
		}
	}
	if !r.Every.IsZero() && r.Duration > 0 {
		if end := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); !r.Every.After(end).After(end.AddDate(0, 0, int(r.Duration))) {
			p.add(n.Line, "review.duration %s is not shorter than review.every %s: campaigns would overlap", r.Duration, r.Every)
		}
	}
	return r
}
