// Package npmtest installs npm packages for tests that run real Node.js
// programs (Azurite, the Azure SDK for JavaScript), once per machine,
// into a cache directory under os.TempDir() that later runs and every
// test binary reuse.
//
// Without node or npm, or if the install fails, the test skips and says
// why; with CI=true it fails instead, so CI cannot pass without running
// it.
package npmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// installTimeout only stops a stuck install; nothing asserts its time.
const installTimeout = 5 * time.Minute

// marker, in an install's directory, lists the package specs installed;
// it is written last, so a directory with it is complete.
const marker = ".credhost-npmtest"

var mu sync.Mutex

// Install returns a directory whose node_modules holds specs (pinned
// "name@version" strings), installing them first if no earlier run did.
// Concurrent test binaries each install into a private directory and
// rename it into place; the first rename wins and the others use its
// result, so a half-done install is never seen. name names the cache
// directory. It skips the test (fails it when CI=true) if npm is missing
// or the install fails.
func Install(t testing.TB, name string, specs ...string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	want := strings.Join(specs, "\n")
	dir := filepath.Join(os.TempDir(), "credhost-npm-"+name)
	if installed(dir, want) {
		return dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		Unavailable(t, "npm is not installed: %v", err)
	}
	staging, err := os.MkdirTemp(os.TempDir(), "credhost-npm-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(staging) // a no-op once renamed
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	// --ignore-scripts: the packages tests use are plain JavaScript and
	// need no install scripts, so none of their dependencies' scripts run.
	args := append([]string{"install", "--prefix", staging, "--no-audit", "--no-fund",
		"--ignore-scripts", "--no-save", "--loglevel=error"}, specs...)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.Dir = staging
	t.Logf("npmtest: installing %s into %s (once per machine)", strings.Join(specs, " "), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (gave up after %s)", err, installTimeout)
		}
		Unavailable(t, "cannot install %s with npm: %v\n%s", strings.Join(specs, " "), err, bytes.TrimSpace(out))
	}
	if err := os.WriteFile(filepath.Join(staging, marker), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staging, dir); err != nil && !installed(dir, want) {
		// An older install of other versions is in the way: replace it.
		_ = os.RemoveAll(dir)
		if err := os.Rename(staging, dir); err != nil && !installed(dir, want) {
			t.Fatalf("npmtest: %v", err)
		}
	}
	return dir
}

// Node returns the node binary, skipping the test (failing it when
// CI=true) if there is none.
func Node(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Unavailable(t, "node is not installed: %v", err)
	}
	return node
}

func installed(dir, want string) bool {
	b, err := os.ReadFile(filepath.Join(dir, marker))
	return err == nil && string(b) == want
}

// Unavailable skips the test for a missing tool, or fails it in CI, where
// every tool is expected to be there.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "npmtest: " + fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
