package plugin

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the plugin the leader of a process group of its own,
// so that killGroup reaches the children it starts too, and asks the
// kernel to send it SIGTERM when the host thread that started it dies
// (the host is SIGKILLed, or exits without Close). A plugin built with
// this Serve answers SIGTERM by killing its whole group (serve.go); an
// older one dies of it. The "thread" matters: see startLocked in
// process.go.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
}

// killGroup sends SIGKILL to the process group led by pid: the plugin and
// every child it started that did not leave the group.
func killGroup(pid int) error {
	if pid <= 0 {
		return nil
	}
	return syscall.Kill(-pid, syscall.SIGKILL)
}
