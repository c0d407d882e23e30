// Package quickstart runs the README's quick start as written.
package quickstart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/testbin"
)

var block = regexp.MustCompile("(?s)<!-- quickstart:[^>]*-->\n```sh\n(.*?)```")

// TestQuickStart runs the README's quick start commands in bash, in a
// directory whose bin/ holds what `make demo` builds (the tests build it
// once for every test; `make demo` itself, which builds bin/ and shows
// the demo, is the first line, checked and skipped): the token printed is the emulator's for the API server,
// and demo.kubeconfig has the credhost user with its exec stanza.
func TestQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := block.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no quick start block")
	}
	lines := strings.Split(strings.TrimSpace(string(m[1])), "\n")
	if len(lines) > 5 || lines[0] != "make demo" {
		t.Fatalf("the quick start is %d commands, starting %q; want at most 5, starting make demo", len(lines), lines[0])
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, name := range map[string]string{
		testbin.Build(t, "./cmd/credhost", "credhost"):                           "credhost-cli",
		testbin.Build(t, "./cmd/credhost/fast", "credhost-fast"):                 "credhost",
		testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds"): "credhost-plugin-clientcreds",
	} {
		testbin.CopyAs(t, src, bin, name)
	}
	// set -e, and the emulator (job 1) stops with the script.
	script := "set -e\ntrap 'kill %1 2>/dev/null' EXIT\n" + strings.Join(lines[1:], "\n") + "\n"
	cmd := exec.Command("bash", "--norc", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + dir}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the quick start hung:\n%s", errb.String())
	}
	if err != nil || !strings.Contains(out.String(), `"aud": "api://kubernetes"`) {
		t.Fatalf("quick start: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	kc, err := os.ReadFile(filepath.Join(dir, "demo.kubeconfig"))
	if err != nil || !strings.Contains(string(kc), "name: credhost-env") || !strings.Contains(string(kc), "exec-credential") {
		t.Fatalf("demo.kubeconfig: %v\n%s", err, kc)
	}
}
