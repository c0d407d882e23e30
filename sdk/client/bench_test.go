package client_test

// Plugin overhead, measured against in-process MSAL on the same emulator in
// the same run:
//
//	go test -run '^$' -bench . -benchtime 50x ./sdk/
//
// Cold: a new client for every token (MSAL: new confidential.Client, tenant
// discovery, token request; sdk: new host, plugin process start, handshake,
// Describe, Configure, discovery, token request, process exit).
// ColdSDKPluginPinned pins the plugin, as installations should: the binary
// is hashed before it runs, once per process while it does not change.
// Warm: one long-lived client, a token for a new resource every time (a
// cache miss, so each iteration is a real token request).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/plugin"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

const (
	benchTenant = "72f988bf-0000-4000-8000-000000000001"
	benchClient = "11111111-1111-4111-8111-111111111111"
	benchSecret = "demo-secret-value"
)

func benchSetup(b testing.TB) (*emulator.Server, *config.File, string) {
	return benchSetupPinned(b, false)
}

func benchSetupPinned(b testing.TB, pinned bool) (*emulator.Server, *config.File, string) {
	b.Helper()
	return setup(b, pinned, emulator.Options{}, "")
}

// setup starts the emulator with opts and writes a config for it with the
// "bench" profile (clientcreds); extra is appended to its [cache] table.
func setup(b testing.TB, pinned bool, opts emulator.Options, extra string) (*emulator.Server, *config.File, string) {
	b.Helper()
	bin := testbin.Build(b, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	opts.Config = emulator.DefaultConfig()
	srv := emulatortest.StartOptions(b, opts)
	dir := b.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	body := fmt.Sprintf(`[profiles.bench]
authority = %q
client_id = %q
chain = ["clientcreds"]
ca_file = %q
[profiles.bench.clientcreds]
client_secret = %q
[cache]
backend = "memory" # each host starts cold; the file store has its own tests
`, srv.Authority(benchTenant), benchClient, ca, benchSecret) + extra
	if pinned {
		pin, err := plugin.Checksum(bin)
		if err != nil {
			b.Fatal(err)
		}
		body += fmt.Sprintf("[plugins.pins]\nclientcreds = %q\n", pin)
		// A binary changed in the last few seconds is hashed on every
		// start (core/plugin/pin.go); one just built is such a binary.
		if fi, err := os.Stat(bin); err == nil {
			time.Sleep(time.Until(fi.ModTime().Add(5 * time.Second)))
		}
	}
	// Written out too, for tests that hand the file to a process.
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	file, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		b.Fatal(err)
	}
	return srv, file, filepath.Dir(bin)
}

func msalClient(b *testing.B, srv *emulator.Server) confidential.Client {
	b.Helper()
	cred, err := confidential.NewCredFromSecret(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	c, err := confidential.New(srv.Authority(benchTenant), benchClient, cred,
		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkColdMSALInProcess(b *testing.B) {
	srv, _, _ := benchSetup(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		c := msalClient(b, srv)
		if _, err := c.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdSDKPlugin(b *testing.B) { benchCold(b, false) }

func BenchmarkColdSDKPluginPinned(b *testing.B) { benchCold(b, true) }

func benchCold(b *testing.B, pinned bool) {
	_, file, dir := benchSetupPinned(b, pinned)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		c, err := client.New(ctx, file, "bench", &client.Options{PluginDirs: []string{dir}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{"https://graph.microsoft.com/.default"}}); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}

func BenchmarkWarmMSALInProcess(b *testing.B) {
	srv, _, _ := benchSetup(b)
	ctx := context.Background()
	c := msalClient(b, srv)
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.AcquireTokenByCredential(ctx, []string{fmt.Sprintf("api://warm-%d/.default", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWarmSDKPlugin(b *testing.B) {
	_, file, dir := benchSetup(b)
	ctx := context.Background()
	c, err := client.New(ctx, file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{"api://warmup/.default"}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{fmt.Sprintf("api://warm-%d/.default", i)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdSDKAgent is the cold path the design intends: a new client
// for every token, with client.Options.Agent, against one agent started
// before the timer (its plugin is started once, by the warm-up). Each
// iteration asks for a new scope, so that the agent makes a real token
// request, as the other cold benchmarks do. The agent is a child of the
// benchmark, stopped (SIGTERM) and waited for at the end, and no process
// of its private copy of the plugin may be left.
func BenchmarkColdSDKAgent(b *testing.B) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		b.Skip("needs Linux /proc")
	}
	_, file, pluginDir := benchSetup(b)
	cfg := file.Path // the agent reads the config from its path
	cli := testbin.Build(b, "./cmd/credhost", "credhost-cli")
	// A private copy of the plugin: any process running it is the agent's.
	plugins := b.TempDir()
	plug := testbin.Copy(b, filepath.Join(pluginDir, "credhost-plugin-clientcreds"), plugins)
	// Short: a socket path has at most 107 bytes.
	base, err := os.MkdirTemp("", "chb")
	if err != nil {
		b.Fatal(err)
	}
	agentDir := filepath.Join(base, "a")
	b.Setenv("CREDHOST_AGENT", "on")
	b.Setenv("CREDHOST_AGENT_DIR", agentDir)
	b.Setenv("HOME", base)
	b.Setenv("PATH", filepath.Dir(cli)+":/usr/bin:/bin")
	cmd := exec.Command(cli, "agent")
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		// The agent's plugins die with it (parent-death signal); give
		// them a moment, then fail if one is left.
		deadline := time.Now().Add(5 * time.Second)
		for runningExe(plug) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if runningExe(plug) {
			b.Errorf("a plugin of the agent outlived it")
		}
		os.RemoveAll(base)
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(agentDir, "agent.sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the agent did not listen within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx := context.Background()
	get := func(scope string) {
		c, err := client.Open(ctx, "bench", &client.Options{ConfigPath: cfg, PluginDirs: []string{plugins}, Agent: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{scope}}); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
	get("api://cold-warmup/.default") // the agent starts its plugin
	if !runningExe(plug) {
		b.Fatal("the agent runs no plugin after the warm-up: the token did not come from it")
	}
	b.ResetTimer()
	for i := range b.N {
		get(fmt.Sprintf("api://cold-%d/.default", i))
	}
	b.StopTimer()
}

// runningExe reports whether a live process runs the binary at path.
func runningExe(path string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				return true
			}
		}
	}
	return false
}
