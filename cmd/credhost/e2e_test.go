package main

// End-to-end tests: the real credhost binary, real plugin processes, and
// the emulator over HTTPS.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

const (
	tenantID = "72f988bf-0000-4000-8000-000000000001"
	clientID = "11111111-1111-4111-8111-111111111111"
	secret   = "demo-secret-value"
	scope    = "https://graph.microsoft.com/.default"
)

// world is one emulator plus the built binaries.
type world struct {
	t   testing.TB
	srv *emulator.Server
	cli string
	dir string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	// Plugins sit next to the credhost binary: the host finds them there.
	testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	testbin.Build(t, "./core/host/testdata/fakeflow", "credhost-plugin-fakeflow")
	srv := emulatortest.Start(t, emulator.DefaultConfig())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, srv: srv, cli: cli, dir: dir}
}

// config writes a profile "p" with the given chain and clientcreds lines.
func (w *world) config(chain, flowLines string) string {
	w.t.Helper()
	body := fmt.Sprintf(`[profiles.p]
authority = %q
client_id = %q
chain = %s
ca_file = "ca.pem"
timeout = "60s"

[profiles.p.clientcreds]
%s
`, w.srv.Authority(tenantID), clientID, chain, flowLines)
	path := filepath.Join(w.dir, "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

func (w *world) run(env []string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.cli, args...)
	cmd.Env = append([]string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST_LOG_FORMAT=json"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// token runs credhost token and checks the emulator issued what it printed.
func (w *world) token(env []string, extra ...string) (string, result) {
	w.t.Helper()
	args := append([]string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--log-level", "debug"}, extra...)
	r := w.run(env, args...)
	if r.code != 0 {
		w.t.Fatalf("credhost token exited %d:\n%s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	claims, err := w.srv.VerifyAccessToken(tok)
	if err != nil {
		w.t.Fatalf("the printed token is not one the emulator issued: %v", err)
	}
	if claims["appid"] != clientID || claims["tid"] != tenantID {
		w.t.Fatalf("claims = %v", claims)
	}
	return tok, r
}

// assertNoLeak fails if any secret shows up in stderr.
func assertNoLeak(t *testing.T, stderr string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(stderr, s) {
			t.Fatalf("a secret (%d chars, starting %q) appears in stderr", len(s), s[:min(6, len(s))])
		}
	}
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	w := newWorld(t)
	key, certPEM, keyPEM := newCert(t, "credhost-e2e")
	der := certDER(t, certPEM)
	if err := w.srv.AddApp(tenantID, emulator.App{ClientID: "22222222-2222-4222-8222-222222222222", Certificates: []string{string(certPEM)},
		FederatedCredentials: []emulator.FederatedCredential{{Issuer: w.srv.FederationIssuer(), Subject: "system:serviceaccount:ci:runner"}}}); err != nil {
		t.Fatal(err)
	}
	certApp := "22222222-2222-4222-8222-222222222222"

	t.Run("secret", func(t *testing.T) {
		w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
		tok, r := w.token([]string{"CI_SECRET=" + secret})
		assertNoLeak(t, r.stderr, secret, tok)
	})

	// The remaining credentials belong to the certificate app.
	withApp := func(flowLines string) {
		path := w.config(`["clientcreds"]`, flowLines)
		b, _ := os.ReadFile(path)
		_ = os.WriteFile(path, bytes.Replace(b, []byte(clientID), []byte(certApp), 1), 0o600)
	}
	verify := func(t *testing.T, env []string, leaks ...string) {
		t.Helper()
		args := []string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--log-level", "debug"}
		r := w.run(env, args...)
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		tok := strings.TrimSpace(r.stdout)
		claims, err := w.srv.VerifyAccessToken(tok)
		if err != nil || claims["appid"] != certApp {
			t.Fatalf("token not issued to the cert app: %v %v", claims, err)
		}
		assertNoLeak(t, r.stderr, append(leaks, tok)...)
	}

	t.Run("pem certificate", func(t *testing.T) {
		pemFile := filepath.Join(w.dir, "app.pem")
		if err := os.WriteFile(pemFile, append(append([]byte{}, certPEM...), keyPEM...), 0o600); err != nil {
			t.Fatal(err)
		}
		withApp(`certificate = "file:app.pem"`)
		verify(t, nil, string(keyPEM))
	})

	t.Run("pfx certificate", func(t *testing.T) {
		const password = "pfx-password-canary"
		pfx, err := pkcs12.LegacyDES.Encode(key, mustParse(t, der), nil, password)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.dir, "app.pfx"), pfx, 0o600); err != nil {
			t.Fatal(err)
		}
		withApp("certificate = \"file:app.pfx\"\ncertificate_password = \"env:PFX_PASSWORD\"")
		verify(t, []string{"PFX_PASSWORD=" + password}, password)
	})

	t.Run("signed client assertion", func(t *testing.T) {
		assertion := signAssertion(t, key, der, certApp, w.srv.Authority(tenantID)+"/oauth2/v2.0/token")
		if err := os.WriteFile(filepath.Join(w.dir, "assertion.jwt"), []byte(assertion), 0o600); err != nil {
			t.Fatal(err)
		}
		withApp(`client_assertion = "file:assertion.jwt"`)
		verify(t, nil, assertion)
	})

	t.Run("federated token file", func(t *testing.T) {
		fed, err := w.srv.IssueFederatedToken("system:serviceaccount:ci:runner", emulator.DefaultFederatedAudience, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(w.dir, "federated.jwt")
		if err := os.WriteFile(file, []byte(fed), 0o600); err != nil {
			t.Fatal(err)
		}
		withApp(fmt.Sprintf("federated_token_file = %q", file))
		verify(t, nil, fed)
	})

	t.Run("azure environment variables only", func(t *testing.T) {
		// No config file: azidentity's variables define the profile.
		r := w.run([]string{"AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + clientID, "AZURE_CLIENT_SECRET=" + secret,
			"AZURE_AUTHORITY_HOST=" + w.srv.URL(), "SSL_CERT_FILE=" + filepath.Join(w.dir, "ca.pem"), "XDG_CONFIG_HOME=" + t.TempDir()},
			"token", "--scope", scope, "--log-level", "debug")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		if _, err := w.srv.VerifyAccessToken(strings.TrimSpace(r.stdout)); err != nil {
			t.Fatal(err)
		}
		assertNoLeak(t, r.stderr, secret, strings.TrimSpace(r.stdout))
	})
}

func TestWrongSecretFailsAndStopsTheChain(t *testing.T) {
	w := newWorld(t)
	w.config(`["clientcreds", "fakeflow"]`, `client_secret = "env:CI_SECRET"`)
	r := w.run([]string{"CI_SECRET=wrong-secret-canary"}, "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--log-level", "debug")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d (failed):\n%s", r.code, exitFailed, r.stderr)
	}
	for _, want := range []string{"AADSTS7000215", "hint:", "1. clientcreds"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "2. fakeflow") {
		t.Errorf("the chain went on after a failure:\n%s", r.stderr)
	}
	assertNoLeak(t, r.stderr, "wrong-secret-canary")
}

func TestChainSkipsUnconfiguredFlow(t *testing.T) {
	w := newWorld(t)
	// notinstalled has no plugin installed; fakeflow has no settings in
	// this profile. Both are skipped with a reason.
	w.config(`["notinstalled", "fakeflow", "clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	_, r := w.token([]string{"CI_SECRET=" + secret})
	for _, want := range []string{`"flow":"notinstalled"`, "credhost-plugin-notinstalled", `"flow":"fakeflow"`, "not configured for profile", `"kind":"unavailable"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// With nothing that can run, the exit code says unavailable.
	w.config(`["notinstalled"]`, ``)
	r = w.run(nil, "token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope)
	if r.code != exitUnavailable || !strings.Contains(r.stderr, "1. notinstalled: unavailable") {
		t.Fatalf("exit %d, want %d:\n%s", r.code, exitUnavailable, r.stderr)
	}
}

func TestConfigValidateNamesFileLineKey(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "[profiles.p]\nauthority = \"https://login.microsoftonline.com/x\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\nchian = 1\n",
			[]string{"config.toml:5:", "chian"}},
		{"wrong type", "[profiles.p]\nauthority = \"https://login.microsoftonline.com/x\"\nclient_id = \"c\"\nchain = \"clientcreds\"\n",
			[]string{"config.toml:4:", "chain"}},
		{"missing client_id", "[profiles.p]\nauthority = \"https://login.microsoftonline.com/x\"\nchain = [\"clientcreds\"]\n",
			[]string{"config.toml:1:", "client_id"}},
		{"common authority for a flow that forbids it", "[profiles.p]\nauthority = \"https://login.microsoftonline.com/common\"\nclient_id = \"c\"\nchain = [\"fakeflow\"]\n[profiles.p.fakeflow]\nmode = \"ok\"\n",
			[]string{"config.toml:2:", "profiles.p.authority", "common"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(w.dir, "config.toml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			r := w.run(nil, "config", "validate", "--config", path)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout:%s\nstderr:%s", r.code, exitUsage, r.stdout, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stdout+r.stderr, want) {
					t.Errorf("output lacks %q:\n%s%s", want, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestExitCodeUsage(t *testing.T) {
	w := newWorld(t)
	if r := w.run(nil, "token"); r.code != exitUsage || !strings.Contains(r.stderr, "--scope is required") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r := w.run(nil, "nonsense"); r.code != exitUsage {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// --- test PKI ---

func newCert(t *testing.T, cn string) (*rsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func certDER(t *testing.T, certPEM []byte) []byte {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("bad PEM")
	}
	return b.Bytes
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signAssertion makes the client assertion an app signs with its
// certificate (RFC 7523), as Entra ID expects it.
func signAssertion(t *testing.T, key *rsa.PrivateKey, der []byte, client, aud string) string {
	t.Helper()
	thumb := sha256.Sum256(der)
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	input := enc(map[string]any{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:])}) + "." +
		enc(map[string]any{"aud": aud, "iss": client, "sub": client, "jti": fmt.Sprint(now.UnixNano()),
			"nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})
	h := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestPluginsListAndVerify(t *testing.T) {
	w := newWorld(t)
	pluginDir := t.TempDir()
	path := testbin.Copy(t, filepath.Join(testbin.Dir(), "credhost-plugin-fakeflow"), pluginDir)
	r := w.run(nil, "plugins", "verify", "--plugin-dir", pluginDir, "fakeflow")
	if r.code != 0 || !strings.Contains(r.stdout, `fakeflow = "sha256:`) || !strings.Contains(r.stdout, "unpinned") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pin := strings.Split(strings.Split(r.stdout, `"`)[1], `"`)[0]
	conf := filepath.Join(w.dir, "pins.toml")
	write := func(pin string) {
		body := fmt.Sprintf("[profiles.p]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"fakeflow\"]\n[plugins]\ndir = %q\n[plugins.pins]\nfakeflow = %q\n", pluginDir, pin)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(pin)
	r = w.run(nil, "plugins", "list", "--config", conf)
	if r.code != 0 || !regexpMatch(`fakeflow\s+0\.0\.1\s+3\s+false\s+ok\s+`+regexpQuote(path), r.stdout) {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	write("sha256:" + strings.Repeat("0", 64))
	r = w.run(nil, "plugins", "verify", "--config", conf)
	if r.code != exitFailed || !strings.Contains(r.stdout, "MISMATCH") {
		t.Fatalf("verify with a wrong pin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.run(nil, "plugins", "list", "--config", conf)
	if !regexpMatch(`fakeflow\s+\?\s+\?\s+\?\s+MISMATCH`, r.stdout) {
		t.Fatalf("list ran a plugin whose pin does not match:\n%s", r.stdout)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
func regexpQuote(s string) string   { return regexp.QuoteMeta(s) }

// TestPluginsInstallPin: install copies the plugin into the plugin dir and
// records its pin next to the pins already there; the pinned plugin runs,
// and a copy changed by one byte is refused.
func TestPluginsInstallPin(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	body, _ := os.ReadFile(cfg)
	body = append(body, []byte("\n[plugins]\ndir = \"plugins\"\n\n[plugins.pins]\nother = \"sha256:"+strings.Repeat("0", 64)+"\"\n")...)
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	src := testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	r := w.run(nil, "plugins", "install", src, "--pin", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stderr, "pinned clientcreds") {
		t.Fatalf("install: exit %d\n%s", r.code, r.stderr)
	}
	f, err := os.ReadFile(cfg)
	if err != nil || !strings.Contains(string(f), `other = "sha256:`) || strings.Count(string(f), "[plugins.pins]") != 1 {
		t.Fatalf("config after install:\n%s", f)
	}
	installed := filepath.Join(w.dir, "plugins", "credhost-plugin-clientcreds")
	if r := w.run(nil, "plugins", "verify", "clientcreds", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, installed) || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	w.token([]string{"CI_SECRET=" + secret})
	// One byte changed after pinning: refused, never run.
	b, _ := os.ReadFile(installed)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(installed, b, 0o755); err != nil {
		t.Fatal(err)
	}
	r = w.run([]string{"CI_SECRET=" + secret}, "token", "--config", cfg, "--scope", "api://other/.default")
	if r.code == 0 || !strings.Contains(r.stderr, "pin") {
		t.Fatalf("a changed pinned plugin ran: exit %d\n%s", r.code, r.stderr)
	}
}

// TestChecksGate: config validate and doctor answer with exit codes a
// script can gate on (the table in `credhost --help` and the README).
// TestValidateReportsEveryProblem: config validate reports the loader's
// problems and, in the same run, the checks against the plugins: the
// unknown flow (with its suggestion) of a profile the loader also
// faults, and the flow options of a profile that is otherwise usable.
func TestValidateReportsEveryProblem(t *testing.T) {
	w := newWorld(t)
	body := fmt.Sprintf(`[profiles.a]
authority = "http://login.example.com/t"
client_id = 42
chain = ["clientcred"]
bogus = 1
[profiles.a.clientcreds]
client_secret = "inline-secret"
timeout = "forever"
[profiles.b]
chain = []
[profiles.c]
authority = %q
client_id = %q
chain = ["clientcreds"]
ca_file = "ca.pem"
[profiles.c.clientcreds]
client_secret = "env:UNSET_SECRET"
colour = "blue"
`, w.srv.Authority(tenantID), clientID)
	path := filepath.Join(w.dir, "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.run([]string{"CREDHOST_PLUGIN_DIR=" + testbin.Dir(), "PATH=/nonexistent"}, "config", "validate", "--config", path)
	out := r.stdout + r.stderr
	t.Logf("exit %d\n%s", r.code, out)
	for _, want := range []string{
		// The loader's problems.
		"config.toml:2:", "profiles.a.authority",
		"config.toml:3:", "profiles.a.client_id",
		"config.toml:5:", "profiles.a.bogus",
		"profiles.b.chain",
		// The plugin-level ones.
		`error: profile a: clientcred: unknown flow "clientcred"`, "did you mean clientcreds?",
		"profiles.c.clientcreds.client_secret", "UNSET_SECRET",
		"profiles.c.clientcreds.colour",
		"invalid profiles: a, b, c",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if strings.Contains(out, "inline-secret") {
		t.Errorf("output shows the secret")
	}
}

func TestChecksGate(t *testing.T) {
	w := newWorld(t)
	env := []string{"CI_SECRET=" + secret, "CREDHOST_PLUGIN_DIR=" + testbin.Dir()}
	for _, c := range []struct {
		chain             string
		validate, doctor  int
		validateSays, not string
	}{
		{`["clientcreds"]`, exitOK, exitOK, "ok: profile p", ""},
		// A typo: no such plugin, and no such flow: an error with a
		// suggestion, and nothing in the chain can run.
		{`["clientcred"]`, exitUsage, exitUnavailable, "did you mean clientcreds?", "clientcred: clientcred"},
		// A flow credhost has, not installed here: a warning only; but
		// doctor says nothing can run.
		{`["iwa"]`, exitOK, exitUnavailable, "warning: profile p: iwa: unavailable", "iwa: iwa"},
	} {
		cfg := w.config(c.chain, `client_secret = "env:CI_SECRET"`)
		r := w.run(append(env, "PATH=/nonexistent"), "config", "validate", "--config", cfg)
		if r.code != c.validate || !strings.Contains(r.stdout, c.validateSays) || c.not != "" && strings.Contains(r.stdout, c.not) {
			t.Fatalf("chain %s: config validate exit %d, want %d saying %q\n%s%s", c.chain, r.code, c.validate, c.validateSays, r.stdout, r.stderr)
		}
		r = w.run(append(env, "PATH=/nonexistent"), "doctor", "--config", cfg, "--output", "json")
		if r.code != c.doctor {
			t.Fatalf("chain %s: doctor exit %d, want %d\n%s%s", c.chain, r.code, c.doctor, r.stdout, r.stderr)
		}
	}
	if r := w.run(nil, "--help"); !strings.Contains(r.stderr, "3  unavailable") || !strings.Contains(r.stderr, "doctor: no member can") {
		t.Fatalf("--help has no exit code table:\n%s", r.stderr)
	}
}

// noAgent keeps every credhost a test starts in-process: an agent started
// on demand would outlive the test (the agent tests start theirs on
// purpose and stop them in t.Cleanup).
const noAgent = "CREDHOST_AGENT=off"
