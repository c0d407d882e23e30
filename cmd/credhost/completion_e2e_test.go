package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionLoadsInBash: the generated script loads in real bash,
// registers for credhost (the name users type), and completes verbs and
// each verb's flags past global flags and their values.
func TestCompletionLoadsInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		requireTool(t, "bash")
	}
	w := newWorld(t)
	front := w.fastFront()
	script := `source <("$CREDHOST" completion bash) && complete -p credhost && complete -p credhost-cli &&
COMP_WORDS=(credhost --profile cc to); COMP_CWORD=3; _credhost; echo "verbs: ${COMPREPLY[*]}"
COMP_WORDS=(credhost --config f token --sc); COMP_CWORD=4; _credhost; echo "flags: ${COMPREPLY[*]}"
COMP_WORDS=(credhost kubeconfig --); COMP_CWORD=2; _credhost; echo "kubeconfig: ${COMPREPLY[*]}"`
	cmd := exec.Command(bash, "--norc", "-c", script)
	cmd.Env = []string{noAgent, "PATH=" + filepath.Dir(front) + ":/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST=" + front}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"complete -F _credhost credhost", "verbs: token", "flags: --scope", "kubeconfig: ", "--profile"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("no %q in\n%s", want, out)
		}
	}
	// zsh and fish parse theirs, where installed.
	for _, sh := range []string{"zsh", "fish"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		r := w.run(nil, "completion", sh)
		f := filepath.Join(w.dir, "completion."+sh)
		if err := os.WriteFile(f, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(path, "-n", f).CombinedOutput(); r.code != 0 || err != nil {
			t.Fatalf("%s: exit %d, %v\n%s", sh, r.code, err, out)
		}
	}
}

// TestManPage: the generated page renders without groff warnings and
// lists every command.
func TestManPage(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		requireTool(t, "groff")
	}
	w := newWorld(t)
	r := w.run(nil, "man")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww")
	cmd.Stdin = strings.NewReader(r.stdout)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	for _, v := range verbs() {
		if !strings.Contains(r.stdout, "\n.SS "+roff(v.name)+"\n") {
			t.Fatalf("the man page has no section for %s", v.name)
		}
	}
}
