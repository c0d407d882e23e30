package plugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

// The test binary is also the fake flow's plugin binary: the host starts
// a plugin with go-plugin's magic cookie in its environment (and little
// else), so seeing the cookie means "serve".
func TestMain(m *testing.M) {
	if os.Getenv("CREDHOST_PLUGIN") != "" {
		sdk.Serve(&fakeFlow{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	fakePassword = "canary-fake-password-5e1f"
	fakeToken    = "fake-access-token"
)

// fakeFlow fetches a token from a small JSON endpoint: option endpoint,
// secret password. It is a well-behaved flow in a few lines.
type fakeFlow struct {
	mu       sync.Mutex
	endpoint string
	password sdk.Secret
}

func (f *fakeFlow) Describe() sdk.Description {
	return sdk.Description{Name: "fake", Version: "1.0.0-test", Options: []sdk.OptionSpec{
		{Name: "endpoint", Help: "token endpoint URL"},
		{Name: "password", Secret: true, Help: "password for the endpoint"},
	}}
}

func (f *fakeFlow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: "fake"}
	u, err := url.Parse(cfg.Options["endpoint"])
	if err != nil || u.Host == "" {
		ce.Add("endpoint", "must be an absolute URL")
	}
	if cfg.Secrets["password"].IsZero() {
		ce.Add("password", "is required")
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	f.mu.Lock()
	f.endpoint, f.password = cfg.Options["endpoint"], cfg.Secrets["password"]
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", "fake").Msg("configured")
	return nil
}

func (f *fakeFlow) GetToken(ctx context.Context, _ sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	endpoint, password := f.endpoint, f.password
	f.mu.Unlock()
	if endpoint == "" {
		return sdk.Token{}, sdk.Unavailable("fake", "not configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return sdk.Token{}, sdk.Failed("fake", "%v", err)
	}
	req.Header.Set("X-Password", password.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sdk.Token{}, sdk.Failed("fake", "%v", err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return sdk.Token{}, sdk.Failed("fake", "endpoint answered %d", resp.StatusCode)
	}
	return sdk.Token{AccessToken: sdk.NewSecret(body.Token), ExpiresOn: time.Now().Add(time.Hour), Flow: "fake"}, nil
}

func (f *fakeFlow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.endpoint == "" {
		return sdk.Unavailable("fake", "not configured")
	}
	return nil
}

// tokenServer answers the fake flow with fakeToken when the password is
// right.
func tokenServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Password") != fakePassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": fakeToken})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fakeConfig(endpoint, password string) sdk.FlowConfig {
	cfg := sdk.FlowConfig{Options: map[string]string{"endpoint": endpoint}, Secrets: map[string]sdk.Secret{}}
	if password != "" {
		cfg.Secrets["password"] = sdk.NewSecret(password)
	}
	return cfg
}

func conformance(t *testing.T, srv *httptest.Server) plugintest.Config {
	return plugintest.Config{
		Good:    fakeConfig(srv.URL, fakePassword),
		Request: sdk.TokenRequest{Scopes: []string{"api://fake/.default"}},
		CheckToken: func(t testing.TB, tok sdk.Token) {
			if tok.AccessToken.Reveal() != fakeToken {
				t.Errorf("token %q, want %q", tok.AccessToken.Reveal(), fakeToken)
			}
		},
		Bad: []plugintest.Bad{
			{Name: "nothing", Config: sdk.FlowConfig{}, Fields: []string{"endpoint", "password"}},
			{Name: "no password", Config: fakeConfig(srv.URL, ""), Fields: []string{"password"}},
		},
		Stalled: func(addr string) sdk.FlowConfig { return fakeConfig("http://"+addr+"/token", fakePassword) },
	}
}

func TestInProcess(t *testing.T) {
	c := conformance(t, tokenServer(t))
	c.NewFlow = func() sdk.Flow { return &fakeFlow{} }
	plugintest.Run(t, c)
}

func TestInProcessAndBinary(t *testing.T) {
	c := conformance(t, tokenServer(t))
	c.NewFlow = func() sdk.Flow { return &fakeFlow{} }
	c.Binary = os.Args[0]
	plugintest.Run(t, c)
}

func TestBinaryOnly(t *testing.T) {
	c := conformance(t, tokenServer(t))
	c.Binary = os.Args[0]
	plugintest.Run(t, c)
}

// brokenFlow breaks the rules the kit checks; TestKitFindsFaults runs the
// kit on it in a child process and reads the failures.
type brokenFlow struct{ configured bool }

func (f *brokenFlow) Describe() sdk.Description {
	return sdk.Description{Name: "Broken-Flow", Version: "v1", Options: []sdk.OptionSpec{{Name: "client_secret"}}}
}

func (f *brokenFlow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	s := cfg.Secrets["client_secret"].Reveal()
	zerolog.Ctx(ctx).Info().Str("client_secret", s).Msg("configuring") // leaks it
	if s == "" {
		return errors.New("client_secret is missing") // not a ConfigError
	}
	f.configured = true
	return nil
}

func (f *brokenFlow) GetToken(ctx context.Context, _ sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	if !f.configured {
		return sdk.Token{}, sdk.Failed("broken", "not configured") // should be Unavailable
	}
	return sdk.Token{AccessToken: sdk.NewSecret("t"), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestBrokenFlowHelper(t *testing.T) {
	if os.Getenv("PLUGINTEST_BROKEN") != "1" {
		t.Skip("run by TestKitFindsFaults")
	}
	good := sdk.FlowConfig{Secrets: map[string]sdk.Secret{"client_secret": sdk.NewSecret("canary-broken-secret-77")}}
	plugintest.Run(t, plugintest.Config{
		NewFlow: func() sdk.Flow { return &brokenFlow{} },
		Good:    good,
		Bad:     []plugintest.Bad{{Name: "empty", Fields: []string{"client_secret"}}},
		Request: sdk.TokenRequest{Scopes: []string{"s"}},
	})
}

// TestKitFindsFaults: each broken rule is reported.
func TestKitFindsFaults(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenFlowHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUGINTEST_BROKEN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the kit passed a broken flow:\n%s", out)
	}
	for _, want := range []string{
		`name "Broken-Flow"`,
		`version "v1"`,
		`option "client_secret" has no Help`,
		`option "client_secret" looks like a credential but is not marked Secret`,
		`Secrets["client_secret"]: Describe lists no secret option`,
		`want a *sdk.ConfigError`,
		`want unavailable`,
		`the value of secret`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the kit's output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
