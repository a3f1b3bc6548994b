package policy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
)

func TestParseDays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Days
		err  string
	}{
		{name: "days", in: "180d", want: 180},
		{name: "one day", in: "1d", want: 1},
		{name: "the most", in: "36500d", want: MaxDays},
		{name: "too many", in: "36501d", err: "between 1d and 36500d"},
		{name: "zero", in: "0d", err: "between"},
		{name: "no unit", in: "180", err: "not a number of days"},
		{name: "weeks", in: "26w", err: "not a number of days"},
		{name: "sign", in: "+5d", err: "not a number of days"},
		{name: "negative", in: "-5d", err: "not a number of days"},
		{name: "space", in: "5 d", err: "not a number of days"},
		{name: "unit only", in: "d", err: "not a number of days"},
		{name: "empty", in: "", err: "not a number of days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDays(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, d)
			require.Equal(t, tt.in, d.String())
		})
	}
}

func TestDaysAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		from string
		days Days
		want string
	}{
		{name: "within a month", from: "2026-11-26", days: 3, want: "2026-11-29"},
		{name: "over new year", from: "2026-12-20", days: 30, want: "2027-01-19"},
		{name: "over summer time", from: "2026-03-28", days: 1, want: "2026-03-29"},
		{name: "over winter time", from: "2026-10-24", days: 2, want: "2026-10-26"},
		{name: "leap year", from: "2028-02-28", days: 365, want: "2029-02-27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from, err := tilgang.ParseDate(tt.from)
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.days.After(from).String())
		})
	}
}
