package cli

import (
	"os"
	"runtime/debug"
)

// devGoMemory is Go's soft memory limit in `tilgang dev` (debug.SetMemoryLimit),
// unless GOMEMLIMIT sets one: near it the collector runs sooner and returns
// memory to the system; a bigger load still runs. Without it Go's heap grew
// to twice what was live on a first day of 20,000 people (README
// "Measured"); dev's SQLite page cache is bounded by app.DevSQLiteCache.
const devGoMemory = 128 << 20

// boundDevMemory sets Go's soft memory limit for this process.
func boundDevMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(devGoMemory)
	}
}
