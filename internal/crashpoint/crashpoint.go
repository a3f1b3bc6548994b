// Package crashpoint lets the crash tests kill the process at a named point
// (mid-batch, after a commit before the ack, mid-operation) with SIGKILL,
// the way a power cut or the OOM killer would. It is inert unless the
// environment variable TILGANG_CRASHPOINT names a point, as "point:n" (the
// n-th time the point is passed). TILGANG_PAUSEPOINT does the same with
// SIGSTOP, for the tests of a replica that wakes up after losing its lease.
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	point      string
	at         int64
	count      atomic.Int64
	pausePoint string
	pauseAt    int64
	pauseCount atomic.Int64
)

func init() {
	point, at = parse(os.Getenv("TILGANG_CRASHPOINT"))
	pausePoint, pauseAt = parse(os.Getenv("TILGANG_PAUSEPOINT"))
}

func parse(v string) (string, int64) {
	name, n, ok := strings.Cut(v, ":")
	if !ok {
		return "", 0
	}
	k, err := strconv.ParseInt(n, 10, 64)
	if err != nil || k < 1 {
		return "", 0
	}
	return name, k
}

// Pause stops the process (SIGSTOP, as a debugger or a frozen VM would)
// when TILGANG_PAUSEPOINT names this point and this is its n-th pass; it
// goes on when someone sends SIGCONT.
func Pause(name string) {
	if pausePoint == "" || name != pausePoint {
		return
	}
	if pauseCount.Add(1) == pauseAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
}

// Here kills the process when it is the configured point's n-th pass.
func Here(name string) {
	if point == "" || name != point {
		return
	}
	if count.Add(1) == at {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns: the signal is on its way
	}
}
