package main

// credhost side by side with kubelogin, the tool kubectl users have today,
// and with the floor any Go CLI pays, in one run against one emulator:
//
//	scripts/bench-compare.sh   (builds kubelogin, sets KUBELOGIN, runs -bench 'Process|Kubelogin|Agent')
//
// Each benchmark is one whole process per iteration, as kubectl runs an
// exec credential plugin:
//
//   - BenchmarkCLIMissProcess: `credhost token --force-refresh -o
//     exec-credential`: the fast front execs credhost-cli, which starts the
//     clientcreds plugin and asks the IdP (one token request each).
//   - BenchmarkKubeloginGetToken: `kubelogin get-token --login spn` for the
//     same app and resource, with an empty --cache-dir each time (a request
//     each); BenchmarkKubeloginGetTokenCached with the cache kubelogin
//     filled (no request). Skipped unless KUBELOGIN names the binary.
//   - BenchmarkCLIHitProcess: the same command without --force-refresh,
//     answered by the fast front from the cache file (no request).
//   - BenchmarkHelloProcess: a Go binary that prints one line.
//
// Benchmarks of the agent (named *Agent*) use benchWorld the same way, so
// the script's pattern runs them in the same comparison.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// benchIdP is the one emulator every comparison benchmark talks to, so
// their numbers differ only by the client. It lives in this process until
// the test binary exits; its CA file is removed at once (benchWorld writes
// a copy from memory for each benchmark).
var benchIdP = sync.OnceValues(func() (*emulator.Server, error) {
	dir, err := os.MkdirTemp("", "credhost-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := emulator.New(emulator.Options{Config: emulator.DefaultConfig(), CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		return nil, err
	}
	return srv, srv.Start()
})

// benchWorld is newWorld on the shared emulator, with profile p
// (clientcreds, secret from CI_SECRET) written, and the environment a
// credhost process of the benchmark runs with: no agent (CREDHOST_AGENT
// off), so the CLI benchmarks measure the CLI alone.
func benchWorld(b *testing.B) (*world, []string) {
	b.Helper()
	srv, err := benchIdP()
	if err != nil {
		b.Fatalf("emulator: %v", err)
	}
	w := &world{t: b, srv: srv, cli: testbin.Build(b, "./cmd/credhost", "credhost"), dir: b.TempDir()}
	testbin.Build(b, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + w.dir, "CI_SECRET=" + secret,
		"CREDHOST_PLUGIN_DIR=" + testbin.Dir(), "CREDHOST_AGENT=off"}
	return w, env
}

// execCredentialArgs is what kubectl's exec stanza runs.
func (w *world) execCredentialArgs(extra ...string) []string {
	return append([]string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "-o", "exec-credential"}, extra...)
}

// runProcesses runs the command next makes b.N times and checks each
// prints want.
func runProcesses(b *testing.B, want string, next func() *exec.Cmd) {
	b.Helper()
	b.ResetTimer()
	for range b.N {
		cmd := next()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || len(out) == 0 || !strings.Contains(string(out), want) {
			b.Fatalf("%s: %v\n%s", filepath.Base(cmd.Path), err, stderr.String())
		}
	}
	b.StopTimer()
}

// procCmd is exec.Command with its environment.
func procCmd(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd
}

func BenchmarkCLIMissProcess(b *testing.B) {
	w, env := benchWorld(b)
	front := w.fastFront()
	n := w.srv.Count("token")
	runProcesses(b, "ExecCredential", func() *exec.Cmd { return procCmd(env, front, w.execCredentialArgs("--force-refresh")...) })
	if got := w.srv.Count("token") - n; got != b.N {
		b.Fatalf("%d processes made %d token requests, want one each", b.N, got)
	}
}

func BenchmarkCLIHitProcess(b *testing.B) {
	w, env := benchWorld(b)
	front := w.fastFront()
	if r := w.run(env, w.execCredentialArgs()...); r.code != 0 { // fills the cache
		b.Fatalf("credhost token exited %d:\n%s", r.code, r.stderr)
	}
	n := w.srv.Count("token")
	runProcesses(b, "ExecCredential", func() *exec.Cmd { return procCmd(env, front, w.execCredentialArgs()...) })
	if w.srv.Count("token") != n {
		b.Fatal("a cache hit reached the IdP")
	}
}

func BenchmarkHelloProcess(b *testing.B) {
	bin := helloBinary(b)
	runProcesses(b, "hello", func() *exec.Cmd { return procCmd(nil, bin) })
}

// BenchmarkKubeloginGetToken: kubelogin keeps spn tokens in azidentity's
// persistent cache (a file under $XDG_CACHE_HOME, sealed with a key on
// the user's kernel keyring), so each run gets an empty XDG_CACHE_HOME: a
// token request each, as a CLI miss.
func BenchmarkKubeloginGetToken(b *testing.B) {
	benchKubelogin(b, false)
}

// BenchmarkKubeloginGetTokenCached: every run shares the XDG_CACHE_HOME
// the first filled, as kubectl's repeated calls do: kubelogin's hit.
func BenchmarkKubeloginGetTokenCached(b *testing.B) {
	benchKubelogin(b, true)
}

func benchKubelogin(b *testing.B, cached bool) {
	kubelogin := os.Getenv("KUBELOGIN")
	if kubelogin == "" {
		b.Skip("KUBELOGIN is unset: scripts/bench-compare.sh builds kubelogin and sets it")
	}
	w, _ := benchWorld(b)
	// The trailing slash and --disable-instance-discovery keep kubelogin
	// (MSAL Go) on the emulator; kubelogin asks for <server-id>/.default.
	args := []string{"get-token", "--login", "spn", "--authority-host", w.srv.URL() + "/", "--disable-instance-discovery",
		"--environment", "AzurePublicCloud", "--tenant-id", tenantID, "--client-id", clientID, "--client-secret", secret,
		"--server-id", strings.TrimSuffix(scope, "/.default"), "--cache-dir", filepath.Join(w.dir, "kubelogin")}
	runs := 0
	next := func() *exec.Cmd {
		if !cached {
			runs++
		}
		return procCmd([]string{"PATH=/usr/bin:/bin", "HOME=" + w.dir, "SSL_CERT_FILE=" + filepath.Join(w.dir, "ca.pem"),
			"XDG_CACHE_HOME=" + filepath.Join(w.dir, fmt.Sprintf("cache-%d", runs))}, kubelogin, args...)
	}
	want := b.N
	if cached {
		want = 0
		if out, err := next().CombinedOutput(); err != nil { // fills the cache
			b.Fatalf("kubelogin: %v\n%s", err, out)
		}
	}
	n := w.srv.Count("token")
	runProcesses(b, "ExecCredential", next)
	if got := w.srv.Count("token") - n; got != want {
		b.Fatalf("%d kubelogin processes made %d token requests, want %d", b.N, got, want)
	}
}
