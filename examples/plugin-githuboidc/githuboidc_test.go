package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	// repoSubject is the subject GitHub puts in a job's token for a
	// push to main.
	repoSubject = "repo:octo-org/octo-repo:ref:refs/heads/main"
	// requestToken is the job's ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	requestToken = "canary-request-token-5f1d"
	// deployApp trusts the repository.
	deployApp = "0a550000-0000-4000-8000-0000000006a1"
)

// world is an emulator whose deployApp trusts tokens about repoSubject
// from the emulator's own issuer (standing in for
// https://token.actions.githubusercontent.com), and a fake GitHub
// token-request endpoint on loopback that hands out such tokens.
type world struct {
	srv      *emulator.Server
	requests atomic.Int64 // token requests GitHub answered
	github   *httptest.Server
	subject  atomic.Value // string: what the fake GitHub puts in its tokens
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: deployApp, Name: "deploy",
		FederatedCredentials: []emulator.FederatedCredential{{Subject: repoSubject}}})
	w := &world{srv: emulatortest.Start(t, cfg)}
	w.subject.Store(repoSubject)
	w.github = httptest.NewServer(http.HandlerFunc(w.serveIDToken))
	t.Cleanup(w.github.Close)
	return w
}

// serveIDToken is GitHub's token-request endpoint: the request token as a
// bearer token, the audience in the query, the JWT in {"value": …}.
func (w *world) serveIDToken(rw http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Authorization"), "bearer "+requestToken) {
		http.Error(rw, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("api-version") != "2.0" {
		http.Error(rw, "the request URL lost its query", http.StatusBadRequest)
		return
	}
	tok, err := w.srv.IssueFederatedToken(w.subject.Load().(string), r.URL.Query().Get("audience"), 0)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	w.requests.Add(1)
	_ = json.NewEncoder(rw).Encode(map[string]any{"count": 1, "value": tok})
}

// requestURL is the URL GitHub sets in ACTIONS_ID_TOKEN_REQUEST_URL.
func (w *world) requestURL() string {
	return w.github.URL + "/_apis/distributedtask/oidctoken?api-version=2.0"
}

// config returns the settings of deployApp in a job.
func (w *world) config() sdk.FlowConfig {
	return sdk.FlowConfig{
		Authority:      w.srv.Authority(emulator.DefaultTenantID),
		ClientID:       deployApp,
		Options:        map[string]string{},
		CACertificates: w.srv.CACertPEM(),
		Environment: map[string]sdk.Secret{
			envRequestURL:   sdk.NewSecret(w.requestURL()),
			envRequestToken: sdk.NewSecret(requestToken),
		},
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// pluginDir builds this plugin, once per test binary, into a directory
// the host can search.
func pluginDir(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "credhost-githuboidc-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "credhost-plugin-githuboidc"), ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestConformance runs the SDK's conformance kit, in-process and through
// the built plugin.
func TestConformance(t *testing.T) {
	w := newWorld(t)
	noAuthority := w.config()
	noAuthority.Authority, noAuthority.ClientID = "", ""
	badURL := w.config()
	badURL.Environment = map[string]sdk.Secret{envRequestURL: sdk.NewSecret("ftp://example"), envRequestToken: sdk.NewSecret(requestToken)}
	badCA := w.config()
	badCA.CACertificates = []byte("junk")
	plugintest.Run(t, plugintest.Config{
		NewFlow: newFlow,
		Binary:  filepath.Join(pluginDir(t), "credhost-plugin-githuboidc"),
		Good:    w.config(),
		Request: sdk.TokenRequest{Scopes: []string{"api://deploy-target/.default"}},
		CheckToken: func(t testing.TB, tok sdk.Token) {
			c, err := w.srv.VerifyAccessToken(tok.AccessToken.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			if c["appid"] != deployApp || c["aud"] != "api://deploy-target" {
				t.Errorf("claims %v: want deploy's token for api://deploy-target", c)
			}
		},
		Bad: []plugintest.Bad{
			{Name: "no app", Config: noAuthority, Fields: []string{"authority", "client_id"}},
			{Name: "request URL not http", Config: badURL, Fields: []string{""}},
			{Name: "bad CA", Config: badCA, Fields: []string{"ca_file"}},
		},
		Stalled: func(addr string) sdk.FlowConfig {
			c := w.config()
			c.Environment = map[string]sdk.Secret{envRequestURL: sdk.NewSecret("http://" + addr + "/oidc?api-version=2.0"), envRequestToken: sdk.NewSecret(requestToken)}
			return c
		},
	})
}

// TestErrors: outside a job the flow is Unavailable; a refused request
// token or an untrusted subject fails with a hint, and no secret shows.
func TestErrors(t *testing.T) {
	w := newWorld(t)
	outside := w.config()
	outside.Environment = nil
	wrongToken := w.config()
	wrongToken.Environment[envRequestToken] = sdk.NewSecret("canary-wrong-request-token")
	for _, tt := range []struct {
		name    string
		cfg     sdk.FlowConfig
		subject string
		kind    sdk.Kind
		want    string
	}{
		{"outside GitHub Actions", outside, repoSubject, sdk.KindUnavailable, "id-token: write"},
		{"request token refused", wrongToken, repoSubject, sdk.KindFailed, "id-token: write"},
		{"subject not trusted", w.config(), "repo:octo-org/other-repo:ref:refs/heads/main", sdk.KindFailed, "70021"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w.subject.Store(tt.subject)
			defer w.subject.Store(repoSubject)
			f := newFlow()
			if err := f.Configure(context.Background(), tt.cfg); err != nil {
				t.Fatal(err)
			}
			_, err := f.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"api://errors/.default"}}, sdk.Services{})
			if sdk.KindOf(err) != tt.kind || !strings.Contains(err.Error()+" "+hint(err), tt.want) {
				t.Fatalf("err = %v (kind %v, hint %q), want kind %v mentioning %q", err, sdk.KindOf(err), hint(err), tt.kind, tt.want)
			}
			if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), requestToken) {
				t.Errorf("a secret leaked into the error: %v", err)
			}
		})
	}
}

func hint(err error) string {
	if e, ok := err.(*sdk.Error); ok {
		return e.Hint
	}
	return ""
}

// TestThroughHost: an embedder's client.Open runs the built plugin; the job's
// variables reach it only because its Describe names them (the host
// curates the plugin's environment), and nothing secret is logged.
func TestThroughHost(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, w.srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
[profiles.ci]
authority = %q
client_id = %q
chain     = ["githuboidc"]
ca_file   = %q
[cache]
backend = "memory"
`, w.srv.Authority(emulator.DefaultTenantID), deployApp, ca)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		envRequestURL:            w.requestURL(),
		envRequestToken:          requestToken,
		"CREDHOST_SYSTEM_CONFIG": filepath.Join(dir, "no-system-config.toml"),
	}
	logs := &syncBuffer{}
	c, err := client.Open(t.Context(), "ci", &client.Options{
		ConfigPath: path,
		PluginDirs: []string{pluginDir(t)},
		Getenv:     func(k string) string { return env[k] },
		Log:        zerolog.New(logs).Level(zerolog.TraceLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := w.requests.Load()
	tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"api://deploy-host/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := w.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Flow != flowName || claims["appid"] != deployApp {
		t.Errorf("token from %s with claims %v, want deploy's", tok.Flow, claims)
	}
	if w.requests.Load() == before {
		t.Error("the plugin never asked GitHub for an OIDC token")
	}
	if strings.Contains(logs.String(), requestToken) {
		t.Error("the request token appears in the host and plugin logs")
	}
}

// syncBuffer collects log lines written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
