package main

// The fast front (cmd/credhost/fast, installed as credhost beside the
// full CLI credhost-cli): cache hits are answered without the full CLI,
// everything else is handed to it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/internal/testkit/testbin"
)

// fastFront installs the fast front as credhost and the full CLI as
// credhost-cli in a directory of their own, as the Makefile does, and
// returns the front's path.
func (w *world) fastFront() string {
	w.t.Helper()
	dir := filepath.Join(w.dir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	for src, name := range map[string]string{testbin.Build(w.t, "./cmd/credhost/fast", "credhost-fast"): "credhost", w.cli: "credhost-cli"} {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o755)
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return filepath.Join(dir, "credhost")
}

func TestFastFront(t *testing.T) {
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	front := w.fastFront()
	w.cli = front
	env := []string{"CI_SECRET=" + secret, "CREDHOST_PLUGIN_DIR=" + testbin.Dir()}
	cfg := filepath.Join(w.dir, "config.toml")

	// A miss is handed to the full CLI, which gets the token.
	first, _ := w.token(env)
	// Every output format of a hit is what the full CLI prints.
	for _, output := range []string{"raw", "json", "exec-credential", "claims", "az"} {
		full := w.run(env, "token", "--config", cfg, "--scope", scope, "--output", output, "--log-level", "debug") // debug: the full CLI answers
		fast := w.run(env, "token", "--config", cfg, "--scope", scope, "--output", output)
		if full.code != 0 || fast.code != 0 || full.stdout != fast.stdout {
			t.Fatalf("--output %s: the fast front printed\n%s\nthe full CLI\n%s\n%s", output, fast.stdout, full.stdout, full.stderr)
		}
	}
	// A damaged cache: the front leaves it alone and the full CLI sets it
	// aside with its one warning, then gets a new token.
	path := w.cacheInfo().Location
	if err := os.WriteFile(path, []byte("CHCACHE\n\x01\x00 damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.run(env, "token", "--config", cfg, "--scope", scope)
	if r.code != 0 || strings.Count(r.stderr, "moved_to") != 1 {
		t.Fatalf("damaged cache through the front: exit %d\n%s", r.code, r.stderr)
	}
	first = strings.TrimSpace(r.stdout)
	// A hit needs no full CLI at all: remove it.
	if err := os.Remove(filepath.Join(filepath.Dir(front), "credhost-cli")); err != nil {
		t.Fatal(err)
	}
	n := w.srv.Count("token")
	r = w.run(env, "token", "--config", cfg, "--scope", scope)
	if r.code != 0 || strings.TrimSpace(r.stdout) != first || w.srv.Count("token") != n {
		t.Fatalf("hit without the full CLI: exit %d\n%s", r.code, r.stderr)
	}
	// Anything it cannot answer goes to the full CLI, which is now
	// missing: the error says so.
	for _, args := range [][]string{
		{"token", "--config", cfg, "--scope", scope, "--force-refresh"},
		{"token", "--config", cfg, "--scope", "api://not-cached/.default"},
		{"version"},
	} {
		if r := w.run(env, args...); r.code == 0 || !strings.Contains(r.stderr, "credhost-cli is not installed") {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}
