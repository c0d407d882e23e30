//go:build unix && !linux

package nodump

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// enable sets the core limit only: macOS and the BSDs keep a same-user
// debugger out by their own means (macOS's hardened runtime, the BSDs'
// security.bsd.unprivileged_proc_debug), which a process cannot ask for.
func enable() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("disable core dumps: %w", err)
	}
	return nil
}
