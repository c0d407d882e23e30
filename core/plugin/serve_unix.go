//go:build unix

package plugin

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// parentPoll is how often a plugin checks that its host is still there.
const parentPoll = 250 * time.Millisecond

// watchHost ends the plugin, and the processes it started, when its host
// goes away. go-plugin gives the plugin the host's own stdin, so there is
// no end of file to wait for; instead:
//   - SIGTERM, which a Linux host asks the kernel to send when it dies
//     (procattr_linux.go), or anyone's SIGTERM;
//   - on every Unix, the parent changing: an orphan is re-parented to init
//     or a subreaper. getppid is a cheap system call, a few times a second.
//
// Either way the plugin kills its process group, which the host made it
// the leader of, so its own children go too.
func watchHost() {
	ppid := os.Getppid()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		tick := time.NewTicker(parentPoll)
		defer tick.Stop()
		for {
			select {
			case <-term:
				endGroup()
			case <-tick.C:
				// A parent of 1 from the start is a host that is init
				// itself (a container), or one already gone: either way
				// there is no change to wait for.
				if ppid != 1 && os.Getppid() != ppid {
					endGroup()
				}
			}
		}
	}()
}

// endGroup kills the plugin's process group if the plugin leads one (a
// host of this version makes it so), else only the plugin: a plugin
// started by an older host shares its host's group, which is not ours to
// kill.
func endGroup() {
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(0, syscall.SIGKILL)
	}
	os.Exit(1)
}

// closeExecFD marks the descriptor the host started us from (exec.go)
// close-on-exec, so that the plugin's own children do not inherit it.
func closeExecFD() {
	if fd, err := strconv.Atoi(os.Getenv(execFDEnv)); err == nil && fd > 2 {
		syscall.CloseOnExec(fd)
	}
}
