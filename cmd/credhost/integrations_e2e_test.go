package main

// credhost where people already work: real kubectl and real git, each
// against a local HTTPS server that accepts only emulator-issued tokens.

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/testbin"
)

// protectedServer serves next to requests whose bearer token (or Basic
// password, as git sends it) the emulator issued for audience; anything
// else gets 401.
func (w *world) protectedServer(audience string, next http.Handler) (*httptest.Server, *atomic.Int32, string) {
	w.t.Helper()
	var ok atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found {
			_, tok, found = r.BasicAuth()
		}
		claims, err := w.srv.VerifyAccessToken(tok)
		if !found || err != nil || claims["aud"] != audience {
			rw.Header().Set("WWW-Authenticate", `Basic realm="credhost test"`)
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		ok.Add(1)
		next.ServeHTTP(rw, r)
	}))
	w.t.Cleanup(srv.Close)
	caPath := filepath.Join(w.dir, "server-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caPath, ca, 0o644); err != nil {
		w.t.Fatal(err)
	}
	return srv, &ok, caPath
}

func TestKubectlExecCredential(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		requireTool(t, "kubectl")
	}
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	const audience = "api://kubernetes"
	api, authorized, caPath := w.protectedServer(audience, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"major":"1","minor":"32","gitVersion":"v1.32.0-credhost-test"}`))
	}))
	r := w.run(nil, "kubeconfig", "--config", cfg, "--profile", "p", "--scope", audience+"/.default", "--interactive-mode", "Never", "--command", w.cli)
	if r.code != 0 || !strings.Contains(r.stdout, "exec-credential") {
		t.Fatalf("kubeconfig: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	ca, _ := os.ReadFile(caPath)
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ` + api.URL + `
    certificate-authority-data: ` + base64.StdEncoding.EncodeToString(ca) + `
contexts:
- name: test
  context: {cluster: test, user: credhost-p}
current-context: test
` + r.stdout
	kc := filepath.Join(w.dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	kube := func() string {
		cmd := exec.Command(kubectl, "--kubeconfig", kc, "get", "--raw", "/version")
		cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CI_SECRET=" + secret}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get --raw /version: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := kube(); !strings.Contains(out, "v1.32.0-credhost-test") {
		t.Fatalf("kubectl printed %q", out)
	}
	n := w.srv.Count("token")
	if out := kube(); !strings.Contains(out, "v1.32.0-credhost-test") || w.srv.Count("token") != n {
		t.Fatalf("second kubectl run: %q, token requests %d → %d (want the cache)", out, n, w.srv.Count("token"))
	}
	if authorized.Load() < 2 { // kubectl may make more than one request a run
		t.Fatalf("the API server authorized %d requests, want one per kubectl run at least", authorized.Load())
	}
}

// gitRepo serves a repository with one commit through git http-backend
// behind protectedServer(audience); it returns the repository's URL, the
// server's CA file, its count of authorized requests and a git runner
// with env.
func (w *world) gitRepo(audience string, env []string) (url, caPath string, authorized *atomic.Int32, runGit func(dir string, args ...string) (string, error)) {
	t := w.t
	git, err := exec.LookPath("git")
	if err != nil {
		requireTool(t, "git")
	}
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		requireTool(t, backend)
	}
	runGit = func(dir string, args ...string) (string, error) {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(dir string, args ...string) {
		if out, err := runGit(dir, args...); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	src, repos := filepath.Join(w.dir, "src"), filepath.Join(w.dir, "repos")
	for _, d := range []string{src, repos} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(src, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(src, "README"), []byte("cloned through credhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(src, "add", "README")
	must(src, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "-m", "first")
	must(w.dir, "clone", "-q", "--bare", src, filepath.Join(repos, "demo.git"))
	srv, authorized, caPath := w.protectedServer(audience, &cgi.Handler{Path: backend,
		Env: []string{"GIT_PROJECT_ROOT=" + repos, "GIT_HTTP_EXPORT_ALL=1"}})
	return srv.URL + "/demo.git", caPath, authorized, runGit
}

func TestGitCredentialHelper(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	gitEnv := []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "CI_SECRET=" + secret}
	const audience = "api://git"
	url, caPath, authorized, runGit := w.gitRepo(audience, gitEnv)
	helper := w.cli + " git-credential --config " + cfg + " --profile p --scope " + audience + "/.default"
	dst := filepath.Join(w.dir, "clone")
	if out, err := runGit(w.dir, "-c", "http.sslCAInfo="+caPath, "-c", "credential.helper=", "-c", "credential.helper="+helper, "clone", "-q", url, dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "README")); err != nil || string(b) != "cloned through credhost\n" {
		t.Fatalf("clone: %q, %v", b, err)
	}
	if authorized.Load() == 0 {
		t.Fatal("the server authorized no request")
	}
	// Without the helper the server refuses.
	if out, err := runGit(w.dir, "-c", "http.sslCAInfo="+caPath, "-c", "credential.helper=", "clone", "-q", url, filepath.Join(w.dir, "clone2")); err == nil {
		t.Fatalf("a clone without credhost succeeded:\n%s", out)
	}
}

// TestGitCredentialNeverWaitsForNobody: git from an IDE or a CI job
// (GIT_TERMINAL_PROMPT=0, no terminal) with a profile that can only sign
// in with a device code: git fails at once, and the message says how to
// sign in, instead of a code nobody sees and a long wait.
func TestGitCredentialNeverWaitsForNobody(t *testing.T) {
	w := userWorld(t, `["devicecode"]`)
	cfg := filepath.Join(w.dir, "config.toml")
	gitEnv := []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1"}
	const audience = "api://git"
	url, caPath, _, runGit := w.gitRepo(audience, gitEnv)
	helper := w.cli + " git-credential --config " + cfg + " --profile laptop --scope " + audience + "/.default"
	began := time.Now()
	out, err := runGit(w.dir, "-c", "http.sslCAInfo="+caPath, "-c", "credential.helper=", "-c", "credential.helper="+helper, "clone", "-q", url, filepath.Join(w.dir, "clone"))
	took := time.Since(began)
	t.Logf("git clone failed after %v", took)
	if err == nil || !strings.Contains(out, "credhost login --profile laptop") {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if took > 20*time.Second { // about 1 s expected: a generous bound for a loaded machine
		t.Fatalf("git took %v to give up", took)
	}
	if n := w.srv.Count("devicecode"); n != 0 {
		t.Fatalf("%d device codes requested for nobody to see", n)
	}
	// The helper alone: --no-prompt, and a stderr that is no terminal,
	// each make it non-interactive (exit 3, unavailable).
	for _, args := range [][]string{
		{"git-credential", "--config", cfg, "--profile", "laptop", "--no-prompt", "get"},
		{"git-credential", "--config", cfg, "--profile", "laptop", "get"},
	} {
		cmd := exec.Command(w.cli, args...)
		cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir}
		cmd.Stdin = strings.NewReader("protocol=https\nhost=git.example.test\n\n")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUnavailable || !strings.Contains(string(out), "credhost login --profile laptop") {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if n := w.srv.Count("devicecode"); n != 0 {
		t.Fatalf("%d device codes requested for nobody to see", n)
	}
}

// requireTool skips when a tool the test drives is missing, except in CI,
// where the same case fails.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (CI must have it)", name)
	}
	t.Skipf("%s is not installed", name)
}

// TestDoctor: each member says whether it can run and why not, without a
// single request to the IdP.
func TestDoctor(t *testing.T) {
	w := newWorld(t)
	testbin.Build(t, "./plugins/devicecode", "credhost-plugin-devicecode")
	cfg := w.config(`["devicecode", "notinstalled", "clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	before := w.srv.Count("token") + w.srv.Count("devicecode") + w.srv.Count("discovery")
	r := w.run([]string{"CI_SECRET=" + secret, `KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`},
		"doctor", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("doctor: exit %d\n%s", r.code, r.stderr)
	}
	var out doctorJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Members) != 3 {
		t.Fatalf("doctor output %q: %v", r.stdout, err)
	}
	want := []struct{ flow, status, reason string }{
		{"devicecode", "unavailable", "nobody can see a device code"},
		{"notinstalled", "unavailable", "credhost-plugin-notinstalled"},
		{"clientcreds", "ready", ""},
	}
	for i, w := range want {
		m := out.Members[i]
		if m.Flow != w.flow || m.Status != w.status || !strings.Contains(m.Reason, w.reason) {
			t.Errorf("member %d = %+v, want %s %s (%q)", i+1, m, w.flow, w.status, w.reason)
		}
	}
	if out.Members[2].Version == "" || out.Members[2].Pin != "unpinned" || out.Cache.Backend != "file" {
		t.Errorf("doctor = %+v", out)
	}
	if after := w.srv.Count("token") + w.srv.Count("devicecode") + w.srv.Count("discovery"); after != before {
		t.Fatalf("doctor without --probe made %d requests to the IdP", after-before)
	}
	assertNoLeak(t, r.stdout+r.stderr, secret)

	r = w.run([]string{"CI_SECRET=" + secret}, "doctor", "--config", cfg, "--probe", "--scope", scope, "--output", "table")
	if r.code != 0 || !strings.Contains(r.stdout, "probe: token in") || !strings.Contains(r.stdout, "FLOW") {
		t.Fatalf("doctor --probe: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestKubeconfigWriteAndConvert: credhost edits a kubeconfig in place,
// with a backup: convert turns a kubelogin user into a credhost one
// (kubectl then gets its token from credhost), and --write --cluster adds
// a user and a context to a file that has only the cluster. The rest of
// the file stays.
func TestKubeconfigWriteAndConvert(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		requireTool(t, "kubectl")
	}
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	const audience = "api://kubernetes"
	api, _, caPath := w.protectedServer(audience, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"major":"1","minor":"32","gitVersion":"v1.32.0-credhost-test"}`))
	}))
	ca, _ := os.ReadFile(caPath)
	cluster := `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ` + api.URL + `
    certificate-authority-data: ` + base64.StdEncoding.EncodeToString(ca) + `
`
	kube := func(kc string, args ...string) string {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc}, args...)...)
		cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CI_SECRET=" + secret}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// convert: a kubelogin user, and another user that must stay.
	kc := filepath.Join(w.dir, "kubeconfig")
	original := cluster + `contexts:
- name: test
  context: {cluster: test, user: aks-user}
current-context: test
users:
- name: aks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --login, devicecode, --server-id, ` + audience + `, --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, ` + tenantID + `]
- name: other
  user: {token: keep-me}
`
	if err := os.WriteFile(kc, []byte(original), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.run(nil, "kubeconfig", "convert", "--kubeconfig", kc, "--config", cfg, "--profile", "p", "--interactive-mode", "Never", "--command", w.cli)
	if r.code != 0 {
		t.Fatalf("convert: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(kc + ".credhost.bak"); string(b) != original {
		t.Fatalf("no backup of the original:\n%s", b)
	}
	if out := kube(kc, "get", "--raw", "/version"); !strings.Contains(out, "v1.32.0-credhost-test") {
		t.Fatalf("kubectl after convert: %q", out)
	}
	if out := kube(kc, "config", "view", "--raw", "-o", "jsonpath={.users[?(@.name==\"other\")].user.token}"); out != "keep-me" {
		t.Fatalf("the other user changed: %q", out)
	}
	// Nothing left to convert: an error, and the file stays.
	if r := w.run(nil, "kubeconfig", "convert", "--kubeconfig", kc, "--config", cfg, "--profile", "p"); r.code != exitUsage {
		t.Fatalf("second convert: exit %d\n%s", r.code, r.stderr)
	}

	// --write --cluster: a file with only the cluster gets a user and a
	// context kubectl can use at once.
	kc2 := filepath.Join(w.dir, "kubeconfig2")
	if err := os.WriteFile(kc2, []byte(cluster), 0o600); err != nil {
		t.Fatal(err)
	}
	r = w.run(nil, "kubeconfig", "--write", "--kubeconfig", kc2, "--cluster", "test", "--config", cfg, "--profile", "p",
		"--scope", audience+"/.default", "--interactive-mode", "Never", "--command", w.cli)
	if r.code != 0 || !strings.Contains(r.stderr, "context test-p") {
		t.Fatalf("--write: exit %d\n%s", r.code, r.stderr)
	}
	if out := kube(kc2, "--context", "test-p", "get", "--raw", "/version"); !strings.Contains(out, "v1.32.0-credhost-test") {
		t.Fatalf("kubectl after --write: %q", out)
	}
	// Writing again replaces the user rather than adding a second one.
	r = w.run(nil, "kubeconfig", "--write", "--kubeconfig", kc2, "--cluster", "test", "--config", cfg, "--profile", "p",
		"--scope", audience+"/.default", "--interactive-mode", "Never", "--command", w.cli)
	if out := kube(kc2, "config", "view", "-o", "jsonpath={.users[*].name}"); r.code != 0 || out != "credhost-p" {
		t.Fatalf("second --write: exit %d, users %q\n%s", r.code, out, r.stderr)
	}
	// A cluster the file does not have is a usage error.
	if r := w.run(nil, "kubeconfig", "--write", "--kubeconfig", kc2, "--cluster", "nope", "--config", cfg, "--profile", "p"); r.code != exitUsage {
		t.Fatalf("unknown cluster: exit %d\n%s", r.code, r.stderr)
	}
}
