package main

// The agent's cost and size:
//
//	go test -run 'TestAgentRSS' -bench 'CLIMiss' -benchtime 30x ./cmd/credhost/
//
// BenchmarkCLIMissAgentWarm runs the installed `credhost token
// --force-refresh -o exec-credential` (a miss every time) as a new
// process with a warm agent; BenchmarkCLIMissProcess is the same without
// an agent (plugin start and handshake every call).

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/agent"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// BenchmarkCLIMissAgentWarm is BenchmarkCLIMissProcess (the installed
// fast front, run as kubectl runs it, a miss every time) with the agent
// warm: the front asks the agent itself.
func BenchmarkCLIMissAgentWarm(b *testing.B) {
	aw := newAgentWorld(b)
	front := aw.fastFront()
	// Quiet, as kubectl runs it: at debug the front leaves calls to the
	// full CLI.
	env := append([]string{"PATH=/usr/bin:/bin", "HOME=" + aw.dir, "CREDHOST_PLUGIN_DIR=" + testbin.Dir()}, aw.env...)
	env = append(env, "CREDHOST_LOG_LEVEL=warn")
	// The first miss goes to the full CLI, which starts the agent.
	if out, err := procCmd(env, front, aw.execCredentialArgs()...).CombinedOutput(); err != nil {
		b.Fatalf("first miss: %v\n%s", err, out)
	}
	n := aw.srv.Count("token")
	runProcesses(b, "ExecCredential", func() *exec.Cmd { return procCmd(env, front, aw.execCredentialArgs("--force-refresh")...) })
	if got := aw.srv.Count("token") - n; got != b.N {
		b.Fatalf("%d processes made %d token requests, want one each", b.N, got)
	}
	if len(aw.agentPIDs()) != 1 || len(aw.plugins()) != 1 {
		b.Fatalf("agents %v, plugins %v: want one agent with one plugin", aw.agentPIDs(), aw.plugins())
	}
}

// rss is pid's resident set size in bytes.
func rss(t testing.TB, pid int) int64 {
	r, _ := memory(t, pid)
	return r
}

// The agent with 1,000 distinct cached tokens answers hits without
// growing, and stays under 150 MB.
func TestAgentRSSWithManyTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 token requests")
	}
	aw := newAgentWorld(t)
	aw.token(t, scope)
	pids := aw.agentPIDs()
	if len(pids) != 1 {
		t.Fatalf("agents %v", pids)
	}
	// The CLI's environment, so that the agent serves these calls with
	// the host (and plugin) the CLI warmed.
	env := append([]string{"PATH=/usr/bin:/bin", "HOME=" + aw.dir, "CREDHOST_LOG_FORMAT=json"}, aw.env...)
	wd, _ := os.Getwd()
	c, err := agent.Dial(context.Background(), aw.agentDir)
	if err != nil {
		t.Fatal(err)
	}
	get := func(i int) {
		_, err := c.GetToken(context.Background(), &agent.TokenRequest{ConfigPath: filepath.Join(aw.dir, "config.toml"),
			WorkDir: wd, Profile: "p", Env: env, Scopes: []string{fmt.Sprintf("api://r%d/.default", i)}}, nil)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	warm := rss(t, pids[0])
	const n = 1000
	misses := aw.srv.Count("token")
	for i := range n {
		get(i)
	}
	if got := aw.srv.Count("token") - misses; got != n {
		t.Fatalf("%d token requests for %d distinct scopes", got, n)
	}
	filled := rss(t, pids[0])
	for range 3 {
		for i := range n {
			get(i)
		}
	}
	if got := aw.srv.Count("token") - misses; got != n {
		t.Fatalf("the hits made %d more token requests", got-n)
	}
	hits := rss(t, pids[0])
	t.Logf("agent RSS: warm %d MiB, %d tokens cached %d MiB, after %d hits %d MiB; %d plugin processes",
		warm>>20, n, filled>>20, 3*n, hits>>20, len(aw.plugins()))
	if hits > filled+filled/10 {
		t.Fatalf("answering hits grew the agent from %d to %d bytes", filled, hits)
	}
	if hits > 150<<20 {
		t.Fatalf("agent RSS %d MiB, goal < 150", hits>>20)
	}
}

// acceptUI takes every prompt (nobody answers it: the call runs until its
// context ends).
type acceptUI struct{}

func (acceptUI) Prompt(context.Context, core.Prompt) error { return nil }
func (acceptUI) Progress(context.Context, string)          {}

// The agent with the six flows warm (each plugin started, configured and
// asked once: clientcreds and ropc get tokens, devicecode and authcode
// wait for a person until the call's deadline, iwa finds no Kerberos
// ticket, obo no assertion) stays under 150 MB, agent and plugins
// together.
func TestAgentRSSAllFlowsWarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six plugins and waits for two sign-ins to time out")
	}
	flows := []string{"clientcreds", "ropc", "devicecode", "authcode", "iwa", "obo"}
	// In a directory of their own: other tests count on flows missing
	// from the shared one.
	pluginDir := t.TempDir()
	for _, f := range flows {
		testbin.CopyAs(t, testbin.Build(t, "./plugins/"+f, "rss-plugin-"+f), pluginDir, "credhost-plugin-"+f)
	}
	aw := newAgentWorld(t)
	aw.token(t, scope)
	pids := aw.agentPIDs()
	if len(pids) != 1 {
		t.Fatalf("agents %v", pids)
	}
	cfg := filepath.Join(aw.dir, "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	authority := aw.srv.Authority(tenantID)
	for _, p := range []struct{ name, client, extra string }{
		{"ropc", emulator.DefaultPublicClientID, "username = \"" + emulator.DefaultUsername + "\"\npassword = \"env:ROPC_PASSWORD\"\n"},
		{"devicecode", emulator.DefaultPublicClientID, ""},
		{"authcode", emulator.DefaultPublicClientID, "browser = \"true\"\n"},
		{"iwa", emulator.DefaultPublicClientID, ""},
		{"obo", emulator.DefaultAPIClientID, "client_secret = \"env:CI_SECRET\"\n"},
	} {
		b = fmt.Appendf(b, "\n[profiles.%[1]s]\nauthority = %[2]q\nclient_id = %[3]q\nchain = [%[1]q]\nca_file = \"ca.pem\"\n[profiles.%[1]s.%[1]s]\n%[4]s",
			p.name, authority, p.client, p.extra)
	}
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := agent.Dial(t.Context(), aw.agentDir)
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{"PATH=/usr/bin:/bin", "HOME=" + aw.dir, "CREDHOST_LOG_FORMAT=json", "ROPC_PASSWORD=" + emulator.DefaultPassword}, aw.env...)
	wd, _ := os.Getwd()
	// The sign-ins wait for a person while the memory is measured (a
	// cancelled call stops its plugin).
	waiting, cancel := context.WithCancel(t.Context())
	var calls sync.WaitGroup
	defer calls.Wait()
	defer cancel()
	for _, f := range flows {
		profile := f
		if f == "clientcreds" {
			profile = "p"
		}
		get := func(ctx context.Context) error {
			_, err := c.GetToken(ctx, &agent.TokenRequest{ConfigPath: cfg, WorkDir: wd, Profile: profile, Env: env, CanPrompt: true,
				PluginDir: pluginDir, Scopes: []string{scope}}, acceptUI{})
			return err
		}
		switch f {
		case "clientcreds", "ropc":
			if err := get(t.Context()); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		case "devicecode", "authcode":
			calls.Go(func() { _ = get(waiting) })
		default:
			if err := get(t.Context()); err == nil {
				t.Fatalf("%s got a token with no ticket or assertion", f)
			}
		}
	}
	running := func() map[string]int {
		m := map[string]int{}
		for _, p := range aw.plugins() {
			m[strings.TrimPrefix(filepath.Base(p.cmdline[0]), "credhost-plugin-")] = p.pid
		}
		return m
	}
	waitFor(t, "every flow's plugin to run", func() bool { return len(running()) == len(flows) })
	agentRSS, _ := memory(t, pids[0])
	var total, anon int64
	for _, pid := range append(slices.Collect(maps.Values(running())), pids[0]) {
		r, a := memory(t, pid)
		total, anon = total+r, anon+a
	}
	// Most of a plugin's resident set is its binary's code (file pages
	// shared with the page cache, which the kernel may drop); what the
	// processes own is the anonymous part.
	t.Logf("agent %d MiB; agent and its %d plugins: resident %d MiB, of which anonymous %d MiB", agentRSS>>20, len(flows), total>>20, anon>>20)
	if agentRSS > 150<<20 || anon > 150<<20 {
		t.Fatalf("agent %d MiB, its plugins' and its own anonymous memory %d MiB: goal < 150", agentRSS>>20, anon>>20)
	}
}

// memory is pid's resident set size and the anonymous part of it, in
// bytes.
func memory(t testing.TB, pid int) (rss, anon int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		name, rest, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	if rss == 0 {
		t.Fatalf("no VmRSS for %d", pid)
	}
	return rss, anon
}
