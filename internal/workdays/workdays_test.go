package workdays

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEasterAndOtherHolidaysDoNotCount(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, oslo) }
	for _, tc := range []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		// Easter 2026: Skjærtorsdag 2 April, Langfredag 3 April, 2. påskedag 6 April.
		{"over Easter 2026", at(2026, 4, 1, 10), 3, at(2026, 4, 9, 10)},
		{"over Easter 2026, five days", at(2026, 4, 1, 10), 5, at(2026, 4, 13, 10)},
		// Easter 2027 is in March: Skjærtorsdag 25 March, 2. påskedag 29 March.
		{"over Easter 2027", at(2027, 3, 24, 9), 1, at(2027, 3, 30, 9)},
		{"a plain week", at(2026, 3, 2, 8), 3, at(2026, 3, 5, 8)},
		{"over a weekend", at(2026, 3, 6, 8), 1, at(2026, 3, 9, 8)},
		{"17 May 2027 is a Monday", at(2027, 5, 14, 8), 1, at(2027, 5, 18, 8)},
		// Julaften (24 December) is a working day by law; 25 and 26 December are not.
		{"Christmas 2026", at(2026, 12, 23, 8), 2, at(2026, 12, 28, 8)},
		{"Kristi himmelfart 2026 (14 May)", at(2026, 5, 13, 8), 1, at(2026, 5, 15, 8)},
		{"2. pinsedag 2026 (25 May)", at(2026, 5, 22, 8), 1, at(2026, 5, 26, 8)},
		{"from a Saturday", at(2026, 3, 7, 8), 1, at(2026, 3, 9, 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want.UTC(), Add(tc.from, tc.n))
		})
	}
	require.False(t, IsWorkday(at(2026, 4, 2, 12)), "Skjærtorsdag")
	require.False(t, IsWorkday(at(2026, 4, 6, 12)), "2. påskedag")
	require.True(t, IsWorkday(at(2026, 4, 7, 12)))
	require.False(t, IsWorkday(at(2026, 5, 1, 12)))
	require.False(t, IsWorkday(at(2026, 5, 17, 12)))
}
