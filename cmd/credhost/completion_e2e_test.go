package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
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
}

// zshCapture loads the zsh script as a user's .zshrc would (compinit,
// then source) and, in a second zsh on a pseudo-terminal (zpty: the
// completion system runs only inside the line editor), types each
// argument followed by Tab. A compadd wrapper records the candidates
// each Tab offers, printed after "== <line>".
const zshCapture = `set -e
autoload -Uz compinit
compinit -u -d "$HOME/.zcompdump"
source <("$CREDHOST" completion zsh)
print -r -- "loaded: $_comps[credhost] $_comps[credhost-cli]"
# As an installed completion: _credhost on $fpath, found by compinit.
mkdir -p "$HOME/zfunc"
"$CREDHOST" completion zsh > "$HOME/zfunc/_credhost"
unfunction _credhost; _comps=()
fpath=("$HOME/zfunc" $fpath)
compinit -u -d "$HOME/.zcompdump2"
print -r -- "fpath: $_comps[credhost]"
zmodload zsh/zpty
n=0
for line in "$@"; do
  n=$((n+1))
  zpty z$n 'zsh -f -i'
  zpty -w z$n 'PS1="% "; autoload -Uz compinit; compinit -u -d "$HOME/.zcompdump"; source <("$CREDHOST" completion zsh)'
  # _describe filters with compadd -D/-O first; record only real adds.
  zpty -w z$n 'compadd() { if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi; local -a m; builtin compadd -O m "$@"; print -rl -- $m >> "$HOME/matches.'$n'"; builtin compadd "$@"; }'
  zpty -n -w z$n "$line"$'\t'
  # zpty's shells die with this one: wait here for the candidates.
  for i in {1..100}; do [[ -s "$HOME/matches.$n" ]] && break; sleep 0.1; done
  zpty -d z$n
  print -r -- "== $line"
  cat "$HOME/matches.$n" 2>/dev/null || true
done
`

// TestCompletionLoadsInZshAndFish: the zsh script loads without a word on
// stderr, both sourced after compinit and as an autoloaded _credhost on
// $fpath, and real zsh offers verbs and a verb's flags past global flags;
// real fish completes the same lines from its script.
func TestCompletionLoadsInZshAndFish(t *testing.T) {
	w := newWorld(t)
	front := w.fastFront()
	env := []string{"PATH=" + filepath.Dir(front) + ":/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST=" + front, "TERM=dumb"}
	cases := []struct{ line, want string }{
		{"credhost to", "token"},
		{"credhost --profile cc to", "token"},
		{"credhost --config f token --sc", "--scope"},
		{"credhost kubeconfig --wr", "--write"},
	}

	t.Run("zsh", func(t *testing.T) {
		zsh, err := exec.LookPath("zsh")
		if err != nil {
			requireTool(t, "zsh")
		}
		args := []string{"-f", "-c", zshCapture, "zsh"}
		for _, c := range cases {
			args = append(args, c.line)
		}
		cmd := exec.Command(zsh, args...)
		cmd.Env = env
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("zsh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		sections := strings.Split(stdout.String(), "== ")
		if len(sections) != len(cases)+1 {
			t.Fatalf("zsh typed %d lines of %d:\n%s", len(sections)-1, len(cases), stdout.String())
		}
		for _, want := range []string{"loaded: _credhost _credhost\n", "fpath: _credhost\n"} {
			if !strings.Contains(sections[0], want) {
				t.Fatalf("no %q in zsh's output:\n%s", want, stdout.String())
			}
		}
		for i, c := range cases {
			if got := strings.Split(sections[i+1], "\n"); got[0] != c.line || !slices.Contains(got[1:], c.want) {
				t.Errorf("zsh completes %q with %q, want %q among them", c.line, got[1:], c.want)
			}
		}
	})

	t.Run("fish", func(t *testing.T) {
		fish, err := exec.LookPath("fish")
		if err != nil {
			requireTool(t, "fish")
		}
		script := `"$CREDHOST" completion fish | source`
		for _, c := range cases {
			script += fmt.Sprintf("; echo '== %s'; complete -C '%s'", c.line, c.line)
		}
		cmd := exec.Command(fish, "--no-config", "-c", script)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		sections := strings.Split(string(out), "== ")
		if len(sections) != len(cases)+1 || strings.TrimSpace(sections[0]) != "" {
			t.Fatalf("fish printed more than the completions:\n%s", out)
		}
		for i, c := range cases {
			var got []string
			for _, l := range strings.Split(sections[i+1], "\n")[1:] {
				cand, _, _ := strings.Cut(l, "\t")
				got = append(got, cand)
			}
			if !slices.Contains(got, c.want) {
				t.Errorf("fish completes %q with %q, want %q among them", c.line, got, c.want)
			}
		}
	})
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
