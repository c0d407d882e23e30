package main

// Device code sign-in end to end: the real CLI, the real devicecode
// plugin process and the emulator.

import (
	"bufio"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// userWorld is a world whose emulator answers device codes every second
// and whose profile "laptop" signs a user in with device code.
func userWorld(t testing.TB, chain string) *world {
	return userWorldOptions(t, chain, emulator.Options{})
}

func userWorldOptions(t testing.TB, chain string, opts emulator.Options) *world {
	t.Helper()
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	testbin.Build(t, "./plugins/devicecode", "credhost-plugin-devicecode")
	opts.Config, opts.DeviceCodeInterval = emulator.DefaultConfig(), time.Second
	srv := emulatortest.StartOptions(t, opts)
	w := &world{t: t, srv: srv, cli: cli, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `[profiles.laptop]
authority = "` + srv.Authority(tenantID) + `"
client_id = "` + emulator.DefaultPublicClientID + `"
chain = ` + chain + `
ca_file = "ca.pem"
timeout = "60s"
`
	if err := os.WriteFile(filepath.Join(w.dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z0-9]+)`)

// signIn is a running `credhost token` whose stderr is read line by line.
type signIn struct {
	cmd      *exec.Cmd
	stdout   syncbuf.Buffer
	stderr   syncbuf.Buffer
	userCode chan string // the code of the first prompt line
	gotToken chan bool   // whether stdout held anything when the prompt came
	done     chan struct{}
}

func (w *world) startSignIn(args ...string) *signIn {
	w.t.Helper()
	s := &signIn{userCode: make(chan string, 1), gotToken: make(chan bool, 1), done: make(chan struct{})}
	s.cmd = exec.Command(w.cli, append([]string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope}, args...)...)
	s.cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST_LOG_FORMAT=json"}
	s.cmd.Stdout = &s.stdout
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pipe)
		prompted := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = s.stderr.Write([]byte(line + "\n"))
			if m := userCodeRE.FindStringSubmatch(line); m != nil && !prompted {
				prompted = true
				s.gotToken <- s.stdout.String() != ""
				s.userCode <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	return s
}

// wait returns the exit code; a hang fails the test instead of the run.
func (s *signIn) wait(t *testing.T) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { <-s.done; exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("credhost token hung; stderr:\n%s", s.stderr.String())
		return -1
	}
}

func (s *signIn) code(t *testing.T) string {
	t.Helper()
	select {
	case c := <-s.userCode:
		if <-s.gotToken {
			t.Error("the token was printed before the prompt")
		}
		return c
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		t.Fatalf("no prompt on stderr:\n%s", s.stderr.String())
		return ""
	}
}

func TestDeviceCodeEndToEnd(t *testing.T) {
	w := userWorld(t, `["devicecode"]`)
	w.srv.ScriptDeviceCode(emulator.DeviceCodeScript{SlowDown: 1})
	s := w.startSignIn()
	code := s.code(t)
	if err := w.srv.ApproveDeviceCode(code, emulator.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	if rc := s.wait(t); rc != 0 {
		t.Fatalf("exit %d:\n%s", rc, s.stderr.String())
	}
	claims, err := w.srv.VerifyAccessToken(strings.TrimSpace(s.stdout.String()))
	if err != nil || claims["upn"] != emulator.DefaultUsername && claims["preferred_username"] != emulator.DefaultUsername {
		t.Fatalf("token claims %v, %v", claims, err)
	}
	// The polls were spaced by the interval, and by 5 s more after slow_down.
	info, _ := w.srv.DeviceCode(code)
	if len(info.Polls) != 2 || info.Polls[0].Answer != "slow_down" || info.Polls[1].Answer != "token" {
		t.Fatalf("polls %+v", info.Polls)
	}
	if gap := info.Polls[0].At.Sub(info.Issued); gap < info.Interval {
		t.Errorf("first poll %v after the code was issued, interval %v", gap, info.Interval)
	}
	if gap := info.Polls[1].At.Sub(info.Polls[0].At); gap < info.Interval+5*time.Second {
		t.Errorf("poll after slow_down came %v later, want at least %v", gap, info.Interval+5*time.Second)
	}

	// The next call is silent: no prompt, no device code, no IdP request.
	codes, tokens := w.srv.Count("devicecode"), w.srv.Count("token")
	r := w.run(nil, "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope)
	if r.code != 0 || userCodeRE.MatchString(r.stderr) || w.srv.Count("devicecode") != codes || w.srv.Count("token") != tokens {
		t.Fatalf("second call not silent: exit %d, device codes %d→%d, token requests %d→%d\n%s", r.code, codes, w.srv.Count("devicecode"), tokens, w.srv.Count("token"), r.stderr)
	}
	// Bypassing the access token cache uses the refresh token: still no prompt.
	r = w.run(nil, "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--force-refresh")
	if r.code != 0 || userCodeRE.MatchString(r.stderr) || w.srv.Count("devicecode") != codes || w.srv.Count("token") != tokens+1 {
		t.Fatalf("force refresh: exit %d, device codes %d→%d, token requests %d→%d\n%s", r.code, codes, w.srv.Count("devicecode"), tokens, w.srv.Count("token"), r.stderr)
	}
	// accounts reads the sign-in record the flow saved beside its state;
	// logout deletes both.
	r = w.run(nil, "accounts", "--config", filepath.Join(w.dir, "config.toml"), "--output", "json")
	if !strings.Contains(r.stdout, `"username": "`+emulator.DefaultUsername+`"`) || !strings.Contains(r.stdout, `"can_refresh": true`) {
		t.Fatalf("accounts:\n%s\n%s", r.stdout, r.stderr)
	}
	if r = w.run(nil, "logout", "--config", filepath.Join(w.dir, "config.toml")); r.code != 0 {
		t.Fatalf("logout: exit %d\n%s", r.code, r.stderr)
	}
	r = w.run(nil, "accounts", "--config", filepath.Join(w.dir, "config.toml"), "--output", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("accounts after logout:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestDeviceCodeExpiryAndCancel(t *testing.T) {
	w := userWorld(t, `["devicecode"]`)
	w.srv.ScriptDeviceCode(emulator.DeviceCodeScript{Lifetime: 3 * time.Second})
	s := w.startSignIn()
	s.code(t)
	if rc := s.wait(t); rc != exitFailed || !strings.Contains(s.stderr.String(), "expired") {
		t.Fatalf("expiry: exit %d:\n%s", rc, s.stderr.String())
	}

	// Ctrl-C while polling: the process ends and polling stops.
	s = w.startSignIn()
	code := s.code(t)
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if rc := s.wait(t); rc == 0 {
		t.Fatalf("cancelled sign-in exited 0:\n%s", s.stderr.String())
	}
	info, _ := w.srv.DeviceCode(code)
	time.Sleep(2 * info.Interval)
	if later, _ := w.srv.DeviceCode(code); len(later.Polls) != len(info.Polls) {
		t.Fatalf("polling went on after the process ended: %d → %d polls", len(info.Polls), len(later.Polls))
	}
}

func TestDeviceCodeMFAUserNeedsInteraction(t *testing.T) {
	w := userWorld(t, `["devicecode"]`)
	s := w.startSignIn()
	if err := w.srv.ApproveDeviceCode(s.code(t), emulator.DefaultMFAUsername); err != nil {
		t.Fatal(err)
	}
	if rc := s.wait(t); rc != exitInteractionRequired || !strings.Contains(s.stderr.String(), "AADSTS50076") || !strings.Contains(s.stderr.String(), "multi-factor") {
		t.Fatalf("exit %d, want %d:\n%s", rc, exitInteractionRequired, s.stderr.String())
	}
}

func TestNoPromptSinkIsUnavailable(t *testing.T) {
	w := userWorld(t, `["devicecode"]`)
	// kubectl says it is not interactive: nobody would see a prompt.
	r := w.run([]string{`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`},
		"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--no-prompt")
	if r.code != exitUnavailable || w.srv.Count("devicecode") != 0 {
		t.Fatalf("exit %d, device codes %d:\n%s", r.code, w.srv.Count("devicecode"), r.stderr)
	}
}

// TestParallelProcessesShareOneSignIn: kubectl starts many credential
// processes at once; on a cold cache they wait for the first one's
// sign-in (one device code, one prompt) and reuse its token.
func TestParallelProcessesShareOneSignIn(t *testing.T) {
	w := userWorldOptions(t, `["devicecode"]`, emulator.Options{AutoApproveAfter: time.Second, AutoSignIn: emulator.DefaultUsername})
	const procs = 8
	results := make(chan result, procs)
	for range procs {
		go func() {
			results <- w.run(nil, "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope)
		}()
	}
	prompts, tokens := 0, map[string]bool{}
	for range procs {
		r := <-results
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		if userCodeRE.MatchString(r.stderr) {
			prompts++
		}
		tokens[strings.TrimSpace(r.stdout)] = true
	}
	if n := w.srv.Count("devicecode"); n != 1 || prompts != 1 || len(tokens) != 1 {
		t.Fatalf("%d processes: %d device codes, %d prompts, %d distinct tokens; want 1 of each", procs, n, prompts, len(tokens))
	}
}

// TestDeviceCodeOutlivesProfileTimeout: the profile's timeout bounds the
// work nobody waits on, not the person: a device code approved well after
// it (2.5x) still signs in, because the prompt's expiry moves the call's
// end. Ctrl-C still stops the polling at once.
func TestDeviceCodeOutlivesProfileTimeout(t *testing.T) {
	const timeout = 4 * time.Second
	w := userWorld(t, `["devicecode"]`)
	cfg := filepath.Join(w.dir, "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), `timeout = "60s"`, `timeout = "`+timeout.String()+`"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := w.startSignIn()
	code := s.code(t)
	time.Sleep(timeout * 5 / 2)
	if err := w.srv.ApproveDeviceCode(code, emulator.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	if rc := s.wait(t); rc != 0 {
		t.Fatalf("approved after 2.5x the profile's timeout: exit %d:\n%s", rc, s.stderr.String())
	}
	if _, err := w.srv.VerifyAccessToken(strings.TrimSpace(s.stdout.String())); err != nil {
		t.Fatal(err)
	}

	// Ctrl-C past the profile's timeout: the process ends promptly and
	// the polling with it.
	w.run(nil, "logout", "--config", cfg, "--all")
	s = w.startSignIn()
	code = s.code(t)
	time.Sleep(timeout + time.Second)
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rc := s.wait(t)
	took := time.Since(sent)
	t.Logf("SIGINT to exit: %v", took)
	if rc == 0 || took > 5*time.Second { // ~1 s expected; generous for a loaded machine
		t.Fatalf("Ctrl-C: exit %d after %v:\n%s", rc, took, s.stderr.String())
	}
	info, _ := w.srv.DeviceCode(code)
	time.Sleep(2 * info.Interval)
	if later, _ := w.srv.DeviceCode(code); len(later.Polls) != len(info.Polls) {
		t.Fatalf("polling went on after the process ended: %d → %d polls", len(info.Polls), len(later.Polls))
	}
}
