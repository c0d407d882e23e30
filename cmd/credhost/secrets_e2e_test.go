package main

// Secrets end to end: the real CLI and plugin processes at trace level,
// for every flow that runs here without outside tools (clientcreds with
// a secret and with a signed assertion, ropc with a password, devicecode
// with its refresh token; authcode needs a browser, iwa a KDC and obo a
// web API: their own e2e tests check their output for leaks). Every
// secret used and every token issued (read back from the decrypted
// cache) must be absent from all output, all error text, the raw cache
// file, and the argv and environment of every plugin process, watched in
// /proc while the calls run. Cache files and directories must be 0600
// and 0700.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credhost/credhost/core/store/file"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

func TestSecretsNeverInClear(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("watches plugin processes in /proc")
	}
	w := laptopWorld(t, `["devicecode"]`, "")
	testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	const password = emulator.DefaultPassword
	key, certPEM, _ := newCert(t, "credhost-secrets")
	der := certDER(t, certPEM)
	const certApp = "33333333-3333-4333-8333-333333333333"
	if err := w.srv.AddApp(tenantID, emulator.App{ClientID: certApp, Certificates: []string{string(certPEM)}}); err != nil {
		t.Fatal(err)
	}
	assertion := signAssertion(t, key, der, certApp, w.srv.Authority(tenantID)+"/oauth2/v2.0/token")
	if err := os.WriteFile(filepath.Join(w.dir, "assertion.jwt"), []byte(assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(w.dir, "state", "credhost")
	cfg := fmt.Sprintf(`[cache]
path = %q

[profiles.laptop]
authority = %[2]q
client_id = %[3]q
chain = ["devicecode"]
ca_file = "ca.pem"

[profiles.ropc]
authority = %[2]q
client_id = %[3]q
chain = ["ropc"]
ca_file = "ca.pem"
[profiles.ropc.ropc]
username = %[4]q
password = "env:ROPC_PASSWORD"

[profiles.ci]
authority = %[2]q
client_id = %[5]q
chain = ["clientcreds"]
ca_file = "ca.pem"
[profiles.ci.clientcreds]
client_secret = "env:CI_SECRET"

[profiles.assert]
authority = %[2]q
client_id = %[6]q
chain = ["clientcreds"]
ca_file = "ca.pem"
[profiles.assert.clientcreds]
client_assertion = "file:assertion.jwt"
`, filepath.Join(cacheDir, "cache.bin"), w.srv.Authority(tenantID), emulator.DefaultPublicClientID, emulator.DefaultUsername, clientID, certApp)
	cfgPath := filepath.Join(w.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	env := []string{"CI_SECRET=" + secret, "ROPC_PASSWORD=" + password}
	var (
		output  bytes.Buffer // every stdout and stderr, but the token printed on stdout
		watched procWatch
		tokens  []string
	)
	for _, profile := range []string{"ci", "assert", "ropc", "laptop", "laptop"} {
		args := []string{"token", "--config", cfgPath, "--profile", profile, "--scope", scope, "--log-level", "trace", "--force-refresh"}
		if profile == "laptop" && len(tokens) == 4 {
			args = args[:len(args)-1] // the second laptop call: silent, by refresh token from the cache
		}
		stdout, stderr, code := watched.run(t, w, env, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", profile, code, stderr)
		}
		tok := strings.TrimSpace(stdout)
		if _, err := w.srv.VerifyAccessToken(tok); err != nil {
			t.Fatalf("%s: not a token: %v", profile, err)
		}
		tokens = append(tokens, tok)
		output.WriteString(stderr)
	}
	// Failing calls too, with an empty cache of their own (a refresh
	// token would answer ropc silently): their error text must not carry
	// the wrong secret.
	badCfg := filepath.Join(w.dir, "bad.toml")
	if err := os.WriteFile(badCfg, []byte(strings.Replace(cfg, "cache.bin", "bad.bin", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	badEnv := []string{"CI_SECRET=wrong-" + secret, "ROPC_PASSWORD=wrong-" + password}
	for _, profile := range []string{"ci", "ropc"} {
		stdout, stderr, code := watched.run(t, w, badEnv, "token", "--config", badCfg, "--profile", profile, "--scope", "api://other/.default", "--log-level", "trace", "--force-refresh")
		if code == 0 {
			t.Fatalf("%s with a wrong secret succeeded", profile)
		}
		output.WriteString(stdout + stderr)
	}
	if watched.seen() == 0 {
		t.Fatal("no plugin process was seen in /proc during the calls")
	}

	// Tokens and refresh tokens held in the cache, decrypted.
	cached := cachedSecrets(t, filepath.Join(cacheDir, "cache.bin"))
	if len(cached) == 0 {
		t.Fatal("no token found in the decrypted cache")
	}
	raw, err := os.ReadFile(filepath.Join(cacheDir, "cache.bin"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"client secret": secret, "wrong client secret": "wrong-" + secret, "password": password,
		"wrong password": "wrong-" + password, "client assertion": assertion}
	for i, tok := range tokens {
		secrets["printed access token "+strconv.Itoa(i)] = tok
	}
	for i, s := range cached {
		secrets["cached secret "+strconv.Itoa(i)] = s
	}
	places := map[string]string{"output and errors": output.String(), "cache file": string(raw), "plugin argv and environment": watched.text()}
	for what, s := range secrets {
		for where, text := range places {
			if strings.Contains(text, s) {
				t.Errorf("%s (%d chars) appears in clear in the %s", what, len(s), where)
			}
		}
	}
	if !strings.Contains(output.String(), `"level":"trace"`) && !strings.Contains(output.String(), `"level":"debug"`) {
		t.Error("the runs logged nothing at debug or trace level: the test checks nothing")
	}

	// Modes: every file of the cache dir (cache, key, locks) 0600, every
	// directory 0700.
	n := 0
	err = filepath.WalkDir(cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("only %d entries in the cache dir; want at least the dir, cache file and key file", n)
	}
}

// cachedSecrets opens the cache file with its key file and returns every
// "secret" (access, refresh and id tokens) of every MSAL cache blob, and
// every access token the L1 cache holds.
func cachedSecrets(t *testing.T, path string) []string {
	t.Helper()
	st, err := file.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	keys, err := st.Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		b, err := st.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if json.Unmarshal(b.Data, &v) == nil {
			collectSecrets(v, &out)
		}
		// L1 entries are not JSON; any JWT inside counts too.
		for _, m := range jwtRE.FindAllString(string(b.Data), -1) {
			out = append(out, m)
		}
	}
	return out
}

// jwtRE matches a JWT (a token or an assertion).
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`)

func collectSecrets(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "secret" || k == "refresh_token" || k == "access_token") && len(s) >= 8 {
				*out = append(*out, s)
			}
			collectSecrets(e, out)
		}
	case []any:
		for _, e := range x {
			collectSecrets(e, out)
		}
	}
}

// procWatch runs CLI commands and, while each runs, reads the argv and
// environment of its child processes (the plugins) from /proc.
type procWatch struct {
	mu    sync.Mutex
	seenP map[int]bool
	buf   strings.Builder
}

func (p *procWatch) run(t *testing.T, w *world, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(w.cli, args...)
	cmd.Env = append([]string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST_LOG_FORMAT=json"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The CLI's own argv holds no secret either: only flags and paths.
	p.add(-1, strings.Join(args, " "))
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			p.scan(cmd.Process.Pid)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-stopped
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// scan records the cmdline and environ of every child of parent.
func (p *procWatch) scan(parent int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		// Between fork and exec a child still shows the CLI's own argv
		// and environment (where the user put the secrets): only a
		// process that is already the plugin binary counts.
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if !strings.HasPrefix(filepath.Base(argv0), "credhost-plugin-") {
			continue
		}
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		p.add(pid, string(cmdline)+"\n"+string(environ))
	}
}

func (p *procWatch) add(pid int, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seenP == nil {
		p.seenP = map[int]bool{}
	}
	if pid > 0 {
		p.seenP[pid] = true
	}
	p.buf.WriteString(s + "\n")
}

func (p *procWatch) seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seenP)
}

func (p *procWatch) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}
