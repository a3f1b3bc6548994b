package portal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	a, b := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	sa, err := newSealer([][]byte{a})
	require.NoError(t, err)
	sb, err := newSealer([][]byte{b})
	require.NoError(t, err)
	rotated, err := newSealer([][]byte{b, a})
	require.NoError(t, err)

	in := Session{ID: "s-0123456789abcdef", Person: "1547-1", Method: "dev", Start: 1000, Seen: 1000}
	v, err := sa.seal("tilgang", in)
	require.NoError(t, err)
	v2, err := sa.seal("tilgang", in)
	require.NoError(t, err)
	require.NotEqual(t, v, v2, "a fresh nonce each time")

	var out Session
	require.True(t, sa.open("tilgang", v, &out))
	require.Equal(t, in, out)
	require.True(t, rotated.open("tilgang", v, &out), "an old key still opens")
	require.False(t, sb.open("tilgang", v, &out), "a foreign key does not")
	require.False(t, sa.open("tilgang-login", v, &out), "sealed for another cookie")
	for i := range len(v) {
		bad := []byte(v)
		bad[i] ^= 0x01
		require.False(t, sa.open("tilgang", string(bad), &out), "byte %d changed", i)
	}
	require.False(t, sa.open("tilgang", "", &out))
	require.False(t, sa.open("tilgang", "AQ", &out))

	_, err = newSealer(nil)
	require.Error(t, err)
	_, err = newSealer([][]byte{[]byte("short")})
	require.ErrorContains(t, err, "not 32")
}

func TestSessionLive(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	s := Session{ID: "s-0123456789abcdef", Person: "1547-1", Start: start.Unix(), Seen: start.Unix()}
	for _, tc := range []struct {
		name string
		seen time.Duration
		at   time.Duration
		live bool
	}{
		{"fresh", 0, time.Minute, true},
		{"idle 29 minutes", 0, 29 * time.Minute, true},
		{"idle 30 minutes", 0, 30 * time.Minute, false},
		{"active, 7h59m", 7*time.Hour + 50*time.Minute, 7*time.Hour + 59*time.Minute, true},
		{"active, 8 hours", 7*time.Hour + 50*time.Minute, 8 * time.Hour, false},
		{"from the future", 0, -time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s
			s.Seen = start.Add(tc.seen).Unix()
			require.Equal(t, tc.live, s.Live(start.Add(tc.at)))
		})
	}
	require.False(t, (&Session{}).Live(start), "nobody")
}
