// Package docblocks runs the shell blocks of README.md and docs/*.md as
// written, so a command the docs show that no longer works fails the
// build, not a reader.
package docblocks

import (
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

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

const root = "../.."

// fence finds fenced code blocks with the line before them (where a
// marker goes), their indentation and their language.
var fence = regexp.MustCompile("(?ms)^([^\n]*)\n([ \t]*)```(\\w*)\n(.*?)^[ \t]*```[ \t]*$")

// marker is the HTML comment on the line before a block that changes how
// it is run: `skip (why)` (the reason is required) or `exit N` (the exit
// status the block must end with). The quick start's own marker means
// examples/quickstart runs it.
var marker = regexp.MustCompile(`^<!-- doc-test: (skip \((.+)\)|exit (\d+)) -->$`)

type block struct {
	doc, text string
	line      int
	skip      string // why it is not run here
	exit      int
}

// shellBlocks returns the sh, bash and console blocks of a Markdown file,
// dedented; console blocks keep only the `$ ` command lines.
func shellBlocks(t *testing.T, doc string) []block {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	var out []block
	for _, m := range fence.FindAllStringSubmatchIndex(md, -1) {
		lang := md[m[6]:m[7]]
		if lang != "sh" && lang != "bash" && lang != "console" && lang != "shell" {
			continue
		}
		indent, before := md[m[4]:m[5]], strings.TrimSpace(md[m[2]:m[3]])
		bl := block{doc: doc, line: strings.Count(md[:m[4]], "\n") + 1}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(md[m[8]:m[9]], "\n"), "\n") {
			l = strings.TrimPrefix(l, indent)
			if lang == "console" {
				c, ok := strings.CutPrefix(l, "$ ")
				if !ok {
					continue
				}
				l = c
			}
			lines = append(lines, l)
		}
		bl.text = strings.Join(lines, "\n") + "\n"
		switch mm := marker.FindStringSubmatch(before); {
		case mm != nil && mm[2] != "":
			bl.skip = mm[2]
		case mm != nil:
			bl.exit, _ = strconv.Atoi(mm[3])
		case strings.HasPrefix(before, "<!-- quickstart:"):
			bl.skip = "the quick start, run as written by examples/quickstart"
		case strings.HasPrefix(before, "<!-- doc-test"):
			t.Errorf("%s:%d: malformed marker %q (say `skip (why)` or `exit N`)", doc, bl.line, before)
		}
		out = append(out, bl)
	}
	return out
}

// TestDocShellBlocksRun runs every shell block of README.md and docs/*.md
// in bash (set -e), in document order, in one sandbox per test: a
// temporary HOME and XDG directories, PATH with freshly built credhost,
// credhost-cli and plugins first, the emulator (started with `credhost
// emulator --url-file`, as the docs do) behind a user config holding the
// profiles the docs name (ci, laptop, ado), and the variables they assume
// (CI_CLIENT_SECRET, SSL_CERT_FILE) or set (a [plugins] dir, as the
// README's example config). A block's background jobs and
// everything they started are killed when it ends. Each block must exit 0
// unless its marker says otherwise.
func TestDocShellBlocksRun(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	var blocks []block
	for _, doc := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		blocks = append(blocks, shellBlocks(t, doc)...)
	}
	if len(blocks) < 8 {
		t.Fatalf("found only %d shell blocks: the extraction is broken", len(blocks))
	}
	sbStart := time.Now()
	sb := newSandbox(t)
	start, ran := time.Now(), 0
	t.Logf("sandbox ready in %v", time.Since(sbStart).Round(time.Millisecond))
	for _, b := range blocks {
		name := fmt.Sprintf("%s:%d", strings.TrimPrefix(b.doc, root+"/"), b.line)
		if b.skip != "" {
			t.Logf("%s: not run here: %s", name, b.skip)
			continue
		}
		ran++
		sb.run(t, name, b)
	}
	t.Logf("ran %d blocks in %v", ran, time.Since(start).Round(time.Millisecond))
	// Most blocks must run: a skip is an exception with a reason.
	if ran*2 < len(blocks) {
		t.Errorf("ran %d of %d shell blocks: too many skipped", ran, len(blocks))
	}
}

type sandbox struct {
	dir, work string
	env       []string
}

func newSandbox(t *testing.T) *sandbox {
	dir := t.TempDir()
	sb := &sandbox{dir: dir, work: filepath.Join(dir, "work")}
	home := filepath.Join(dir, "home")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{sb.work, home, bin, filepath.Join(home, ".config", "credhost"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The README installs examples/plugin-githuboidc from the current
	// directory; it is a module of its own, built as its README says,
	// beside (not after) the builds below: on a 2-core machine the builds
	// are most of this test's time.
	gh := exec.Command("go", "build", "-o", filepath.Join(sb.work, "credhost-plugin-githuboidc"), ".")
	gh.Dir = filepath.Join(root, "examples", "plugin-githuboidc")
	gh.Env = append(os.Environ(), "CGO_ENABLED=0")
	ghDone := make(chan error, 1)
	var ghOut bytes.Buffer
	gh.Stdout, gh.Stderr = &ghOut, &ghOut
	if err := gh.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { ghDone <- gh.Wait() }()
	t.Cleanup(func() { _ = gh.Process.Kill() }) // if the test fails before it ends
	// As `make build` names them: the fast front is credhost, the full
	// CLI credhost-cli, and the plugins next to them (found there).
	testbin.CopyAs(t, testbin.Build(t, "./cmd/credhost", "credhost"), bin, "credhost-cli")
	testbin.CopyAs(t, testbin.Build(t, "./cmd/credhost/fast", "credhost-fast"), bin, "credhost")
	// Only the flows the docs' profiles use: each build costs seconds.
	for _, flow := range []string{"clientcreds", "authcode", "devicecode"} {
		name := "credhost-plugin-" + flow
		testbin.CopyAs(t, testbin.Build(t, "./plugins/"+flow, name), bin, name)
	}
	if err := <-ghDone; err != nil {
		t.Fatalf("building examples/plugin-githuboidc: %v\n%s", err, ghOut.String())
	}

	sb.env = []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "run"),
		"PATH=" + bin + ":/usr/bin:/bin",
		"LANG=C.UTF-8",
		"GIT_CONFIG_NOSYSTEM=1",
		// No agent outlives a block (another process may start one on a
		// cache miss), and nothing here opens a browser: authcode is
		// unavailable and the chain falls through to a device code,
		// which the emulator approves after a second.
		"CREDHOST_AGENT=off",
		"CI_CLIENT_SECRET=" + emulator.DefaultClientSecret,
	}

	// The emulator as the docs start it, for as long as the test runs.
	urlFile, ca := filepath.Join(dir, "emulator.url"), filepath.Join(dir, "emulator-ca.pem")
	emu := exec.Command(filepath.Join(bin, "credhost-cli"), "emulator", "--url-file", urlFile, "--ca-file", ca,
		"--lenient", "--auto-approve-after", "1s", "--device-code-interval", "1s")
	emu.Env = sb.env
	var emuErr bytes.Buffer
	emu.Stderr = &emuErr
	emu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-emu.Process.Pid, syscall.SIGKILL)
		_ = emu.Wait()
	})
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the emulator wrote no --url-file in 30 s:\n%s", emuErr.String())
		}
		b, _ := os.ReadFile(urlFile)
		url = strings.TrimSpace(string(b))
	}
	sb.env = append(sb.env, "SSL_CERT_FILE="+ca)

	authority := strings.TrimSuffix(url, "/") + "/" + emulator.DefaultTenantID
	cfg := fmt.Sprintf(`[profiles.ci]
authority = %[1]q
client_id = %[2]q
chain     = ["clientcreds"]
[profiles.ci.clientcreds]
client_secret = "env:CI_CLIENT_SECRET"

[profiles.laptop]
authority = %[1]q
client_id = %[3]q
chain     = ["authcode", "devicecode"]

[profiles.ado]
authority = %[1]q
client_id = %[2]q
chain     = ["clientcreds"]
[profiles.ado.clientcreds]
client_secret = "env:CI_CLIENT_SECRET"

[plugins]
dir = %[4]q
`, authority, emulator.DefaultClientID, emulator.DefaultPublicClientID, filepath.Join(home, ".local", "lib", "credhost", "plugins"))
	if err := os.WriteFile(filepath.Join(home, ".config", "credhost", "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb
}

// run runs one block in bash from the sandbox's work directory and
// checks its exit status; its process group is killed when it ends.
func (sb *sandbox) run(t *testing.T, name string, b block) {
	t.Helper()
	script := "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + b.text
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
	cmd.Dir, cmd.Env = sb.work, sb.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Errorf("%s hung (killed after 60 s):\n%s\n%s", name, b.text, out.String())
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	if code != b.exit {
		t.Errorf("%s exited %d, want %d (fix the docs or the code; `<!-- doc-test: exit N -->` before a block that must fail):\n%s--- output:\n%s", name, code, b.exit, b.text, out.String())
		return
	}
	t.Logf("%s: exit %d in %v", name, code, time.Since(began).Round(time.Millisecond))
}
