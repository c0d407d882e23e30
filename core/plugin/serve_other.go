//go:build !unix

package plugin

import "os"

// watchHost ends the plugin when its host process exits. go-plugin gives
// the plugin the host's own stdin, so there is no end of file to wait for;
// the parent's process handle is waited on instead (Windows does not
// re-parent orphans, so the parent id never changes).
func watchHost() {
	parent, err := os.FindProcess(os.Getppid())
	if err != nil {
		return
	}
	go func() {
		_, _ = parent.Wait()
		os.Exit(1)
	}()
}

// closeExecFD does nothing: hosts pass no descriptor here.
func closeExecFD() {}
