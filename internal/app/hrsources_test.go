package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
)

// Daily slots run from one time of day (Oslo) to the next, across
// midnight and the change to summer time.
func TestHRScheduleDailySlots(t *testing.T) {
	s := HRSourceRun{Daily: []string{"13:00", "05:30"}}
	at := func(y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, tilgang.Oslo)
	}
	for _, tc := range []struct{ now, start, end time.Time }{
		{at(2026, 12, 4, 9, 0), at(2026, 12, 4, 5, 30), at(2026, 12, 4, 13, 0)},
		{at(2026, 12, 4, 13, 0), at(2026, 12, 4, 13, 0), at(2026, 12, 5, 5, 30)},
		{at(2026, 12, 4, 3, 0), at(2026, 12, 3, 13, 0), at(2026, 12, 4, 5, 30)},
		{at(2026, 3, 29, 4, 0), at(2026, 3, 28, 13, 0), at(2026, 3, 29, 5, 30)}, // summer time begins 02:00
	} {
		start, end, ok := s.slot(tc.now)
		require.True(t, ok)
		require.True(t, tc.start.Equal(start), "%s: start %s, want %s", tc.now, start, tc.start)
		require.True(t, tc.end.Equal(end), "%s: end %s, want %s", tc.now, end, tc.end)
	}
	_, _, ok := HRSourceRun{}.slot(time.Now())
	require.False(t, ok, "no schedule: run by hand only")
}

// Three replicas keep one schedule on one ledger: each slot runs on one of
// them only.
func TestHRScheduleRunsEachSlotOnce(t *testing.T) {
	store, err := sqlledger.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer store.Close()
	var mu sync.Mutex
	ran := map[time.Time][]string{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const every = 200 * time.Millisecond
	for _, holder := range []string{"a", "b", "c"} {
		p := &Parts{Ledger: store, Holder: holder, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			hrRan: func(name string, slot time.Time) {
				mu.Lock()
				defer mu.Unlock()
				ran[slot] = append(ran[slot], holder)
			}}
		wg.Add(1)
		go func() { defer wg.Done(); p.scheduleHRSource(ctx, HRSourceRun{Name: "visma", Every: every}) }()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) >= 6 }, 20*time.Second, 10*time.Millisecond)
	cancel()
	wg.Wait()
	for slot, who := range ran {
		require.Len(t, who, 1, "slot %s ran on %v", slot, who)
	}
}
