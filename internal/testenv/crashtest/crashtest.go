// Package crashtest runs a test binary again as a child process that a
// test kills with SIGKILL, as a real worker dies, and starts again: the
// crash, restart and replica tests share it. TestMain hands the binary to
// Main, which runs a child's role instead of the tests when the
// environment names one.
package crashtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// roleEnv names the role a child process runs (Main).
const roleEnv = "TILGANG_CHILD_ROLE"

// Main runs, in a child process, the role its environment names, and
// exits with its code; in the test process itself it runs the tests.
func Main(m *testing.M, roles map[string]func() int) {
	if role := os.Getenv(roleEnv); role != "" {
		run, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "crashtest: no child role %q\n", role)
			os.Exit(2)
		}
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// Process is one child process.
type Process struct {
	cmd *exec.Cmd
	// Exited is closed once the process has exited.
	Exited chan struct{}
}

// Start runs the test binary again as role, with env added to the test's
// own environment and its standard error to stderr (os.Stderr when nil).
// The test's cleanup kills it (and continues it first, should it be
// stopped), unless it has exited.
func Start(t testing.TB, role string, env []string, stderr io.Writer) *Process {
	t.Helper()
	if stderr == nil {
		stderr = os.Stderr
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("crashtest: start %s: %v", role, err)
	}
	p := &Process{cmd: cmd, Exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.Exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		p.Kill()
	})
	return p
}

// Kill kills the process with SIGKILL and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.Exited
}

// Stop asks the process to stop (SIGTERM) and waits up to timeout for it;
// one still running then is an error of the test, and killed. It returns
// the exit code (-1 when killed).
func (p *Process) Stop(t testing.TB, timeout time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(timeout):
		t.Errorf("crashtest: the child did not stop on SIGTERM in %s", timeout)
		p.Kill()
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process (SIGSTOP and SIGCONT pause and continue it).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
