package cli

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"

	"modernc.org/sqlite"
)

// The memory `tilgang dev` keeps to (README "Measured"). A whole IT
// service's first day (20,000 people) peaked at about 320 MB resident
// without these: most of it SQLite's page cache, which the ledger sizes at
// 64 MiB for its writer and which SQLite's allocator (outside Go's heap)
// keeps once used, the rest Go's heap grown to twice what is live.
const (
	// devSQLiteCache is the most page cache a SQLite connection of dev
	// keeps: the ledger's writer asks for more.
	devSQLiteCache = 16 << 20
	// devGoMemory is Go's soft memory limit (debug.SetMemoryLimit), unless
	// GOMEMLIMIT sets one: near it the collector runs sooner and returns
	// memory to the system. A bigger load still runs.
	devGoMemory = 128 << 20
)

var devSQLiteHook sync.Once

// boundDevMemory sets both limits for this process.
func boundDevMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(devGoMemory)
	}
	// The ledger opens its connections itself; a hook on the driver runs
	// after each has applied the pragmas of its DSN and lowers the cache.
	devSQLiteHook.Do(func() {
		sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, dsn string) error {
			if cacheBytes(dsn) <= devSQLiteCache {
				return nil
			}
			_, err := c.ExecContext(context.Background(), fmt.Sprintf("PRAGMA cache_size = -%d", devSQLiteCache>>10), nil)
			return err
		})
	})
}

var cacheSizeRE = regexp.MustCompile(`_pragma=cache_size\((-?[0-9]+)\)`)

// cacheBytes is the page cache a SQLite DSN asks for: cache_size(-N) is N
// KiB, cache_size(N) N pages (of 4 KiB, SQLite's default); without it
// SQLite's default, 2 MiB.
func cacheBytes(dsn string) int64 {
	m := cacheSizeRE.FindStringSubmatch(dsn)
	if m == nil {
		return 2 << 20
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 2 << 20
	}
	if n < 0 {
		return -n << 10
	}
	return n << 12
}
