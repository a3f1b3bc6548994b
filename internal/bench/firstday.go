package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FirstDayOptions are the settings of FirstDay.
type FirstDayOptions struct {
	Binary   string // the tilgang binary
	Dir      string // an empty working directory
	Policies string // the catalogue to copy (policies/ of the repository)
	People   int
	Log      io.Writer // the worker's and the command line's stderr; nil discards
	// Env is added to the environment of `tilgang dev` (GOMEMLIMIT, say).
	Env []string
}

// FirstDayResult is what FirstDay measured.
type FirstDayResult struct {
	People, Grants int
	// Import is from the start of `tilgang hr import` to its exit;
	// Active from then until every birthright grant is active.
	Import, Active time.Duration
	// WorkerPeak and CLIPeak are the peak resident memory (VmHWM, maxrss)
	// of `tilgang dev` and of `tilgang hr import`.
	WorkerPeak, CLIPeak int64
	// Ledger is the SQLite ledger's size on disk with its WAL (WAL of
	// it), Stream the JetStream store's, AuditRows the rows of the audit
	// chain.
	Ledger, WAL, Stream int64
	AuditRows           int64
}

func (r FirstDayResult) String() string {
	mb := func(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }
	return fmt.Sprintf("people=%d grants=%d import=%s all active=%s | peak RSS worker=%s cli=%s | ledger=%s (WAL %s; %d audit rows) stream=%s",
		r.People, r.Grants, r.Import.Round(100*time.Millisecond), r.Active.Round(100*time.Millisecond),
		mb(r.WorkerPeak), mb(r.CLIPeak), mb(r.Ledger), mb(r.WAL), r.AuditRows, mb(r.Stream))
}

// FirstDay measures the first day as an IT service lives it: `tilgang dev`
// with the catalogue, `tilgang hr import` of o.People people
// (FirstDayPeople), from the start of the import until every birthright
// grant is active, with the real binaries as separate processes.
func FirstDay(ctx context.Context, o FirstDayOptions) (res FirstDayResult, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	people, want := FirstDayPeople(o.People)
	res.People = o.People
	data, err := json.Marshal(people)
	if err != nil {
		return res, err
	}
	file := filepath.Join(o.Dir, "people.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return res, err
	}
	if err := os.CopyFS(filepath.Join(o.Dir, "policies"), os.DirFS(o.Policies)); err != nil {
		return res, fmt.Errorf("copy the catalogue: %w", err)
	}
	natsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	dev := exec.Command(o.Binary, "dev", "--nats-listen", natsAddr, "--http", httpAddr)
	dev.Dir, dev.Stdout, dev.Stderr = o.Dir, o.Log, o.Log
	dev.Env = append(os.Environ(), o.Env...)
	if err := dev.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = dev.Process.Signal(syscall.SIGINT)
		if werr := dev.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("tilgang dev: %w", werr)
		}
	}()
	if err := waitFor(ctx, func() (bool, error) {
		r, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK, nil
	}); err != nil {
		return res, fmt.Errorf("tilgang dev ready: %w", err)
	}

	start := time.Now()
	imp := exec.CommandContext(ctx, o.Binary, "hr", "import", file, "--output", "json", "--wait", "60m")
	var out strings.Builder
	imp.Dir, imp.Stdout, imp.Stderr = o.Dir, &out, o.Log
	imp.Env = append(os.Environ(), "TILGANG_NATS=nats://"+natsAddr, "TILGANG_KEY="+filepath.Join(o.Dir, ".tilgang", "keys", "dev.nk"))
	if err := imp.Run(); err != nil {
		return res, fmt.Errorf("tilgang hr import: %w\n%s", err, out.String())
	}
	res.Import = time.Since(start)
	if ru, ok := imp.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CLIPeak = ru.Maxrss << 10 // KiB on Linux
	}
	var sum struct{ Accepted int }
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil || sum.Accepted != o.People {
		return res, fmt.Errorf("tilgang hr import: want %d accepted, got %q", o.People, out.String())
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(o.Dir, ".tilgang", "ledger.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return res, err
	}
	defer db.Close()
	if err := waitFor(ctx, func() (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM grants WHERE state = 'active'`).Scan(&n)
		res.Grants = n
		return n >= want, err
	}); err != nil {
		return res, fmt.Errorf("wait for %d active grants (%d so far): %w", want, res.Grants, err)
	}
	res.Active = time.Since(start)
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit`).Scan(&res.AuditRows); err != nil {
		return res, err
	}
	if res.WorkerPeak, err = peakRSS(dev.Process.Pid); err != nil {
		return res, err
	}
	for _, f := range []string{"ledger.db", "ledger.db-wal"} {
		if fi, err := os.Stat(filepath.Join(o.Dir, ".tilgang", f)); err == nil {
			res.Ledger += fi.Size()
			if f == "ledger.db-wal" {
				res.WAL = fi.Size()
			}
		}
	}
	res.Stream, err = dirSize(filepath.Join(o.Dir, ".tilgang", "nats"))
	return res, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// peakRSS is a process's peak resident memory (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak memory of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("peak memory: no VmHWM in /proc/<pid>/status")
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
