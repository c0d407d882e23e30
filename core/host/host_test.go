package host

import (
	"context"
	"errors"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/plugin"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// fakePlugin builds the test plugin into a fresh plugin dir.
func fakePlugin(t *testing.T) (dir, path string) {
	t.Helper()
	bin := testbin.Build(t, "./core/host/testdata/fakeflow", BinaryName("fakeflow"))
	dir = t.TempDir()
	return dir, testbin.Copy(t, bin, dir)
}

func writeConfig(t *testing.T, dir, body string) *config.File {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return f
}

func profile(mode, extra string) string {
	return fmt.Sprintf(`
[profiles.p]
authority = "https://login.example.test/72f988bf-0000-4000-8000-000000000001"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["fakeflow"]
timeout = "20s"
%s
[profiles.p.fakeflow]
mode = %q
`, extra, mode)
}

func newHost(t *testing.T, dir string, f *config.File, log zerolog.Logger) *Host {
	t.Helper()
	h := New(f, &Options{PluginDirs: []string{dir}, Log: log})
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func token(t *testing.T, h *Host, ctx context.Context) (core.Token, error) {
	t.Helper()
	c, err := h.Credential("p")
	if err != nil {
		t.Fatal(err)
	}
	return c.GetToken(ctx, core.TokenRequest{Scopes: []string{"s"}})
}

func TestPluginToken(t *testing.T) {
	dir, _ := fakePlugin(t)
	var logs syncbuf.Buffer
	h := newHost(t, dir, writeConfig(t, dir, profile("ok", "")), zerolog.New(&logs).Level(zerolog.DebugLevel))
	tok, err := token(t, h, context.Background())
	if err != nil || tok.AccessToken.Reveal() != "fake-token" || tok.Flow != "fakeflow" {
		t.Fatalf("token %+v err %v", tok, err)
	}
	if !strings.Contains(logs.String(), `"flow":"fakeflow"`) || !strings.Contains(logs.String(), "plugin started") {
		t.Errorf("plugin logs did not reach the host logger with flow=fakeflow:\n%s", logs.String())
	}
}

func TestPinnedPluginChangedIsRefusedAndNeverRuns(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	// A plugin that would leave a mark if it ever ran.
	script := "#!/bin/sh\n# build 1\ntouch " + marker + "\nexit 1\n"
	path := filepath.Join(dir, BinaryName("fakeflow"))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pin, err := plugin.Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	// Change one byte.
	if err := os.WriteFile(path, []byte(strings.Replace(script, "build 1", "build 2", 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir, writeConfig(t, dir, profile("ok", "")+fmt.Sprintf("\n[plugins.pins]\nfakeflow = %q\n", pin)), zerolog.Nop())
	_, err = token(t, h, context.Background())
	if core.KindOf(err) != core.KindFailed || !strings.Contains(err.Error(), "pin") {
		t.Fatalf("err = %v, want a pin mismatch failure", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the tampered plugin ran")
	}
}

func TestPluginCrashIsAnErrorAndNextCallRestarts(t *testing.T) {
	dir, _ := fakePlugin(t)
	h := newHost(t, dir, writeConfig(t, dir, profile("crash", "")), zerolog.Nop())
	for i := range 2 {
		_, err := token(t, h, context.Background())
		if core.KindOf(err) != core.KindFailed || !strings.Contains(err.Error(), "fakeflow") {
			t.Fatalf("call %d: err = %v, want a failure naming the flow", i, err)
		}
	}
}

func TestPluginKilledMidCallAndRecovers(t *testing.T) {
	dir, _ := fakePlugin(t)
	h := newHost(t, dir, writeConfig(t, dir, profile("ok", "")), zerolog.Nop())
	c, _ := h.Credential("p")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"slow"}})
		done <- err
	}()
	p := waitForProcess(t, h)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if core.KindOf(err) != core.KindFailed || ctx.Err() != nil || !strings.Contains(err.Error(), "fakeflow") {
			t.Fatalf("err = %v (ctx %v): want a failure naming the plugin, before the deadline", err, ctx.Err())
		}
	case <-ctx.Done():
		t.Fatal("the host hung after its plugin was killed")
	}
	tok, err := c.GetToken(context.Background(), core.TokenRequest{Scopes: []string{"s"}})
	if err != nil || tok.AccessToken.Reveal() != "fake-token" {
		t.Fatalf("call after the kill: %v", err)
	}
	if p.Pid() == pid || p.Pid() == 0 {
		t.Fatalf("plugin pid %d after restart, was %d: not restarted", p.Pid(), pid)
	}
}

// waitForProcess waits until the host has a running plugin and returns it.
func waitForProcess(t *testing.T, h *Host) *plugin.Process {
	t.Helper()
	for range 200 {
		h.mu.Lock()
		procs := append([]*plugin.Process(nil), h.procs...)
		h.mu.Unlock()
		for _, p := range procs {
			if p.Running() && p.Pid() > 0 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no plugin process started")
	return nil
}

func TestHungPluginBoundedByDeadline(t *testing.T) {
	dir, _ := fakePlugin(t)
	for _, mode := range []string{"hang", "ignore-cancel"} {
		t.Run(mode, func(t *testing.T) {
			h := newHost(t, dir, writeConfig(t, dir, profile(mode, "")), zerolog.Nop())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := token(t, h, ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", err)
			}
			// The hung process was killed, not left behind.
			h.mu.Lock()
			procs := append([]*plugin.Process(nil), h.procs...)
			h.mu.Unlock()
			for _, p := range procs {
				p.Close()
				if p.Running() {
					t.Fatal("hung plugin still running")
				}
			}
		})
	}
}

func TestValidateNamesFileLineKey(t *testing.T) {
	dir, _ := fakePlugin(t)
	body := strings.Replace(profile("ok", ""), "72f988bf-0000-4000-8000-000000000001", "common", 1) + "typo = \"x\"\n"
	h := newHost(t, dir, writeConfig(t, dir, body), zerolog.Nop())
	problems, err := h.Validate(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	msg := problems[0].Error()
	for _, want := range []string{"config.toml:3:", "profiles.p.authority", `cannot use the "common" authority`, "config.toml:10:", "profiles.p.fakeflow.typo", "unknown option"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation error lacks %q:\n%s", want, msg)
		}
	}
}

func TestBadFlowSettingIsAFailureAtItsLine(t *testing.T) {
	dir, _ := fakePlugin(t)
	h := newHost(t, dir, writeConfig(t, dir, profile("nonsense", "")), zerolog.Nop())
	_, err := token(t, h, context.Background())
	if core.KindOf(err) != core.KindFailed || !strings.Contains(err.Error(), "config.toml:9:") || !strings.Contains(err.Error(), "profiles.p.fakeflow.mode") {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingPluginIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, dir, writeConfig(t, dir, strings.Replace(profile("ok", ""), `["fakeflow"]`, `["nosuchflow"]`, 1)), zerolog.Nop())
	_, err := token(t, h, context.Background())
	if core.KindOf(err) != core.KindUnavailable || !strings.Contains(err.Error(), "credhost-plugin-nosuchflow") {
		t.Fatalf("err = %v", err)
	}
}

func TestPolicyMinPluginVersion(t *testing.T) {
	dir, _ := fakePlugin(t)
	system := filepath.Join(dir, "system.toml")
	if err := os.WriteFile(system, []byte("[policy]\nmin_plugin_versions = { fakeflow = \"1.2.0\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(user, []byte(profile("ok", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.LoadLayers(&config.LoadOptions{SystemPath: system, UserPath: user, NoProject: true, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = token(t, newHost(t, dir, f, zerolog.Nop()), context.Background())
	if !errors.Is(err, config.ErrPolicy) || !strings.Contains(err.Error(), "system.toml:2") || !strings.Contains(err.Error(), "0.0.1") {
		t.Fatalf("err = %v, want the policy's minimum refused at system.toml:2", err)
	}
}

// TestProtocolGenerations: plugins built for protocol 1 only (an old
// third-party binary), for 1-2 and for 1-3 all work with this host, each
// at the newest version both know; one built for protocol 4 only (a
// plugin newer than the host) is refused, naming both sides' versions.
func TestProtocolGenerations(t *testing.T) {
	tests := []struct {
		name, served string
		protocol     int
		refused      bool
	}{
		{"old plugin", "1", 1, false},
		{"protocol 2 plugin", "1,2", 2, false},
		{"current plugin", "1,2,3", 3, false},
		{"plugin newer than the host", "4", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := generationPlugin(t, tt.served)
			h := newHost(t, dir, writeConfig(t, dir, profile("ok", "")), zerolog.Nop())
			tok, err := token(t, h, context.Background())
			if tt.refused {
				if err == nil || !strings.Contains(err.Error(), "speaks protocol 4") || !strings.Contains(err.Error(), "protocols 1 to 3") {
					t.Fatalf("err = %v, want a refusal naming protocol 4 and this host's 1 to 3", err)
				}
				return
			}
			if err != nil || tok.AccessToken.Reveal() != "fake-token" {
				t.Fatalf("token %+v, %v", tok, err)
			}
			st, err := h.Doctor(context.Background(), "p", false, nil)
			if err != nil || len(st) != 1 || st[0].Protocol != tt.protocol {
				t.Fatalf("doctor %+v, %v; want protocol %d", st, err, tt.protocol)
			}
		})
	}
}

// generationPlugin installs fakeflow built to serve only the protocol
// versions served (comma separated) into a new plugin directory.
func generationPlugin(t *testing.T, served string) (dir string) {
	t.Helper()
	const v = "-X github.com/credhost/credhost/core/plugin.servedProtocols="
	bin := testbin.BuildLDFlags(t, "./core/host/testdata/fakeflow", "fakeflow-protocol-"+strings.ReplaceAll(served, ",", "-"), v+served)
	dir = t.TempDir()
	b, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, BinaryName("fakeflow")), b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestProtocolGenerationsCacheAndCode: with plugins of protocol 1, 1-2
// and 1-3, the flow's cache partition persists from call to call in the
// host's store (through the CacheService before protocol 3, in the
// GetToken stream with it), and an authorization code reaches the flow:
// in its own field with protocol 3, else in UserAssertion as the JSON
// object authcode plugins of those protocols parse.
func TestProtocolGenerationsCacheAndCode(t *testing.T) {
	tests := []struct {
		served, cache, code string
	}{
		{"1", "*plugin.cacheClient", `assertion:{"credhost_authcode":1,"code":"c0de","code_verifier":"v","redirect_uri":"https://app/cb"}`},
		{"1,2", "*plugin.cacheClient", `assertion:{"credhost_authcode":1,"code":"c0de","code_verifier":"v","redirect_uri":"https://app/cb"}`},
		{"1,2,3", "*plugin.streamCache", "field:c0de,https://app/cb"},
	}
	for _, tt := range tests {
		t.Run("protocols "+tt.served, func(t *testing.T) {
			dir := generationPlugin(t, tt.served)
			store := &core.MemoryCache{}
			f := writeConfig(t, dir, profile("cache", ""))
			h := New(f, &Options{PluginDirs: []string{dir}, Log: zerolog.Nop(), Store: store})
			t.Cleanup(func() { _ = h.Close() })
			c, err := h.Credential("p")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			code := core.AuthorizationCode{Code: core.NewSecret("c0de"), Verifier: core.NewSecret("v"), RedirectURI: "https://app/cb"}
			for i, req := range []core.TokenRequest{
				{Scopes: []string{"a"}},
				{Scopes: []string{"b"}},
				{Scopes: []string{"c"}, ForceRefresh: true, AuthorizationCode: code},
			} {
				tok, err := c.GetToken(ctx, req)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				wantCode := "none"
				if i == 2 {
					wantCode = tt.code
				}
				if want := fmt.Sprintf("found=%d cache=%s code=%s", i, tt.cache, wantCode); tok.AccessToken.Reveal() != want {
					t.Fatalf("call %d: token %q, want %q", i, tok.AccessToken.Reveal(), want)
				}
			}
			keys, err := store.Keys(ctx, StateKeyPrefix)
			if err != nil || len(keys) != 1 {
				t.Fatalf("state keys %v, %v", keys, err)
			}
			if b, err := store.Load(ctx, keys[0]); err != nil || string(b.Data) != "xxx" {
				t.Fatalf("stored partition %q, %v; want the flow's three saves", b.Data, err)
			}
		})
	}
}
