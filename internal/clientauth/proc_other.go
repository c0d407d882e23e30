//go:build !unix

package clientauth

import "os/exec"

// killGroup leaves the default (kill the process) where process groups are
// not available; WaitDelay still bounds the wait.
func killGroup(*exec.Cmd) {}
