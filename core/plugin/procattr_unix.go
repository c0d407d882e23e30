//go:build unix && !linux

package plugin

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the plugin the leader of a process group of its own,
// so that killGroup reaches the children it starts too. There is no
// parent-death signal here: Serve's parent watch (serve.go) ends a plugin
// whose host is gone.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	if pid <= 0 {
		return nil
	}
	return syscall.Kill(-pid, syscall.SIGKILL)
}
