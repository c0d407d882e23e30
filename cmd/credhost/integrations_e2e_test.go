package main

// credhost where people already work: real kubectl and real git, each
// against a local HTTPS server that accepts only emulator-issued tokens.

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/credhost/credhost/internal/testbin"
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
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + w.dir, "CI_SECRET=" + secret}
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

func TestGitCredentialHelper(t *testing.T) {
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
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	gitEnv := []string{"PATH=/usr/bin:/bin", "HOME=" + w.dir, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "CI_SECRET=" + secret}
	runGit := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, gitEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// A repository with one commit, served by git http-backend.
	src, repos := filepath.Join(w.dir, "src"), filepath.Join(w.dir, "repos")
	for _, d := range []string{src, repos} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runGit(src, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(src, "README"), []byte("cloned through credhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(src, "add", "README")
	runGit(src, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "-m", "first")
	runGit(w.dir, "clone", "-q", "--bare", src, filepath.Join(repos, "demo.git"))
	const audience = "api://git"
	srv, authorized, caPath := w.protectedServer(audience, &cgi.Handler{Path: backend,
		Env: []string{"GIT_PROJECT_ROOT=" + repos, "GIT_HTTP_EXPORT_ALL=1"}})

	helper := w.cli + " git-credential --config " + cfg + " --profile p --scope " + audience + "/.default"
	dst := filepath.Join(w.dir, "clone")
	runGit(w.dir, "-c", "http.sslCAInfo="+caPath, "-c", "credential.helper=", "-c", "credential.helper="+helper, "clone", "-q", srv.URL+"/demo.git", dst)
	if b, err := os.ReadFile(filepath.Join(dst, "README")); err != nil || string(b) != "cloned through credhost\n" {
		t.Fatalf("clone: %q, %v", b, err)
	}
	if authorized.Load() == 0 {
		t.Fatal("the server authorized no request")
	}
	// Without the helper the server refuses.
	cmd := exec.Command(git, "-c", "http.sslCAInfo="+caPath, "-c", "credential.helper=", "clone", "-q", srv.URL+"/demo.git", filepath.Join(w.dir, "clone2"))
	cmd.Env = gitEnv
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("a clone without credhost succeeded:\n%s", out)
	}
}

// requireTool skips when a tool the test drives is missing, except in CI,
// where the same case fails.
func requireTool(t *testing.T, name string) {
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
