//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/testbin"
)

// TestFIFOAtCachePaths: a FIFO planted at the cache file or the key file
// makes both the fast front (credhost) and the full CLI (credhost-cli)
// exit with an error that names it, instead of hanging on the open.
func TestFIFOAtCachePaths(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	front := w.fastFront()
	env := []string{"CI_SECRET=" + secret, "CREDHOST_PLUGIN_DIR=" + testbin.Dir()}
	w.token(env) // creates the cache and its key file
	cache := w.cacheInfo().Location
	key := filepath.Join(filepath.Dir(cache), "cache.key")

	run := func(t *testing.T, bin string) (string, int) {
		t.Helper()
		// Generous: the point is that it ends at all.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "token", "--config", cfg, "--scope", scope)
		cmd.Env = append([]string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir}, env...)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("%s hangs on a FIFO (killed after 60s)", filepath.Base(bin))
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v", filepath.Base(bin), err)
		}
		return string(out), ee.ExitCode()
	}
	for _, c := range []struct{ name, path string }{{"cache file", cache}, {"key file", key}} {
		t.Run(c.name, func(t *testing.T) {
			saved := c.path + ".saved"
			if err := os.Rename(c.path, saved); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = os.Remove(c.path); _ = os.Rename(saved, c.path) }()
			if err := syscall.Mkfifo(c.path, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			for _, bin := range []string{front, filepath.Join(filepath.Dir(front), "credhost-cli")} {
				out, code := run(t, bin)
				if code == 0 || !strings.Contains(out, "FIFO") || !strings.Contains(out, c.path) {
					t.Errorf("%s with a FIFO at the %s: exit %d, want an error naming the FIFO %s:\n%s", filepath.Base(bin), c.name, code, c.path, out)
				}
			}
		})
	}
}
