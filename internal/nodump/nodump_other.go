//go:build !unix

package nodump

// enable does nothing: Windows writes no core files by default, and a
// process of the same user may open another with PROCESS_VM_READ; only a
// different user, or a protected process, keeps it out.
func enable() error { return nil }
