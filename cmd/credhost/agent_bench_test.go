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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
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
