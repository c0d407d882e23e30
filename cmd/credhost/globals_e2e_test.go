package main

// Global flags in any position, the same through the fast front and the
// full CLI, and the fast front's lookup of the full CLI.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

const ccApp = "33333333-3333-4333-8333-333333333333"

// twoProfiles writes profiles default and cc, each a client of its own,
// to F and returns F.
func (w *world) twoProfiles(name string) string {
	w.t.Helper()
	if err := w.srv.AddApp(tenantID, emulator.App{ClientID: ccApp, Secrets: []string{secret}}); err != nil {
		w.t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range []struct{ name, client string }{{"default", clientID}, {"cc", ccApp}} {
		fmt.Fprintf(&b, "[profiles.%s]\nauthority = %q\nclient_id = %q\nchain = [\"clientcreds\"]\nca_file = \"ca.pem\"\n[profiles.%[1]s.clientcreds]\nclient_secret = \"env:CI_SECRET\"\n\n",
			p.name, w.srv.Authority(tenantID), p.client)
	}
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func TestGlobalFlagsAnyPosition(t *testing.T) {
	w := newWorld(t)
	cfg := w.twoProfiles("two.toml")
	front := w.fastFront()
	env := []string{"CI_SECRET=" + secret, "CREDHOST_PLUGIN_DIR=" + testbin.Dir()}
	full := w.cli
	appOf := func(r result) string {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		claims, err := w.srv.VerifyAccessToken(strings.TrimSpace(r.stdout))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(claims["appid"])
	}
	for _, bin := range []struct{ name, path string }{{"fast front", front}, {"full CLI", full}} {
		w.cli = bin.path
		// A miss first (the full CLI answers), then a hit (the front may):
		// every position, every time, the profile named.
		for _, args := range [][]string{
			{"--profile", "cc", "--config", cfg, "token", "--scope", scope},
			{"--config", cfg, "token", "-p", "cc", "--scope", scope},
			{"-p", "cc", "token", "--scope", scope, "--config", cfg},
		} {
			if got := appOf(w.run(env, args...)); got != ccApp {
				t.Fatalf("%s %v: a token of %s, want profile cc's (%s)", bin.name, args, got, ccApp)
			}
		}
		if got := appOf(w.run(env, "--config", cfg, "--profile", "default", "token", "--scope", scope)); got != clientID {
			t.Fatalf("%s: --profile default gave %s", bin.name, got)
		}
		// --config before the verb is the file read.
		r := w.run(env, "--config", cfg, "config", "show", "--output", "json")
		if r.code != 0 || !strings.Contains(r.stdout, cfg) {
			t.Fatalf("%s --config F config show: exit %d, F not among the layers\n%s%s", bin.name, r.code, r.stdout, r.stderr)
		}
		// A value that cannot be honoured is an error wherever it stands,
		// on a cache hit too.
		for _, args := range [][]string{
			{"--log-level", "bogus", "version"},
			{"version", "--log-level", "bogus"},
			{"--log-level", "bogus", "token", "--config", cfg, "--scope", scope},
			{"--log-format", "xml", "token", "--config", cfg, "--scope", scope},
		} {
			r := w.run(env, args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "bogus") && !strings.Contains(r.stderr, "xml") {
				t.Fatalf("%s %v: exit %d, want %d naming the value\n%s", bin.name, args, r.code, exitUsage, r.stderr)
			}
		}
		// A verb's own flag before the verb is not silently dropped.
		if r := w.run(env, "--scope", scope, "token", "--config", cfg); r.code != exitUsage {
			t.Fatalf("%s: a verb flag before the verb: exit %d\n%s", bin.name, r.code, r.stderr)
		}
	}
}

// The fast front looks for credhost-cli next to itself, then on PATH, and
// never relative to the working directory: an empty or "." PATH entry (a
// cloned repository with a credhost-cli in it) is skipped.
func TestFastFrontNeverRunsFromWorkingDirectory(t *testing.T) {
	alone := t.TempDir()
	front := testbin.Copy(t, testbin.Build(t, "./cmd/credhost/fast", "credhost-fast"), alone)
	repo := t.TempDir()
	marker := filepath.Join(repo, "ran")
	if err := os.WriteFile(filepath.Join(repo, "credhost-cli"), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{":/usr/bin:/bin", ".:/usr/bin", "/usr/bin::/bin", "/usr/bin:bin/..:."} {
		cmd := exec.Command(front, "version")
		cmd.Dir = repo
		cmd.Env = []string{noAgent, "PATH=" + path, "HOME=" + repo}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		if _, statErr := os.Stat(marker); statErr == nil {
			t.Fatalf("PATH=%q: the credhost-cli in the working directory ran", path)
		}
		if err == nil || !strings.Contains(errb.String(), "credhost-cli is not installed") {
			t.Fatalf("PATH=%q: %v\n%s", path, err, errb.String())
		}
	}
	// An absolute PATH entry is used.
	cmd := exec.Command(front, "version")
	cmd.Env = []string{noAgent, "PATH=" + repo + ":/usr/bin:/bin", "HOME=" + repo}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("credhost-cli on an absolute PATH entry: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("credhost-cli on an absolute PATH entry did not run")
	}
}

// TestTokenOutputAz: --output az is the JSON of `az account
// get-access-token`, which scripts parse.
func TestTokenOutputAz(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	r := w.run([]string{"CI_SECRET=" + secret, "CREDHOST_PLUGIN_DIR=" + testbin.Dir(), "TZ=Asia/Kolkata"}, "token", "--config", cfg, "--scope", scope, "-o", "az")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if _, err := w.srv.VerifyAccessToken(fmt.Sprint(out["accessToken"])); err != nil {
		t.Fatal(err)
	}
	epoch, ok := out["expires_on"].(float64)
	if !ok || epoch != float64(int64(epoch)) || time.Until(time.Unix(int64(epoch), 0)) < 30*time.Minute {
		t.Fatalf("expires_on %v is not epoch seconds an hour ahead", out["expires_on"])
	}
	ist, _ := time.LoadLocation("Asia/Kolkata")
	local, err := time.ParseInLocation("2006-01-02 15:04:05.000000", fmt.Sprint(out["expiresOn"]), ist)
	if err != nil || local.Unix() != int64(epoch) {
		t.Fatalf("expiresOn %v (%v) is not expires_on in local time", out["expiresOn"], err)
	}
	if out["tenant"] != tenantID || out["tokenType"] != "Bearer" || len(out) != 5 {
		t.Fatalf("az output %v", out)
	}
}
