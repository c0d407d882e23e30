package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/credhost/credhost/internal/binpath"
)

// BinaryPrefix is the name every plugin binary starts with.
const BinaryPrefix = "credhost-plugin-"

// BinaryName returns the file name of flow's plugin on this OS.
func BinaryName(flow string) string {
	if runtime.GOOS == "windows" {
		return BinaryPrefix + flow + ".exe"
	}
	return BinaryPrefix + flow
}

// SearchDirs returns where plugins are looked for, in order: the configured
// directories, then the directory of the running executable. PATH is
// searched after these by Find.
func SearchDirs(configured ...string) []string {
	var dirs []string
	for _, d := range configured {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	return dirs
}

// ErrPluginNotFound is wrapped by Find when no binary exists.
var ErrPluginNotFound = errors.New("plugin not found")

// Find returns the path of flow's plugin binary: the first executable
// regular file named credhost-plugin-<flow> in dirs, then in the absolute directories of PATH.
func Find(flow string, dirs []string) (string, error) {
	name := BinaryName(flow)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	// Only absolute PATH entries: a plugin never comes from the working
	// directory (an empty or "." entry), which a cloned repository fills.
	if p, err := binpath.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: no %s in %s or on PATH", ErrPluginNotFound, name, strings.Join(dirs, ", "))
}
