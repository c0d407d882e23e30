package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/credhost/credhost/core/config"
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

// InstallDir is where an installation keeps its plugins, relative to the
// directory of its credhost binaries: `make install PREFIX=P` puts
// credhost and credhost-cli in P/bin and the plugins in P/libexec/credhost.
var InstallDir = filepath.Join("..", "libexec", "credhost")

// PluginDirs returns where plugin binaries are looked for, in order; the
// CLI (run, plugins list) and the sdk use this one list, so both find the
// same binary:
//
//  1. explicit: --plugin-dir, sdk Options.PluginDirs;
//  2. $CREDHOST_PLUGIN_DIR;
//  3. the config's [plugins] dir (relative to its file);
//  4. the running program's directory and its InstallDir;
//  5. the InstallDir of the credhost-cli (else credhost) found on PATH,
//     so a program using the sdk finds what `make install` installed;
//  6. the PATH.
//
// Relative directories from PATH are skipped (as exec.LookPath refuses
// them since Go 1.19): a plugin is never found relative to the working
// directory, where a cloned repository could have planted one. Explicit
// and $CREDHOST_PLUGIN_DIR directories the user gave are made absolute.
// file may be nil; getenv nil means os.Getenv.
func PluginDirs(file *config.File, getenv func(string) string, explicit ...string) []string {
	if getenv == nil {
		getenv = os.Getenv
	}
	var dirs []string
	add := func(d string) {
		if d == "" || !filepath.IsAbs(d) {
			return
		}
		d = filepath.Clean(d)
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	abs := func(d string) string {
		if d == "" {
			return ""
		}
		a, err := filepath.Abs(d)
		if err != nil {
			return ""
		}
		return a
	}
	for _, d := range explicit {
		add(abs(d))
	}
	add(abs(getenv(config.EnvPluginDir)))
	if file != nil {
		if d := file.Plugins.Dir.Raw; d != "" {
			if !filepath.IsAbs(d) && file.Path != "" {
				d = filepath.Join(filepath.Dir(file.Path), d)
			}
			add(d)
		}
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		add(filepath.Dir(exe))
		add(filepath.Join(filepath.Dir(exe), InstallDir))
	}
	path := filepath.SplitList(getenv("PATH"))
	for _, cli := range []string{"credhost-cli", "credhost"} {
		if p := findIn(path, cli); p != "" {
			if resolved, err := filepath.EvalSymlinks(p); err == nil {
				p = resolved
			}
			add(filepath.Join(filepath.Dir(p), InstallDir))
			break
		}
	}
	for _, d := range path {
		add(d)
	}
	return dirs
}

// ErrPluginNotFound is wrapped by Find when no binary exists.
var ErrPluginNotFound = errors.New("plugin not found")

// Find returns the path of flow's plugin binary: the first executable
// regular file named credhost-plugin-<flow> in dirs (see PluginDirs).
func Find(flow string, dirs []string) (string, error) {
	name := BinaryName(flow)
	if p := findIn(dirs, name); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%w: no %s in %s (the PATH included); set %s or [plugins] dir, or install with make install", ErrPluginNotFound, name, strings.Join(dirs, ", "), config.EnvPluginDir)
}

// findIn returns the first executable regular file name in an absolute
// directory of dirs, or "".
func findIn(dirs []string, name string) string {
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}
