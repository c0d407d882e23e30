package agent

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// Supported says whether this OS has the agent: it relies on SO_PEERCRED
// to check who connects.
const Supported = true

func ownerUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// PeerUID is the uid of the process at the other end of c.
func PeerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix connection (%T)", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return int(cred.Uid), nil
}

// LockDir takes dir's start lock, so that two agents started at once do
// not both listen: the second one fails here.
func LockDir(dir string) (func(), error) {
	f, err := os.OpenFile(dir+"/agent.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("agent: another agent is running in %s", dir)
	}
	return func() { f.Close() }, nil
}

// detach makes cmd a session leader: the terminal's signals (Ctrl-C in
// the shell that ran the first credhost) do not reach the agent.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
