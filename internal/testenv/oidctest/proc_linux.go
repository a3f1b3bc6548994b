package oidctest

import (
	"os/exec"
	"syscall"
)

// dieWithTest ends the provider when the test binary dies without its
// cleanup (a timeout, a kill).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
