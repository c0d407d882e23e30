package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/sdk"
)

// inNetns marks the test binary re-run inside a network namespace of its
// own.
const inNetns = "CREDHOST_AZ_TEST_NETNS"

// entraHost is the authority host az is given: az 2.45 asks
// login.microsoftonline.com for instance discovery of any other host, so
// the emulator answers under Microsoft's name, through a proxy.
const entraHost = "login.microsoftonline.com"

// TestRealAzureCLI signs the real Azure CLI in to the emulator as a
// service principal and gets its token through the flow. az reaches for
// the internet by itself (update checks, telemetry, instance discovery),
// so the test re-runs itself in a network namespace that has loopback
// only (unshare -n, as root): nothing it does can leave the machine.
func TestRealAzureCLI(t *testing.T) {
	if !loopbackNetns(t, "TestRealAzureCLI", nil) {
		return
	}
	srv, configDir, bundle, az := signedInAz(t)

	f := newFlow()
	cfg := sdk.FlowConfig{Options: map[string]string{optTimeout: "2m"}, Environment: map[string]sdk.Secret{
		"AZURE_CONFIG_DIR": sdk.NewSecret(configDir), "REQUESTS_CA_BUNDLE": sdk.NewSecret(bundle)}}
	if err := f.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, req := range []sdk.TokenRequest{
		{Scopes: []string{"https://management.azure.com/.default"}},
		{Scopes: []string{"api://credhost-az-test/.default"}, TenantID: emulator.DefaultTenantID},
	} {
		tok, err := f.GetToken(context.Background(), req, sdk.Services{})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := srv.VerifyAccessToken(tok.AccessToken.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(req.Scopes[0], "/.default")
		if claims["appid"] != emulator.DefaultClientID || claims["aud"] != want || time.Until(tok.ExpiresOn) < 10*time.Minute {
			t.Errorf("token expiring %v with claims %v: want the service principal's for %s", tok.ExpiresOn, claims, want)
		}
	}
	// Signed out, az is Unavailable.
	az("logout")
	if _, err := f.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"https://management.azure.com/.default"}}, sdk.Services{}); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("after az logout: err = %v, want Unavailable", err)
	}
}

// loopbackNetns re-runs the test called name in a network namespace that
// has loopback only (unshare -n, as root) and reports whether the caller
// is that re-run: the parent returns false once the re-run has passed.
// prepare, if set, runs in the parent first (where the network the build
// may need is) and returns variables for the re-run.
func loopbackNetns(t *testing.T, name string, prepare func() []string) bool {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Skip("the Azure CLI is not installed (Debian package azure-cli)")
	}
	if os.Getenv(inNetns) != "" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v\n%s", err, out)
		}
		return true
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare for a loopback-only network namespace")
	}
	env := append(os.Environ(), inNetns+"=1")
	if prepare != nil {
		env = append(env, prepare()...)
	}
	cmd := exec.Command(unshare, "-n", "--", os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatal("the test did not pass in its network namespace")
	}
	return false
}

// signedInAz starts the emulator and signs the real az in to it as the
// emulator's service principal; az's settings (its config directory, the
// CA bundle, the proxy that reaches the emulator as
// login.microsoftonline.com) are in this process's environment. az runs
// az with args and fails the test if it fails.
func signedInAz(t *testing.T) (srv *emulator.Server, configDir, bundle string, az func(args ...string)) {
	t.Helper()
	srv = emulatortest.StartOptions(t, emulator.Options{Hostnames: []string{entraHost}})
	arm := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// az login lists subscriptions and tenants; there are none.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[]}`)
	}))
	t.Cleanup(arm.Close)
	proxy := connectProxy(t, map[string]string{entraHost + ":443": strings.TrimPrefix(srv.URL(), "https://")})

	dir := t.TempDir()
	bundle = filepath.Join(dir, "ca-bundle.pem")
	pemBytes := append(srv.CACertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: arm.Certificate().Raw})...)
	if err := os.WriteFile(bundle, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	configDir = filepath.Join(dir, "azure")
	for k, v := range map[string]string{
		"AZURE_CONFIG_DIR":                  configDir,
		"AZURE_CORE_COLLECT_TELEMETRY":      "false",
		"AZURE_CORE_NO_COLOR":               "true",
		"AZURE_CORE_ONLY_SHOW_ERRORS":       "true",
		"HTTPS_PROXY":                       proxy,
		"HTTP_PROXY":                        proxy,
		"NO_PROXY":                          "127.0.0.1,localhost",
		"REQUESTS_CA_BUNDLE":                bundle,
		"AZURE_CORE_DISABLE_CONFIRM_PROMPT": "true",
	} {
		t.Setenv(k, v)
	}
	seedVersionCheck(t, configDir)
	az = func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "az", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("az %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	az("cloud", "register", "-n", "Emu",
		"--endpoint-active-directory", "https://"+entraHost,
		"--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
		"--endpoint-active-directory-graph-resource-id", "https://graph.windows.net/",
		"--endpoint-resource-manager", arm.URL+"/")
	az("cloud", "set", "-n", "Emu")
	az("login", "--service-principal", "-u", emulator.DefaultClientID, "-p", emulator.DefaultClientSecret,
		"--tenant", emulator.DefaultTenantID, "--allow-no-subscriptions")
	return srv, configDir, bundle, az
}

// connectProxy is an HTTP CONNECT proxy on loopback that tunnels only the
// host:port keys of routes, to their loopback values.
func connectProxy(t *testing.T, routes map[string]string) string {
	t.Helper()
	var wg sync.WaitGroup
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to, ok := routes[r.Host]
		if r.Method != http.MethodConnect || !ok {
			http.Error(w, "this proxy tunnels only to the emulator", http.StatusForbidden)
			return
		}
		up, err := net.Dial("tcp", to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			_ = up.Close()
			http.Error(w, "no hijack", http.StatusInternalServerError)
			return
		}
		down, buf, err := hj.Hijack()
		if err != nil {
			_ = up.Close()
			return
		}
		_, _ = io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			_, _ = up.Write(b)
		}
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = io.Copy(up, down); _ = up.Close() }()
		go func() { defer wg.Done(); _, _ = io.Copy(down, up); _ = down.Close() }()
	}))
	t.Cleanup(func() { p.Close(); wg.Wait() })
	return p.URL
}

// seedVersionCheck writes az's version check cache as if az had just
// checked, so that it does not try to (azure-cli 2.45 keeps it in
// versionCheck.json: the installed version, and when it last looked).
func seedVersionCheck(t *testing.T, configDir string) {
	t.Helper()
	src, err := os.ReadFile("/usr/lib/python3/dist-packages/azure/cli/core/__init__.py")
	m := regexp.MustCompile(`__version__ = "([^"]+)"`).FindSubmatch(src)
	if err != nil || m == nil {
		t.Log("azure-cli's version not found; az may try its update check (the namespace has no network)")
		return
	}
	v := map[string]string{"local": string(m[1]), "pypi": string(m[1])}
	now := time.Now().Format("2006-01-02 15:04:05.000000")
	b, _ := json.Marshal(map[string]any{
		"versions":    map[string]any{"azure-cli": v, "core": v, "telemetry": v},
		"update_time": now,
		"check_time":  now,
	})
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(configDir, "versionCheck.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
