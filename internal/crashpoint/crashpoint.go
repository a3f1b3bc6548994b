// Package crashpoint lets the crash tests kill the process at a named point
// (mid-batch, after a commit before the ack, mid-operation) with SIGKILL,
// the way a power cut or the OOM killer would. It is inert unless the
// environment variable TILGANG_CRASHPOINT names a point, as "point:n" (the
// n-th time the point is passed).
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	point string
	at    int64
	count atomic.Int64
)

func init() {
	v := os.Getenv("TILGANG_CRASHPOINT")
	if v == "" {
		return
	}
	name, n, ok := strings.Cut(v, ":")
	if !ok {
		return
	}
	k, err := strconv.ParseInt(n, 10, 64)
	if err != nil || k < 1 {
		return
	}
	point, at = name, k
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
