// Package workdays counts Norwegian working days: Monday to Friday, less
// the public holidays (helligdager, the moveable Easter, Ascension and
// Whitsun feasts among them) of github.com/rickar/cal/v2/no, in Oslo time.
// Reminders and escalations wait a number of working days (DESIGN.md
// "Notifications").
package workdays

import (
	"time"
	_ "time/tzdata" // Oslo on machines (and images) without zoneinfo

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/no"
)

var (
	oslo     = mustOslo()
	calendar = func() *cal.BusinessCalendar {
		c := cal.NewBusinessCalendar()
		c.AddHoliday(no.Holidays...)
		return c
	}()
)

func mustOslo() *time.Location {
	l, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		panic("workdays: no time zone Europe/Oslo: " + err.Error())
	}
	return l
}

// IsWorkday says whether the Oslo day of t is a working day.
func IsWorkday(t time.Time) bool {
	d := t.In(oslo)
	return calendar.IsWorkday(time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, oslo))
}

// Add is the moment n working days after t: the same Oslo clock time on
// the n-th working day after t's day (t's own day does not count, working
// day or not). n <= 0 gives t.
func Add(t time.Time, n int) time.Time {
	if n <= 0 {
		return t
	}
	d := t.In(oslo)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if IsWorkday(d) {
			n--
		}
	}
	return time.Date(d.Year(), d.Month(), d.Day(), t.In(oslo).Hour(), t.In(oslo).Minute(), t.In(oslo).Second(), t.In(oslo).Nanosecond(), oslo).UTC()
}
