package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
)

// Retention is how long personal data is kept (DESIGN.md "Operations over
// years"):
//
//	retention:
//	  min: 5y     # `tilgang erase --before DATE` needs DATE at least this far back
//
// Min defaults to DefaultRetentionMin (5y) and may not be below a year:
//   - The free text (reasons, comments) and HR records an erasure removes
//     are what shows why someone had access to health records (Normen
//     faktaark 14) and who they were. Normen leaves the time access logs
//     are kept to the risk assessment; five years covers the usual reach of
//     a complaint, a supervisory inquiry and the accounting and limitation
//     periods, after which GDPR art. 5(1)(e) (storage limitation) asks that
//     it go. Ids, grants and the chain stay, so the access register still
//     answers "who had access, when" after an erasure.
//   - A year is the floor so that a slip of the pen ("5d") cannot erase
//     what a recent complaint needs; a municipality whose risk assessment
//     says less than five years sets it here.
type Retention struct {
	Min Period `yaml:"min"`
}

// DefaultRetentionMin is retention.min when the file leaves it out.
const DefaultRetentionMin Period = "5y"

// MinRetention is the least retention.min a worker accepts.
const MinRetention Period = "1y"

// Limit is the newest date an erasure may name at now: now less Min (its
// default when not set), by the Oslo calendar.
func (r Retention) Limit(now time.Time) time.Time {
	p := r.Min
	if p == "" {
		p = DefaultRetentionMin
	}
	return p.Back(now)
}

// Period is a calendar period as written: years, months and days, like
// 5y, 18mo, 90d or 1y6mo.
type Period string

// Span is a period read: years, months and days.
type Span struct {
	Years, Months, Days int
}

var periodPart = regexp.MustCompile(`^([0-9]{1,4})(y|mo|d)`)

// Span reads the period.
func (p Period) Span() (Span, error) {
	var v Span
	rest := strings.TrimSpace(string(p))
	if rest == "" {
		return v, fmt.Errorf("a period is empty: write it like 5y, 18mo or 90d")
	}
	seen := map[string]bool{}
	for rest != "" {
		m := periodPart.FindStringSubmatch(rest)
		if m == nil || seen[m[2]] {
			return Span{}, fmt.Errorf("%q is not a period: write it like 5y, 18mo, 90d or 1y6mo (y years, mo months, d days)", string(p))
		}
		seen[m[2]] = true
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "y":
			v.Years = n
		case "mo":
			v.Months = n
		case "d":
			v.Days = n
		}
		rest = rest[len(m[0]):]
	}
	return v, nil
}

// Back is t less the period, by the Oslo calendar; t itself when the
// period does not read.
func (p Period) Back(t time.Time) time.Time {
	v, err := p.Span()
	if err != nil {
		return t
	}
	return t.In(tilgang.Oslo).AddDate(-v.Years, -v.Months, -v.Days)
}

// UnmarshalYAML reads a period of at least MinRetention.
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a period like 5y, not a mapping or list")
	}
	v := Period(n.Value)
	if _, err := v.Span(); err != nil {
		return err
	}
	ref := time.Date(2000, time.January, 1, 0, 0, 0, 0, tilgang.Oslo)
	if v.Back(ref).After(MinRetention.Back(ref)) {
		return fmt.Errorf("%s is shorter than %s: an erasure could then remove what a recent complaint needs", v, MinRetention)
	}
	*p = v
	return nil
}
