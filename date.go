package tilgang

import (
	"encoding/json"
	"fmt"
	"time"
)

// Date is a calendar date in Europe/Oslo, written "2006-01-02".
// The zero Date is "no date".
type Date struct{ Y, M, D int }

// ParseDate parses "YYYY-MM-DD" strictly.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return Date{t.Year(), int(t.Month()), t.Day()}, nil
}

// DateOf is the Oslo calendar date of t.
func DateOf(t time.Time) Date {
	t = t.In(Oslo)
	return Date{t.Year(), int(t.Month()), t.Day()}
}

func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Y, d.M, d.D)
}

// Start is 00:00 Oslo time on d.
func (d Date) Start() time.Time {
	return time.Date(d.Y, time.Month(d.M), d.D, 0, 0, 0, 0, Oslo)
}

// End is 00:00 Oslo time on the day after d: the first instant d is over.
func (d Date) End() time.Time {
	return time.Date(d.Y, time.Month(d.M), d.D+1, 0, 0, 0, 0, Oslo)
}

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool {
	if d.Y != o.Y {
		return d.Y < o.Y
	}
	if d.M != o.M {
		return d.M < o.M
	}
	return d.D < o.D
}

func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date must be a string YYYY-MM-DD or null")
	}
	p, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}
