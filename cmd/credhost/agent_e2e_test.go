package main

// credhost agent end to end: the real binaries, real plugin processes,
// the emulator; processes counted over /proc.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

// agentWorld is a world whose credhost calls use an agent of their own
// (a private runtime directory per test), stopped in t.Cleanup.
type agentWorld struct {
	*world
	agentDir string
	env      []string
}

func newAgentWorld(t testing.TB) *agentWorld {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs Linux /proc")
	}
	w := newWorld(t)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	// Short: a socket path has at most 107 bytes.
	base, err := os.MkdirTemp("", "cha")
	if err != nil {
		t.Fatal(err)
	}
	aw := &agentWorld{world: w, agentDir: filepath.Join(base, "a")}
	aw.env = []string{"CREDHOST_AGENT=on", "CREDHOST_LOG_LEVEL=debug", "CREDHOST_AGENT_DIR=" + aw.agentDir, "CI_SECRET=" + secret}
	t.Cleanup(func() {
		for _, pid := range aw.agentPIDs() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitFor(t, "plugins of the agent to exit", func() bool { return len(aw.plugins()) == 0 })
		os.RemoveAll(base)
	})
	return aw
}

// run runs credhost with the agent's env (the last of a repeated
// variable wins, so callers may override).
func (aw *agentWorld) token(t testing.TB, scope string, extra ...string) result {
	t.Helper()
	r := aw.run(aw.env, append([]string{"token", "--config", filepath.Join(aw.dir, "config.toml"), "--scope", scope, "--log-level", "debug"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("credhost token exited %d:\n%s", r.code, r.stderr)
	}
	if _, err := aw.srv.VerifyAccessToken(strings.TrimSpace(r.stdout)); err != nil {
		t.Fatalf("the printed token is not one the emulator issued: %v", err)
	}
	return r
}

// procs lists the processes /proc shows, with what identifies ours.
type proc struct {
	pid, ppid int
	state     string
	comm      string
	cmdline   []string
	environ   string
}

func listProcs() []proc {
	ents, _ := os.ReadDir("/proc")
	var ps []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < 0 {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		ps = append(ps, proc{pid: pid, ppid: ppid, state: f[0], comm: s[open+1 : closing],
			cmdline: strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00"), environ: "\x00" + string(env)})
	}
	return ps
}

// agentPIDs are the agents serving this world's runtime directory.
func (aw *agentWorld) agentPIDs() []int {
	var pids []int
	for _, p := range listProcs() {
		if len(p.cmdline) >= 2 && p.cmdline[1] == "agent" && strings.Contains(p.environ, "\x00CREDHOST_AGENT_DIR="+aw.agentDir+"\x00") && p.state != "Z" {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// plugins are this world's plugin processes, zombies included: those
// whose environment has this world's HOME (plugins inherit it), and the
// zombie children of its agents (a zombie shows no environment).
func (aw *agentWorld) plugins() []proc {
	agents := map[int]bool{}
	for _, pid := range aw.agentPIDs() {
		agents[pid] = true
	}
	var ps []proc
	for _, p := range listProcs() {
		if !strings.HasPrefix(p.comm, "credhost-plugin") {
			continue
		}
		if strings.Contains(p.environ, "\x00HOME="+aw.dir+"\x00") || agents[p.ppid] {
			ps = append(ps, p)
		}
	}
	return ps
}

func (aw *agentWorld) pluginStarts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(aw.agentDir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		// The host's line (go-plugin logs one of its own).
		if strings.Contains(line, `"plugin started"`) && strings.Contains(line, `"duration_ms"`) {
			n++
		}
	}
	return n
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fromAgent(r result) bool { return strings.Contains(r.stderr, "token acquired from the agent") }

// The first must-show: the first miss starts the agent; a miss
// for another scope in a new process starts no plugin and gets its token
// from the agent.
func TestAgentSecondMissStartsNoPlugin(t *testing.T) {
	aw := newAgentWorld(t)
	r := aw.token(t, scope)
	if !fromAgent(r) {
		t.Fatalf("the first miss did not go through the agent:\n%s", r.stderr)
	}
	agents := aw.agentPIDs()
	if len(agents) != 1 {
		t.Fatalf("%d agents after the first miss, want 1", len(agents))
	}
	before := aw.plugins()
	starts := aw.pluginStarts(t)
	if len(before) != 1 || starts != 1 {
		t.Fatalf("after the first miss: %d plugin processes, %d started (want 1, 1)", len(before), starts)
	}
	requests := func() int {
		return aw.srv.Count("token") + aw.srv.Count("discovery") + aw.srv.Count("instance_discovery") + aw.srv.Count("keys")
	}
	n := requests()
	r = aw.token(t, "https://storage.azure.com/.default")
	if !fromAgent(r) {
		t.Fatalf("the second miss did not go through the agent:\n%s", r.stderr)
	}
	after := aw.plugins()
	if got := aw.pluginStarts(t); got != starts || len(after) != 1 || after[0].pid != before[0].pid {
		t.Fatalf("the second miss started a plugin: starts %d → %d, processes %v → %v", starts, got, before, after)
	}
	if got := aw.agentPIDs(); len(got) != 1 || got[0] != agents[0] {
		t.Fatalf("agents %v → %v: want the same one", agents, got)
	}
	// One request is the goal; discovery is cached in the plugin's
	// process (proto3's discovery cache makes it one for new processes).
	t.Logf("emulator requests for the second miss: %d (token %d)", requests()-n, aw.srv.Count("token"))
	if d := requests() - n; d != 1 {
		t.Fatalf("the second miss made %d requests to the emulator", d)
	}
}

// A SIGKILLed agent: the call in progress falls back in-process and
// succeeds, no plugin is left, and the next call starts a fresh agent.
func TestAgentKilledDuringCall(t *testing.T) {
	aw := newAgentWorld(t)
	aw.token(t, scope)
	old := aw.agentPIDs()
	if len(old) != 1 {
		t.Fatalf("agents %v, want one", old)
	}
	// Slow the IdP down so the next call is in the agent when it dies.
	aw.srv.InjectFault(emulator.Fault{Endpoint: "token", Latency: 3 * time.Second, Times: 1})
	cmd := exec.Command(aw.cli, "token", "--config", filepath.Join(aw.dir, "config.toml"), "--scope", "https://storage.azure.com/.default", "--log-level", "debug")
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + aw.dir, "CREDHOST_LOG_FORMAT=json"}, aw.env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the call to reach the emulator", func() bool { return aw.srv.Count("token") >= 2 })
	began := time.Now()
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no plugin of the dead agent left", func() bool { return len(aw.plugins()) == 0 || onlyChildrenOf(aw.plugins(), cmd.Process.Pid) })
	t.Logf("plugins gone %v after the SIGKILL", time.Since(began))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the call the agent died in: %v\n%s", err, errb.String())
	}
	if _, err := aw.srv.VerifyAccessToken(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("no token after the fallback: %v", err)
	}
	if !strings.Contains(errb.String(), "getting the token in-process") {
		t.Fatalf("the call did not fall back in-process:\n%s", errb.String())
	}
	waitFor(t, "every plugin to exit", func() bool { return len(aw.plugins()) == 0 })
	r := aw.token(t, "https://vault.azure.net/.default")
	if !fromAgent(r) {
		t.Fatalf("the next call did not use a fresh agent:\n%s", r.stderr)
	}
	if now := aw.agentPIDs(); len(now) != 1 || now[0] == old[0] {
		t.Fatalf("agents after the restart: %v (the killed one was %d)", now, old[0])
	}
}

// onlyChildrenOf says every process in ps is a child of pid (the CLI's own
// in-process plugins after the fallback).
func onlyChildrenOf(ps []proc, pid int) bool {
	for _, p := range ps {
		if p.ppid != pid {
			return false
		}
	}
	return true
}

// [agent] enabled = false (and CREDHOST_AGENT=off) start no agent.
func TestAgentDisabled(t *testing.T) {
	aw := newAgentWorld(t)
	path := filepath.Join(aw.dir, "config.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append([]byte("[agent]\nenabled = false\n\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := aw.token(t, scope)
	if fromAgent(r) || len(aw.agentPIDs()) != 0 {
		t.Fatalf("[agent] enabled = false: an agent answered (agents %v)", aw.agentPIDs())
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	aw.env = append(aw.env, "CREDHOST_AGENT=off")
	r = aw.token(t, "https://storage.azure.com/.default")
	if fromAgent(r) || len(aw.agentPIDs()) != 0 {
		t.Fatalf("CREDHOST_AGENT=off: an agent answered (agents %v)", aw.agentPIDs())
	}
}

// An embedder with client.Options.Agent gets its token from the agent
// (started from credhost-cli on PATH) and starts no plugin itself.
func TestSDKOptionsAgent(t *testing.T) {
	aw := newAgentWorld(t)
	cli := testbin.Build(t, "./cmd/credhost", "credhost-cli")
	for k, v := range map[string]string{"PATH": filepath.Dir(cli) + ":/usr/bin:/bin", "HOME": aw.dir,
		"CREDHOST_AGENT": "on", "CREDHOST_AGENT_DIR": aw.agentDir, "CI_SECRET": secret, "CREDHOST_LOG_LEVEL": "debug"} {
		t.Setenv(k, v)
	}
	c, err := client.Open(t.Context(), "p", &client.Options{ConfigPath: filepath.Join(aw.dir, "config.toml"), Agent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aw.srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil {
		t.Fatal(err)
	}
	if len(aw.agentPIDs()) != 1 {
		t.Fatalf("agents %v, want the one the sdk started", aw.agentPIDs())
	}
	for _, p := range aw.plugins() {
		if p.ppid == os.Getpid() {
			t.Fatalf("the embedder started plugin %d itself", p.pid)
		}
	}
	if starts := aw.pluginStarts(t); starts != 1 {
		t.Fatalf("the agent started %d plugins, want 1", starts)
	}
}

// With an agent running, the fast front answers a miss through it
// without starting the full CLI (removed here once the agent is up), and
// an error the agent answers with comes out as the full CLI's, with its
// exit code and no second request. A call that would prompt is handed
// back to the full CLI (which draws prompts); one that must not prompt
// is answered at once.
func TestFastFrontAsksTheAgent(t *testing.T) {
	aw := newAgentWorld(t)
	testbin.Build(t, "./plugins/devicecode", "credhost-plugin-devicecode")
	cfg := filepath.Join(aw.dir, "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(`
[profiles.d]
authority = "`+aw.srv.Authority(tenantID)+`"
client_id = "`+emulator.DefaultPublicClientID+`"
chain = ["devicecode"]
ca_file = "ca.pem"
`)...)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	front := aw.fastFront()
	aw.cli = front
	// Quiet, as kubectl runs it: at debug the front leaves every call to
	// the full CLI.
	env := append(aw.env, "CREDHOST_LOG_LEVEL=warn", "CREDHOST_PLUGIN_DIR="+testbin.Dir())
	tokenArgs := func(scope string, extra ...string) []string {
		return append([]string{"token", "--config", cfg, "--profile", "p", "--scope", scope}, extra...)
	}
	// No agent yet: the front hands the miss to the full CLI, which
	// starts the agent.
	if r := aw.run(env, tokenArgs(scope)...); r.code != 0 || len(aw.agentPIDs()) != 1 {
		t.Fatalf("first miss: exit %d, agents %v\n%s", r.code, aw.agentPIDs(), r.stderr)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(front), "credhost-cli")); err != nil {
		t.Fatal(err)
	}
	starts := aw.pluginStarts(t)
	for _, args := range [][]string{tokenArgs("https://storage.azure.com/.default"), tokenArgs(scope, "--force-refresh")} {
		n := aw.srv.Count("token")
		r := aw.run(env, args...)
		if r.code != 0 || aw.srv.Count("token") != n+1 {
			t.Fatalf("%v without the full CLI: exit %d, token requests %d → %d\n%s", args, r.code, n, aw.srv.Count("token"), r.stderr)
		}
		if _, err := aw.srv.VerifyAccessToken(strings.TrimSpace(r.stdout)); err != nil {
			t.Fatalf("%v printed no token the emulator issued: %v", args, err)
		}
	}
	if got := aw.pluginStarts(t); got != starts {
		t.Fatalf("the agent started %d more plugins", got-starts)
	}
	// The IdP refuses (a wrong secret: the agent opens a host for that
	// environment): one request, the full CLI's words and exit code.
	n := aw.srv.Count("token")
	r := aw.run(append(env, "CI_SECRET=wrong"), tokenArgs("https://vault.azure.net/.default")...)
	if r.code != exitFailed || !strings.HasPrefix(r.stderr, `credhost token: profile "p": no token (failed)`) ||
		!strings.Contains(r.stderr, "AADSTS7000215") || aw.srv.Count("token") != n+1 {
		t.Fatalf("refused: exit %d, token requests %d → %d\n%s", r.code, n, aw.srv.Count("token"), r.stderr)
	}
	// Device code, nobody to see it (--no-prompt): unavailable at once,
	// from the agent, without a device code request.
	codes := aw.srv.Count("devicecode")
	r = aw.run(env, append(tokenArgs(scope, "--no-prompt"), "--profile", "d")...)
	if r.code != exitUnavailable || !strings.Contains(r.stderr, "credhost login") || aw.srv.Count("devicecode") != codes {
		t.Fatalf("--no-prompt device code: exit %d, device codes %d → %d\n%s", r.code, codes, aw.srv.Count("devicecode"), r.stderr)
	}
	// Device code that may prompt: the agent hands the call back and the
	// front execs the full CLI to draw the prompt (missing here, so the
	// error says so); the front showed no code itself.
	r = aw.run(env, append(tokenArgs(scope), "--profile", "d")...)
	if r.code != exitFailed || !strings.Contains(r.stderr, "credhost-cli is not installed") || userCodeRE.MatchString(r.stderr) {
		t.Fatalf("device code through the front: exit %d\n%s", r.code, r.stderr)
	}
}
