package main

// The other people-facing flows through the real CLI and plugin processes:
// authcode with a real headless Chromium, authcode falling through to
// device code where there is no browser, and ROPC.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// laptopWorld is a world with the authcode, devicecode and ropc plugins and
// an emulator that signs alice in on its pages and approves device codes.
func laptopWorld(t *testing.T, chain, extra string) *world {
	t.Helper()
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	for _, p := range []string{"authcode", "devicecode", "ropc"} {
		testbin.Build(t, "./plugins/"+p, "credhost-plugin-"+p)
	}
	srv := emulatortest.StartOptions(t, emulator.Options{Config: emulator.DefaultConfig(), DeviceCodeInterval: time.Second,
		AutoApproveAfter: time.Second, AutoSignIn: emulator.DefaultUsername})
	w := &world{t: t, srv: srv, cli: cli, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("[profiles.laptop]\nauthority = %q\nclient_id = %q\nchain = %s\nca_file = \"ca.pem\"\ntimeout = \"90s\"\n%s",
		srv.Authority(tenantID), emulator.DefaultPublicClientID, chain, extra)
	if err := os.WriteFile(filepath.Join(w.dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) laptopToken(env []string, args ...string) result {
	w.t.Helper()
	return w.run(env, append([]string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--output", "json", "--log-level", "info"}, args...)...)
}

func TestAuthcodeWithChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		requireTool(t, "chromium")
	}
	w := laptopWorld(t, `["authcode", "devicecode"]`, "")
	// The browser: headless Chromium in its own process group, killed at
	// the end. --ignore-certificate-errors only because the one site it
	// visits is the loopback emulator, whose CA this throwaway profile
	// does not know.
	dir, err := os.MkdirTemp("", "credhost-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	browser := filepath.Join(dir, "browser")
	script := fmt.Sprintf("#!/bin/sh\nsetsid %q --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "+
		"--disable-component-update --disable-sync --ignore-certificate-errors --user-data-dir=%q \"$1\" >%q 2>&1 </dev/null &\necho $! >%q\n",
		chromium, filepath.Join(dir, "profile"), filepath.Join(dir, "log"), pidFile)
	if err := os.WriteFile(browser, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
		time.AfterFunc(time.Second, func() { _ = os.RemoveAll(dir) })
	})
	r := w.laptopToken([]string{"BROWSER=" + browser})
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "authcode"`) || w.srv.Count("devicecode") != 0 {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("authcode with Chromium: exit %d\n%s\n%s\nchromium:\n%s", r.code, r.stdout, r.stderr, log)
	}
	// Silent next time: no browser, no new authorization code.
	codes := w.srv.Count("token:authorization_code")
	if r := w.laptopToken(nil, "--force-refresh"); r.code != 0 || w.srv.Count("token:authorization_code") != codes || !strings.Contains(r.stdout, `"flow": "authcode"`) {
		t.Fatalf("second call: exit %d, authorization codes %d → %d\n%s", r.code, codes, w.srv.Count("token:authorization_code"), r.stderr)
	}
}

func TestHeadlessAuthcodeFallsThroughToDeviceCode(t *testing.T) {
	w := laptopWorld(t, `["authcode", "devicecode"]`, "")
	r := w.laptopToken(nil) // PATH, HOME only: no DISPLAY, no BROWSER
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "devicecode"`) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`"flow":"authcode"`, `"kind":"unavailable"`, "no browser", "To sign in"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if w.srv.Count("authorize") != 0 {
		t.Error("an authorization request went out with no browser to show it")
	}
}

func TestROPCEndToEnd(t *testing.T) {
	w := laptopWorld(t, `["ropc"]`, "[profiles.laptop.ropc]\nusername = \""+emulator.DefaultUsername+"\"\npassword = \"env:ROPC_PASSWORD\"\n")
	r := w.laptopToken([]string{"ROPC_PASSWORD=" + emulator.DefaultPassword})
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "ropc"`) || !strings.Contains(r.stderr, "deprecated") {
		t.Fatalf("ropc: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertNoLeak(t, r.stdout+r.stderr, emulator.DefaultPassword)
	// A wrong password where nobody is signed in yet (a refresh token
	// would still sign the user in silently).
	r = w.laptopToken([]string{"ROPC_PASSWORD=wrong-password-canary", "HOME=" + t.TempDir()})
	if r.code != exitFailed || !strings.Contains(r.stderr, "AADSTS50126") {
		t.Fatalf("wrong password: exit %d\n%s", r.code, r.stderr)
	}
	assertNoLeak(t, r.stdout+r.stderr, "wrong-password-canary")
}
