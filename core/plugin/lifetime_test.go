//go:build linux

package plugin

// Plugins never outlive their host, whatever way the host goes, and take
// their own children with them (issue 14.1 and 18.6); hosts and plugins
// keep their memory to themselves (18.5). Real processes: the credhost
// CLI, an sdk embedder, the lifeflow plugin and its sleep child.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/testbin"
)

// lifeWorld is a plugin directory of its own (so its processes can be told
// apart from any other test's by argv[0]) and a config using it.
type lifeWorld struct {
	dir, pluginDir, config string
}

func newLifeWorld(t *testing.T) *lifeWorld {
	t.Helper()
	w := &lifeWorld{dir: t.TempDir()}
	w.pluginDir = filepath.Join(w.dir, "plugins")
	if err := os.Mkdir(w.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Pinned, as installations should be: the plugin is then started
	// from its verified descriptor (exec.go), also by a non-dumpable host
	// that is not root (TestHostAndPluginAreNotDumpable).
	pin := pinOf(t, testbin.Copy(t, lifeflow(t), w.pluginDir))
	w.config = filepath.Join(w.dir, "config.toml")
	body := fmt.Sprintf(`[profiles.p]
authority = "https://login.microsoftonline.com/72f988bf-0000-4000-8000-000000000001"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["lifeflow"]
timeout = "120s"

[plugins]
dir = %q

[plugins.pins]
lifeflow = %q

[cache]
backend = "memory"
`, w.pluginDir, pin)
	if err := os.WriteFile(w.config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// procs returns the processes whose argv[0] lies in the world's plugin
// directory: the plugin and the child it starts.
func (w *lifeWorld) procs(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.HasPrefix(string(b), w.pluginDir+string(os.PathSeparator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitProcs waits until n processes of the world run, and returns them.
func (w *lifeWorld) waitProcs(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pids := w.procs(t)
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d plugin processes after 60 s, want %d", len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *lifeWorld) cli(t *testing.T, scope string) *exec.Cmd {
	t.Helper()
	cli := testbin.Build(t, "./cmd/credhost", "credhost-cli")
	cmd := exec.Command(cli, "token", "--config", w.config, "--scope", scope)
	cmd.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + w.dir}
	return cmd
}

// start starts cmd; the test kills it in the end if it still runs.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("stderr of %s:\n%s", filepath.Base(cmd.Path), stderr.String())
		}
	})
}

func TestHostKilledMidCallLeavesNoPlugin(t *testing.T) {
	w := newLifeWorld(t)
	cmd := w.cli(t, "spawn-hang")
	start(t, cmd)
	pids := w.waitProcs(t, 2) // the plugin and its child, blocked in the call
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // reap the CLI; its orphans are init's to reap
	waitGone(t, "after SIGKILL of credhost-cli", pids...)
}

func TestSIGTERMEndsABlockedCallPromptly(t *testing.T) {
	w := newLifeWorld(t)
	cmd := w.cli(t, "spawn-hang")
	start(t, cmd)
	pids := w.waitProcs(t, 2)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("credhost-cli exited 0 after SIGTERM during a call")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("credhost-cli still runs 10 s after SIGTERM while its plugin hangs")
	}
	waitGone(t, "after SIGTERM of credhost-cli", pids...)
}

// embedder starts the sdk embedder of testdata for scope "spawn" and
// returns it once it printed its token (the pid of the plugin's child):
// the call is over, the plugin stays warm.
func (w *lifeWorld) embedder(t *testing.T, wait bool) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	bin := testbin.Build(t, "./core/plugin/testdata/embedder", "embedder")
	args := []string{w.config, "spawn"}
	if wait {
		args = append(args, "wait")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + w.dir}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, cmd)
	return cmd, bufio.NewReader(out)
}

func TestEmbedderExitingWithoutCloseLeavesNoPlugin(t *testing.T) {
	w := newLifeWorld(t)
	cmd, out := w.embedder(t, false)
	line, err := out.ReadString('\n')
	child, aerr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || aerr != nil {
		t.Fatalf("embedder printed %q, %v", line, err)
	}
	_ = cmd.Wait()
	// The plugin may be gone already: look for it by its child's group.
	waitGone(t, "after os.Exit without Close", append(w.procs(t), child)...)
	if left := w.procs(t); len(left) > 0 {
		t.Fatalf("processes %v left", left)
	}
}

func TestEmbedderKilledAfterACallLeavesNoPlugin(t *testing.T) {
	w := newLifeWorld(t)
	cmd, out := w.embedder(t, true)
	if _, err := out.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	pids := w.waitProcs(t, 2)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, "after SIGKILL of the embedder", pids...)
}

// What the kernel shows of a running CLI and its plugin: no core files
// (RLIMIT_CORE 0, /proc/<pid>/limits) and not dumpable. Dumpable is not in
// /proc; the kernel shows it by owning /proc/<pid>/* as root instead of as
// the process's user (fs/proc task_dump_owner), so both run as nobody
// here: a dumpable process's files would be nobody's. That is the flag
// that also refuses PTRACE_ATTACH and /proc/<pid>/mem to other processes
// of the user; the test does not try an attach (it runs as root, which
// may attach anyway).
func TestHostAndPluginAreNotDumpable(t *testing.T) {
	w := newLifeWorld(t)
	if os.Getuid() != 0 {
		t.Skip("runs the CLI as nobody, which needs root")
	}
	// nobody must reach the binaries, the config and the plugin.
	cli := testbin.Copy(t, testbin.Build(t, "./cmd/credhost", "credhost-cli"), w.dir)
	for d := w.pluginDir; d != filepath.Dir(os.TempDir()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// go-plugin's socket goes to TMPDIR, which nobody must be able to
	// write (this machine's /tmp is root's).
	tmp := filepath.Join(w.dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	cmd := exec.Command(cli, "token", "--config", w.config, "--scope", "hang")
	cmd.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + w.dir, "TMPDIR=" + tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	start(t, cmd)
	plugin := w.waitProcs(t, 1)[0]
	defer func() {
		if !alive(plugin) {
			t.Error("the plugin did not stay up during the test")
		}
	}()
	for _, p := range []struct {
		name string
		pid  int
	}{{"credhost-cli", cmd.Process.Pid}, {"plugin", plugin}} {
		limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.pid))
		if err != nil {
			t.Fatal(err)
		}
		if !regexpMatch(`(?m)^Max core file size\s+0\s+0\s`, string(limits)) {
			t.Errorf("%s may write core files:\n%s", p.name, limits)
		}
		// The process may not have reached its main yet: give it time.
		var uid uint32
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			fi, err := os.Stat(fmt.Sprintf("/proc/%d/status", p.pid))
			if err != nil {
				t.Fatal(err)
			}
			if uid = fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
				break
			}
		}
		if uid != 0 {
			t.Errorf("%s is dumpable: its /proc files belong to uid %d, not root", p.name, uid)
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
