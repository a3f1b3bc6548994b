package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ror-ikt/tilgang"
)

// Days is a number of calendar days, written "180d" in a policy.
type Days int

// MaxDays bounds a duration (100 years), so date arithmetic never overflows.
const MaxDays = 36500

// ParseDays reads "<n>d" with 0 < n <= MaxDays.
func ParseDays(s string) (Days, error) {
	num, ok := strings.CutSuffix(s, "d")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || num == "" || num[0] < '0' || num[0] > '9' {
		return 0, fmt.Errorf("%q is not a number of days like 180d", s)
	}
	if n <= 0 || n > MaxDays {
		return 0, fmt.Errorf("%q must be between 1d and %dd", s, MaxDays)
	}
	return Days(n), nil
}

func (d Days) String() string {
	if d == 0 {
		return ""
	}
	return strconv.Itoa(int(d)) + "d"
}

// After is the date d days after from.
func (d Days) After(from tilgang.Date) tilgang.Date {
	t := from.Start().AddDate(0, 0, int(d))
	return tilgang.DateOf(t)
}
