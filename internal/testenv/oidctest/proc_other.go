//go:build !linux

package oidctest

import "os/exec"

func dieWithTest(*exec.Cmd) {}
