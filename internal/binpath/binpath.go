// Package binpath finds credhost's own binaries on PATH without ever
// resolving a name against the working directory. An empty PATH entry, "."
// or any other relative entry means "the current directory" to a shell; a
// cloned repository could then supply credhost-cli or a plugin. Go's
// exec.LookPath refuses such results too (exec.ErrDot, since Go 1.19), but
// a GODEBUG setting turns that off, and it pulls in os/exec, which the fast
// front does without.
//
// It imports only the standard library's os and path/filepath.
package binpath

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNotFound is returned when no absolute PATH directory holds name.
var ErrNotFound = errors.New("not found in any absolute PATH directory")

// LookPath returns the first regular, executable file called name in the
// absolute directories of $PATH; relative and empty entries are skipped.
func LookPath(name string) (string, error) {
	return lookIn(os.Getenv("PATH"), name)
}

func lookIn(pathList, name string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && executable(fi) {
			return p, nil
		}
	}
	return "", ErrNotFound
}
