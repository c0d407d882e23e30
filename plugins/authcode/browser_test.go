package main

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestFindBrowser(t *testing.T) {
	t.Parallel()
	onPath := map[string]string{"xdg-open": "/usr/bin/xdg-open", "open": "/usr/bin/open", "firefox": "/usr/bin/firefox",
		"/opt/My Browser/browser": "/opt/My Browser/browser"}
	lookPath := func(name string) (string, error) {
		if p, ok := onPath[name]; ok {
			return p, nil
		}
		return "", exec.ErrNotFound
	}
	const u = "https://login.example/authorize?a=1&b=2"
	for _, tc := range []struct {
		name, goos, override string
		env                  map[string]string
		want                 []string // command line for u; nil: no browser
		reason               string
	}{
		{"x11", "linux", "", map[string]string{envDisplay: ":0"}, []string{"/usr/bin/xdg-open", u}, ""},
		{"wayland on freebsd", "freebsd", "", map[string]string{envWayland: "wayland-0"}, []string{"/usr/bin/xdg-open", u}, ""},
		{"headless", "linux", "", nil, nil, "no DISPLAY/WAYLAND_DISPLAY and BROWSER is not set"},
		{"no xdg-open", "linux", "", map[string]string{envDisplay: ":0", "PATHLESS": "1"}, nil, "xdg-open is not on PATH"},
		{"ssh with X forwarding", "linux", "", map[string]string{envDisplay: "localhost:10.0", envSSHConnection: "a b c d"}, nil, "SSH session"},
		{"ssh on macos", "darwin", "", map[string]string{envSSHTTY: "/dev/ttys001"}, nil, "SSH session"},
		{"macos", "darwin", "", nil, []string{"/usr/bin/open", u}, ""},
		{"windows", "windows", "", nil, []string{"rundll32", "url.dll,FileProtocolHandler", u}, ""},
		{"BROWSER over ssh", "linux", "", map[string]string{envBrowser: "firefox", envSSHConnection: "a b c d"}, []string{"/usr/bin/firefox", u}, ""},
		{"BROWSER with args", "linux", "", map[string]string{envBrowser: "firefox --new-window"}, []string{"/usr/bin/firefox", "--new-window", u}, ""},
		{"BROWSER with %s", "linux", "", map[string]string{envBrowser: "firefox -url=%s --x"}, []string{"/usr/bin/firefox", "-url=" + u, "--x"}, ""},
		{"BROWSER list", "linux", "", map[string]string{envBrowser: "chrome:firefox"}, []string{"/usr/bin/firefox", u}, ""},
		{"BROWSER path with a space", "linux", "", map[string]string{envBrowser: "/opt/My Browser/browser"}, []string{"/opt/My Browser/browser", u}, ""},
		{"BROWSER not found", "linux", "", map[string]string{envBrowser: "chrome", envDisplay: ":0"}, nil, "BROWSER names no command found on PATH (chrome)"},
		{"option wins", "linux", "firefox --private-window", map[string]string{envBrowser: "chrome"}, []string{"/usr/bin/firefox", "--private-window", u}, ""},
		{"option not found", "linux", "chrome", map[string]string{envDisplay: ":0"}, nil, "the browser option names no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lp := lookPath
			if tc.env["PATHLESS"] != "" {
				lp = func(string) (string, error) { return "", exec.ErrNotFound }
			}
			b, err := findBrowser(environ{goos: tc.goos, getenv: func(k string) string { return tc.env[k] }, lookPath: lp}, tc.override)
			if tc.want == nil {
				if !errors.Is(err, errNoBrowser) || !strings.Contains(err.Error(), tc.reason) || !strings.HasPrefix(err.Error(), "no browser: ") {
					t.Fatalf("err = %v, want %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.command(u); !slices.Equal(got, tc.want) {
				t.Errorf("command %q, want %q", got, tc.want)
			}
		})
	}
}
