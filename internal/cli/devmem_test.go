package cli

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// tilgang dev sets Go's soft memory limit, unless GOMEMLIMIT does.
func TestBoundDevMemory(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	boundDevMemory()
	require.Equal(t, int64(devGoMemory), debug.SetMemoryLimit(-1))
}

func TestBoundDevMemoryLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	boundDevMemory()
	require.Equal(t, before, debug.SetMemoryLimit(-1))
}
