package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Environment variables that decide whether a browser can be used. The
// host passes them to plugins (core/plugin/process.go passEnv).
const (
	envBrowser       = "BROWSER"
	envDisplay       = "DISPLAY"
	envWayland       = "WAYLAND_DISPLAY"
	envSSHConnection = "SSH_CONNECTION"
	envSSHTTY        = "SSH_TTY"
)

// hintNoBrowser tells the user what to do when no browser can be used.
const hintNoBrowser = "sign in with the devicecode flow instead (put it after authcode in the profile's chain), " +
	"or set BROWSER (or the browser option) to a command that opens a URL"

// environ is what browser detection looks at; tests give their own, so
// they need no process-wide environment changes.
type environ struct {
	goos     string
	getenv   func(string) string
	lookPath func(string) (string, error)
}

// browserCmd is a command that opens a URL: argv, with the URL appended
// unless an argument holds the %s placeholder.
type browserCmd struct {
	argv []string
}

// errNoBrowser is wrapped by every reason findBrowser gives.
var errNoBrowser = errors.New("no browser")

// findBrowser decides, without starting anything or touching the network,
// which command opens the sign-in page here. override (the browser option)
// wins, then $BROWSER (a list like xdg-open reads: commands separated by
// ':', or ';' on Windows, the first one found used). Without either, an
// SSH session has no browser the user can see, whatever DISPLAY says;
// otherwise the platform's opener is used: xdg-open in a graphical session
// (DISPLAY or WAYLAND_DISPLAY) on Linux and the BSDs, open on macOS,
// rundll32's URL handler on Windows. The error says why there is none.
func findBrowser(env environ, override string) (browserCmd, error) {
	if s := strings.TrimSpace(override); s != "" {
		if cmd, ok := parseBrowserList(env, s); ok {
			return cmd, nil
		}
		return browserCmd{}, fmt.Errorf("%w: the browser option names no command found on PATH (%s)", errNoBrowser, s)
	}
	if s := strings.TrimSpace(env.getenv(envBrowser)); s != "" {
		if cmd, ok := parseBrowserList(env, s); ok {
			return cmd, nil
		}
		return browserCmd{}, fmt.Errorf("%w: BROWSER names no command found on PATH (%s)", errNoBrowser, s)
	}
	if env.getenv(envSSHConnection) != "" || env.getenv(envSSHTTY) != "" {
		return browserCmd{}, fmt.Errorf("%w: this is an SSH session and BROWSER is not set", errNoBrowser)
	}
	switch env.goos {
	case "windows":
		// rundll32 ships with Windows; the URL goes to the default browser.
		return browserCmd{argv: []string{"rundll32", "url.dll,FileProtocolHandler"}}, nil
	case "darwin":
		if p, err := env.lookPath("open"); err == nil {
			return browserCmd{argv: []string{p}}, nil
		}
		return browserCmd{}, fmt.Errorf("%w: open is not on PATH and BROWSER is not set", errNoBrowser)
	default:
		if env.getenv(envDisplay) == "" && env.getenv(envWayland) == "" {
			return browserCmd{}, fmt.Errorf("%w: no DISPLAY/WAYLAND_DISPLAY and BROWSER is not set", errNoBrowser)
		}
		if p, err := env.lookPath("xdg-open"); err == nil {
			return browserCmd{argv: []string{p}}, nil
		}
		return browserCmd{}, fmt.Errorf("%w: xdg-open is not on PATH and BROWSER is not set", errNoBrowser)
	}
}

// parseBrowserList returns the first usable command of a BROWSER-style
// list. An entry that is itself an executable path is taken whole (so a
// path may hold spaces); otherwise it is split at spaces into a command
// and its arguments. Shell quoting is not interpreted.
func parseBrowserList(env environ, list string) (browserCmd, bool) {
	sep := ":"
	if env.goos == "windows" {
		sep = ";"
	}
	for entry := range strings.SplitSeq(list, sep) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := env.lookPath(entry); err == nil {
			return browserCmd{argv: []string{p}}, true
		}
		argv := strings.Fields(entry)
		if p, err := env.lookPath(argv[0]); err == nil {
			argv[0] = p
			return browserCmd{argv: argv}, true
		}
	}
	return browserCmd{}, false
}

// command returns the command line that opens url.
func (b browserCmd) command(url string) []string {
	argv := make([]string, 0, len(b.argv)+1)
	placed := false
	for _, a := range b.argv {
		if strings.Contains(a, "%s") {
			a, placed = strings.ReplaceAll(a, "%s", url), true
		}
		argv = append(argv, a)
	}
	if !placed {
		argv = append(argv, url)
	}
	return argv
}

// name is the command, for logs and messages; it never holds the URL.
func (b browserCmd) name() string { return b.argv[0] }

// open starts the browser on url and returns a channel that receives the
// command's exit (nil for status 0) once. The command is not tied to ctx
// and is not killed: it may be the user's browser, which outlives the
// sign-in; a goroutine reaps it. Its output is discarded, since the
// plugin's stderr is its log channel to the host.
func (b browserCmd) open(url string) (<-chan error, error) {
	argv := b.command(url)
	//nolint:gosec // The command is the user's browser setting, by design.
	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}
