//go:build !unix

package plugin

import "os/exec"

// setProcAttr leaves the command as it is: Windows has no process groups
// to signal (a job object would be its equivalent); Serve's parent watch
// ends a plugin whose host is gone.
func setProcAttr(*exec.Cmd) {}

// killGroup does nothing here: go-plugin kills the plugin process itself.
func killGroup(int) error { return nil }
