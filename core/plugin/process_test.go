package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// lifeflow builds the test plugin of testdata/lifeflow.
func lifeflow(t testing.TB) string {
	t.Helper()
	return testbin.Build(t, "./core/plugin/testdata/lifeflow", "credhost-plugin-lifeflow")
}

func token(t *testing.T, p *Process, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{scope}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken.Reveal()
}

// alive reports whether pid is in /proc at all: running, stopped or a
// zombie nobody reaped yet.
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// waitGone fails unless every pid has left /proc within 5 s (the goal is
// 1 s; the bound is generous for a loaded machine).
func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: processes %v still exist 5 s later", what, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pinOf(t testing.TB, path string) string {
	t.Helper()
	pin, err := Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	return pin
}

// The pin race of the hostile-world issue: a goroutine keeps renaming the
// pinned binary and an unpinned twin into place while the host starts
// the plugin. Whatever the timing, the host either refuses the start or
// runs the pinned binary; the twin, which writes a marker file first
// thing, never runs.
func TestPinnedStartNeverRunsASwappedBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("renaming over a file that is open is refused on Windows")
	}
	good := lifeflow(t)
	markerDir := t.TempDir()
	marker := filepath.Join(markerDir, "unpinned-ran")
	evil := testbin.BuildLDFlags(t, "./core/plugin/testdata/lifeflow", "credhost-plugin-lifeflow-unpinned", "-X main.marker="+marker)
	for _, tt := range []struct {
		name  string
		copy  bool
		tries int
	}{{"descriptor", false, 200}, {"private copy", true, 60}} {
		t.Run(tt.name, func(t *testing.T) {
			old := privateCopy
			privateCopy = tt.copy
			t.Cleanup(func() { privateCopy = old })
			dir := t.TempDir()
			// A fresh copy written beside the plugin and renamed into
			// place: the atomic swap an attacker would do.
			goodBytes, err := os.ReadFile(good)
			if err != nil {
				t.Fatal(err)
			}
			evilBytes, err := os.ReadFile(evil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "credhost-plugin-lifeflow")
			if err := os.WriteFile(path, goodBytes, 0o755); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var swaps atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				tmp := path + ".swap"
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b := goodBytes
					if i%2 == 0 {
						b = evilBytes
					}
					if os.WriteFile(tmp, b, 0o755) == nil && os.Rename(tmp, path) == nil {
						swaps.Add(1)
					}
				}
			}()
			pin := pinOf(t, good)
			var ran, refused int
			for i := range tt.tries {
				p := NewProcess(Spec{Flow: "lifeflow", Path: path, Pin: pin})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := p.Client(ctx)
				cancel()
				p.Close()
				switch {
				case err == nil:
					ran++
				case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
					refused++
				default:
					close(stop)
					wg.Wait()
					t.Fatalf("start %d: %v", i, err)
				}
				if _, err := os.Stat(marker); err == nil {
					close(stop)
					wg.Wait()
					t.Fatalf("start %d: the unpinned binary ran", i)
				}
			}
			close(stop)
			wg.Wait()
			t.Logf("%d starts: %d ran the pinned binary, %d refused, %d swaps", tt.tries, ran, refused, swaps.Load())
			if ran == 0 || refused == 0 {
				t.Fatalf("the race was not exercised: %d ran, %d refused", ran, refused)
			}
		})
	}
}

// A plugin started from its verified descriptor still sees the path it
// was installed under, and its kernel name is its binary's.
func TestPinnedPluginKnowsItsPath(t *testing.T) {
	path := testbin.Copy(t, lifeflow(t), t.TempDir())
	p := NewProcess(Spec{Flow: "lifeflow", Path: path, Pin: pinOf(t, path)})
	defer p.Close()
	fields := strings.Split(token(t, p, "self"), "\n")
	if len(fields) != 3 || fields[1] != path {
		t.Fatalf("plugin saw argv %q, want argv[0] %q", fields, path)
	}
	if exe, _ := filepath.EvalSymlinks(fields[2]); exe != path {
		t.Errorf("os.Executable in the plugin = %q, want %q", fields[2], path)
	}
	if runtime.GOOS == "linux" {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(comm)); got != filepath.Base(path)[:15] {
			t.Errorf("plugin's comm = %q, want %q", got, filepath.Base(path)[:15])
		}
	}
}

// Kill and Close take the plugin's process group: a child the plugin
// started goes with it.
func TestCloseKillsThePluginsChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts processes in /proc")
	}
	p := NewProcess(Spec{Flow: "lifeflow", Path: lifeflow(t)})
	child, err := strconv.Atoi(token(t, p, "spawn"))
	if err != nil {
		t.Fatal(err)
	}
	plugin := p.Pid()
	if !alive(child) || !alive(plugin) {
		t.Fatalf("plugin %d or its child %d is not running", plugin, child)
	}
	p.Close()
	waitGone(t, "after Close", plugin, child)
}

// The parent-death signal is tied to the OS thread that forked the
// plugin. Goroutines that lock a thread and exit end that thread; the
// plugin must survive them (startLocked forks from a thread of its own).
func TestPluginSurvivesEndingHostThreads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux's")
	}
	p := NewProcess(Spec{Flow: "lifeflow", Path: lifeflow(t)})
	defer p.Close()
	_ = token(t, p, "ok")
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // exit locked: Go ends this thread
			time.Sleep(time.Millisecond)
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	if !p.Running() {
		t.Fatal("the plugin died when host threads ended")
	}
	_ = token(t, p, "ok")
}

// What a pinned start pays before the exec, by strategy: the descriptor
// (a stat and the remembered digest of an unchanged binary) or a private
// copy (copy and hash every time, as on systems without /proc/self/fd).
//
//	go test -run '^$' -bench OpenVerified ./core/plugin/
func BenchmarkOpenVerified(b *testing.B) {
	path := testbin.Copy(b, lifeflow(b), b.TempDir())
	// A binary installed long ago: its digest may be remembered.
	defer func(old func() time.Time) { timeNow = old }(timeNow)
	timeNow = later
	sum, err := ParsePin(pinOf(b, path))
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name string
		copy bool
	}{{"descriptor", false}, {"private-copy", true}} {
		b.Run(bb.name, func(b *testing.B) {
			defer func(old bool) { privateCopy = old }(privateCopy)
			privateCopy = bb.copy
			for b.Loop() {
				v, err := openVerified(path, sum)
				if err != nil {
					b.Fatal(err)
				}
				v.release()
			}
		})
	}
}

// TestPluginLevel: a plugin logs at the lowest level the host's logger
// writes; the zero Logger (which reads as debug but writes nothing) asks
// for no plugin logs at all.
func TestPluginLevel(t *testing.T) {
	var buf bytes.Buffer
	tests := []struct {
		name string
		log  zerolog.Logger
		want zerolog.Level
	}{
		{"zero Logger", zerolog.Logger{}, zerolog.Disabled},
		{"Nop", zerolog.Nop(), zerolog.Disabled},
		{"debug", zerolog.New(&buf).Level(zerolog.DebugLevel), zerolog.DebugLevel},
		{"warn", zerolog.New(&buf).Level(zerolog.WarnLevel), zerolog.WarnLevel},
	}
	for _, tt := range tests {
		if got := pluginLevel(tt.log); got != tt.want {
			t.Errorf("%s: pluginLevel = %v, want %v", tt.name, got, tt.want)
		}
	}
	if env := pluginEnv(zerolog.Logger{}); env[len(env)-1] != logLevelEnv+"=disabled" {
		t.Errorf("pluginEnv(zero Logger) ends with %q", env[len(env)-1])
	}
	if buf.Len() != 0 {
		t.Errorf("probing the level wrote %q", buf.String())
	}
}
