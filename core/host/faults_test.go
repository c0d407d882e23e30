package host

// Plugin faults: a plugin that crashes at start or mid-stream, hangs at
// start, writes garbage where the handshake belongs or after it, speaks
// another protocol, is missing or cannot be executed. Each is a
// classified error within the caller's deadline; the host stays up (a
// healthy profile of the same host answers after each), the next call
// recovers once the plugin is fixed, and no child process is left
// behind, zombies included (counted in /proc).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// children returns "pid state" for every child process of this test
// process, zombies included, from /proc/<pid>/stat.
func children(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to count child processes: %v", err)
	}
	me := os.Getpid()
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(b)
		rest := s[strings.LastIndexByte(s, ')')+1:]
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == me {
			out = append(out, fmt.Sprintf("%d %s", pid, f[0]))
		}
	}
	return out
}

// settleChildren waits (bounded) for the child count to come back to
// want: processes are reaped in the background after a kill.
func settleChildren(t *testing.T, want int) []string {
	t.Helper()
	var got []string
	for range 100 {
		if got = children(t); len(got) <= want {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	return got
}

// script writes an executable shell script named as the plugin of flow.
func script(t *testing.T, dir, flow, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, BinaryName(flow)), []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestPluginFaults(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts child processes in /proc, and the broken plugins are shell scripts")
	}
	const healthy = `
[profiles.good]
authority = "https://login.example.test/72f988bf-0000-4000-8000-000000000001"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["fakeflow"]
[profiles.good.fakeflow]
mode = "ok"
`
	tests := []struct {
		name string
		// setup makes the broken plugin "broken" in dir, or leaves none.
		setup    func(t *testing.T, dir string)
		scope    string        // of the failing call; default "s"
		timeout  time.Duration // of the failing call; default 10s
		kind     core.Kind
		contains string // in the error text
		deadline bool   // the error is the deadline's
	}{
		{name: "crashes at start", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "echo 'panic: boom' >&2\nexit 2", 0o755)
		}, kind: core.KindFailed, contains: "broken"},
		{name: "garbage instead of the handshake", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "printf '\\000\\377 hello, I am not a plugin\\n'\nexec sleep 30", 0o755)
		}, kind: core.KindFailed, contains: "broken"},
		{name: "wrong protocol version", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "echo '1|99|unix|/nonexistent/socket|grpc|'\nexec sleep 30", 0o755)
		}, kind: core.KindFailed, contains: "protocol 99"},
		{name: "wrong core protocol", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "echo '7|1|unix|/nonexistent/socket|grpc|'\nexec sleep 30", 0o755)
		}, kind: core.KindFailed, contains: "broken"},
		{name: "hangs before the handshake", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "exec sleep 60", 0o755)
		}, timeout: 2 * time.Second, kind: core.KindFailed, deadline: true},
		{name: "missing", setup: func(t *testing.T, dir string) {}, kind: core.KindUnavailable, contains: "credhost-plugin-broken"},
		{name: "not executable", setup: func(t *testing.T, dir string) {
			script(t, dir, "broken", "exit 0", 0o644)
		}, kind: core.KindUnavailable, contains: "broken"},
		{name: "crashes mid-stream", setup: fakeAsBroken, scope: "crash-mid-stream", kind: core.KindFailed, contains: "broken"},
		{name: "hangs mid-call", setup: fakeAsBroken, scope: "slow", timeout: 2 * time.Second, kind: core.KindFailed, deadline: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := children(t)
			dir, _ := fakePlugin(t)
			tt.setup(t, dir)
			h := New(writeConfig(t, dir, profileNamed("bad", "broken", "ok")+healthy), &Options{PluginDirs: []string{dir}, Log: zerolog.Nop()})
			scope, timeout := tt.scope, tt.timeout
			if scope == "" {
				scope = "s"
			}
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			call := func(ctx context.Context, profile, scope string) (core.Token, error) {
				c, err := h.Credential(profile)
				if err != nil {
					t.Fatal(err)
				}
				return c.GetToken(ctx, core.TokenRequest{Scopes: []string{scope}})
			}
			for i := range 2 { // the second call meets the same fault, not a stuck host
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := call(ctx, "bad", scope)
				late := ctx.Err()
				cancel()
				if err == nil {
					t.Fatalf("call %d: no error", i)
				}
				if core.KindOf(err) != tt.kind {
					t.Errorf("call %d: kind %v, want %v: %v", i, core.KindOf(err), tt.kind, err)
				}
				var ce *core.Error
				if !errors.As(err, &ce) || (ce.Hint == "" && !tt.deadline) {
					t.Errorf("call %d: %v: want a classified error with a hint", i, err)
				}
				if tt.contains != "" && !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("call %d: %v: want it to name %q", i, err, tt.contains)
				}
				if tt.deadline || tt.timeout != 0 {
					// Bounded by the deadline: the error came, and a hang is
					// reported as the deadline or as the start timeout.
					if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("call %d: %v: want the deadline's error", i, err)
					}
				} else if late != nil {
					t.Errorf("call %d: the error came only after the deadline: %v", i, err)
				}
				// The host is up: another profile answers.
				if tok, err := call(context.Background(), "good", "s"); err != nil || tok.AccessToken.Reveal() != "fake-token" {
					t.Fatalf("call %d: healthy profile after the fault: %v", i, err)
				}
			}
			// Fixed plugin: the next call recovers.
			fakeAsBroken(t, dir)
			if tok, err := call(context.Background(), "bad", "s"); err != nil || tok.AccessToken.Reveal() != "fake-token" {
				t.Fatalf("after fixing the plugin: %v", err)
			}
			// Junk on stdout after the handshake is harmless: go-plugin
			// owns the plugin's stdout from then on.
			if tok, err := call(context.Background(), "bad", "stdout-garbage"); err != nil || tok.AccessToken.Reveal() != "fake-token" {
				t.Fatalf("plugin writing junk to stdout mid-call: %v", err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			if after := settleChildren(t, len(before)); len(after) != len(before) {
				t.Fatalf("child processes: %d before, %d after Close: %v", len(before), len(after), after)
			}
		})
	}
}

// fakeAsBroken installs the fake plugin as the plugin of flow "broken"
// (it answers to any flow name its binary is given).
func fakeAsBroken(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, BinaryName("fakeflow")))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, BinaryName("broken"))
	_ = os.Remove(path) // a running script may hold the old file
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// profileNamed is profile() for a profile named name whose chain is flow.
func profileNamed(name, flow, mode string) string {
	return fmt.Sprintf(`
[profiles.%s]
authority = "https://login.example.test/72f988bf-0000-4000-8000-000000000001"
client_id = "11111111-1111-4111-8111-111111111111"
chain = [%q]
timeout = "20s"
[profiles.%s.%s]
mode = %q
`, name, flow, name, flow, mode)
}
