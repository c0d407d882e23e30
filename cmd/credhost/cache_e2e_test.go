package main

// End-to-end tests of the token cache through the real CLI: many
// processes sharing the encrypted file, hits that start no plugin, and
// the cache verbs.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/credhost/credhost/internal/testkit/redistest"
)

// TestParallelProcessesKeepEveryToken: eight credhost processes at a time,
// each asking for 50 distinct scopes, share one cache file; afterwards
// all 400 tokens are in it, and each cost exactly one IdP request.
func TestParallelProcessesKeepEveryToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 400 processes")
	}
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	const procs, each = 8, 50
	before := w.srv.Count("token")
	var wg sync.WaitGroup
	errs := make(chan string, procs*each)
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := w.run([]string{"CI_SECRET=" + secret}, "token", "--config", filepath.Join(w.dir, "config.toml"),
					"--scope", fmt.Sprintf("api://app-%d-%02d/.default", p, i))
				if r.code != 0 {
					errs <- fmt.Sprintf("process %d scope %d: exit %d: %s", p, i, r.code, r.stderr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	info := w.cacheInfo()
	if info.Tokens != procs*each {
		t.Fatalf("cache holds %d access tokens after %d processes × %d scopes, want %d", info.Tokens, procs, each, procs*each)
	}
	if n := w.srv.Count("token") - before; n != procs*each {
		t.Fatalf("%d token requests for %d distinct scopes", n, procs*each)
	}
	// Every one of them is a hit for a new process: no request, no plugin.
	r := w.run([]string{"CI_SECRET=" + secret}, "token", "--config", filepath.Join(w.dir, "config.toml"),
		"--scope", "api://app-7-49/.default", "--log-level", "debug")
	if r.code != 0 || w.srv.Count("token")-before != procs*each || strings.Contains(r.stderr, "plugin started") {
		t.Fatalf("a cached token was not served from the file (exit %d, %d requests):\n%s", r.code, w.srv.Count("token")-before, r.stderr)
	}
}

func (w *world) cacheInfo(env ...string) cacheInfo {
	w.t.Helper()
	r := w.run(env, "cache", "info", "--config", filepath.Join(w.dir, "config.toml"), "--output", "json")
	if r.code != 0 {
		w.t.Fatalf("cache info: exit %d: %s", r.code, r.stderr)
	}
	var info cacheInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		w.t.Fatalf("cache info output %q: %v", r.stdout, err)
	}
	return info
}

// TestCacheHitStartsNoPlugin: the second process answers from the file
// without starting the plugin or calling the IdP; logout empties the
// cache; the file never holds the token in clear.
func TestCacheHitStartsNoPlugin(t *testing.T) {
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	env := []string{"CI_SECRET=" + secret}
	first, r := w.token(env)
	if !strings.Contains(r.stderr, "plugin started") {
		t.Fatalf("the first call started no plugin:\n%s", r.stderr)
	}
	n := w.srv.Count("token")
	second, r := w.token(env)
	if second != first || w.srv.Count("token") != n || strings.Contains(r.stderr, "plugin started") {
		t.Fatalf("second call: same token %v, token requests %d → %d, stderr:\n%s", second == first, n, w.srv.Count("token"), r.stderr)
	}
	info := w.cacheInfo()
	if info.Backend != "file" || info.Tokens != 1 || !strings.HasPrefix(info.Location, w.dir) {
		t.Fatalf("cache info = %+v", info)
	}
	raw, err := os.ReadFile(info.Location)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), first) || strings.Contains(string(raw), "access_token") {
		t.Fatal("the cache file holds the token in clear")
	}
	if fi, err := os.Stat(filepath.Dir(info.Location)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory mode %v, %v", fi.Mode(), err)
	}

	r = w.run(nil, "accounts", "--config", filepath.Join(w.dir, "config.toml"), "--output", "json")
	var rows []accountJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Profile != "p" || rows[0].Flow != "clientcreds" || rows[0].Tokens != 1 {
		t.Fatalf("accounts = %s (%v)\n%s", r.stdout, err, r.stderr)
	}
	assertNoLeak(t, r.stdout+r.stderr, first)

	if r := w.run(nil, "logout", "--config", filepath.Join(w.dir, "config.toml")); r.code != 0 || !strings.Contains(r.stderr, "signed out of profile p") {
		t.Fatalf("logout: exit %d: %s", r.code, r.stderr)
	}
	if info := w.cacheInfo(); info.Tokens != 0 || info.Entries != 0 {
		t.Fatalf("after logout: %+v", info)
	}
	if _, r := w.token(env); w.srv.Count("token") != n+1 || !strings.Contains(r.stderr, "plugin started") {
		t.Fatal("after logout the token still came from the cache")
	}
}

// TestDamagedCacheAndWrongKey: a damaged cache file is set aside with one
// warning and the call goes on; a cache written with another key is a
// clear error that keeps the file.
func TestDamagedCacheAndWrongKey(t *testing.T) {
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	env := []string{"CI_SECRET=" + secret}
	w.token(env)
	path := w.cacheInfo().Location
	if err := os.WriteFile(path, []byte("CHCACHE\n\x01\x00 this is not what credhost wrote"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, r := w.token(env)
	if !strings.Contains(r.stderr, "moved_to") || strings.Count(r.stderr, `"level":"warn"`) != 1 {
		t.Fatalf("damaged file: want one warning naming where it went:\n%s", r.stderr)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("set-aside files: %v", aside)
	}

	// Another key than the key file's.
	other := "CREDHOST_CACHE_KEY=" + strings.Repeat("ab", 32)
	r = w.run(append(env, other), "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope)
	if r.code == 0 || !strings.Contains(r.stderr, "different key") {
		t.Fatalf("wrong key: exit %d:\n%s", r.code, r.stderr)
	}
	assertNoLeak(t, r.stderr, strings.Repeat("ab", 32))
	if _, r := w.token(env); strings.Contains(r.stderr, "moved_to") {
		t.Fatalf("the right key found the file damaged after a wrong-key run:\n%s", r.stderr)
	}
}

// TestRedisSharedBetweenHosts: two hosts (here two machines' worth of
// credhost processes, each with its own HOME) share a Redis cache; the
// second gets the first one's token without any IdP request.
func TestRedisSharedBetweenHosts(t *testing.T) {
	rs := redistest.Start(t)
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	cfg := filepath.Join(w.dir, "config.toml")
	body, _ := os.ReadFile(cfg)
	body = append(body, []byte(fmt.Sprintf("\n[cache]\nbackend = \"redis\"\nurl = %q\nkey = \"env:FARM_KEY\"\nprefix = \"webfarm:\"\n", rs.URL()))...)
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	key := "FARM_KEY=" + strings.Repeat("k", 32)
	first, r := w.token([]string{"CI_SECRET=" + secret, key})
	n := w.srv.Count("token")
	other := t.TempDir() // another machine: no shared files
	r = w.run([]string{"HOME=" + other, "CI_SECRET=" + secret, key}, "token", "--config", cfg, "--scope", scope, "--log-level", "debug")
	if r.code != 0 || strings.TrimSpace(r.stdout) != first || w.srv.Count("token") != n || strings.Contains(r.stderr, "plugin started") {
		t.Fatalf("second host: exit %d, same token %v, token requests %d → %d:\n%s", r.code, strings.TrimSpace(r.stdout) == first, n, w.srv.Count("token"), r.stderr)
	}
	info := w.cacheInfo(key)
	if info.Backend != "redis" || info.Tokens != 1 || strings.Contains(info.Location, strings.Repeat("k", 32)) {
		t.Fatalf("cache info %+v", info)
	}
	assertNoLeak(t, r.stderr, strings.Repeat("k", 32), first)
}
