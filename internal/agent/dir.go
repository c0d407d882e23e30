package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables of the agent.
const (
	// EnvAgent set to "off" (or "0", "false") keeps every caller
	// in-process: no agent is started or used.
	EnvAgent = "CREDHOST_AGENT"
	// EnvIdleTimeout is the default of credhost agent --idle-timeout.
	EnvIdleTimeout = "CREDHOST_AGENT_IDLE_TIMEOUT"
	// EnvDir replaces the runtime directory (tests, several agents).
	EnvDir = "CREDHOST_AGENT_DIR"
)

// Off says whether the environment turns the agent off.
func Off(getenv func(string) string) bool {
	switch getenv(EnvAgent) {
	case "off", "0", "false", "no":
		return true
	}
	return !Supported
}

// Dir is the agent's private runtime directory: $CREDHOST_AGENT_DIR, else
// $XDG_RUNTIME_DIR/credhost, else credhost/agent under the user cache
// directory. It holds the socket, the start lock and the log.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "credhost"), nil
	}
	base := getenv("XDG_CACHE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("agent: neither XDG_RUNTIME_DIR nor HOME is set")
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "credhost", "agent"), nil
}

// Socket is the socket's path in dir.
func Socket(dir string) string { return filepath.Join(dir, "agent.sock") }

// EnsureDir creates dir 0700 (and its parents) and checks it is private.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: runtime directory: %w", err)
	}
	return checkPrivate(dir, true)
}

// checkPrivate refuses a path that another uid owns, or that others may
// write to (a directory: anyone but the owner may enter). Anyone who
// could replace the socket could answer for the agent; anyone who could
// enter the directory could try to connect.
func checkPrivate(path string, isDir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	uid, ok := ownerUID(fi)
	if !ok {
		return nil // no uids here (the agent is off on such systems anyway)
	}
	if uid != os.Getuid() {
		return fmt.Errorf("agent: %s is owned by uid %d, not by this user (uid %d): refusing it", path, uid, os.Getuid())
	}
	switch {
	case isDir && !fi.IsDir():
		return fmt.Errorf("agent: %s is not a directory: refusing it", path)
	case isDir && fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("agent: %s has mode %v; it must be 0700: refusing it", path, fi.Mode().Perm())
	case !isDir && fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("agent: %s is not a socket: refusing it", path)
	case !isDir && fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("agent: %s has mode %v; it must be 0600: refusing it", path, fi.Mode().Perm())
	}
	return nil
}
