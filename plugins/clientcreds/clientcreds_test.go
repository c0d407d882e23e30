package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/internal/testkit/clientauthtest"
	"github.com/credhost/credhost/internal/testkit/recui"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/jwtpeek"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	graph        = "https://graph.microsoft.com/.default"
	otherTenant  = "72f988bf-0000-4000-8000-000000000002"
	fedSubject   = "system:serviceaccount:default:workload"
	wrongSecret  = "canary-wrong-secret-9c1e"
	certAppID    = "22222222-2222-4222-8222-222222222222"
	fedAppID     = "33333333-3333-4333-8333-333333333333"
	chainCertApp = "44444444-4444-4444-8444-444444444444"
)

// idp is a started emulator with the apps these tests use.
type idp struct {
	srv  *emulator.Server
	cert *clientauthtest.Cert
}

// startIdP serves the default tenant (DefaultClientID with a secret), plus
// an app with a certificate, one with a federated credential, and a second
// tenant holding DefaultClientID for tenant overrides.
func startIdP(t *testing.T) *idp {
	t.Helper()
	cert := clientauthtest.NewRSA(t, "clientcreds test", 0)
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps,
		emulator.App{ClientID: certAppID, Name: "cert-app", Certificates: []string{cert.CertPEM()}},
		emulator.App{ClientID: chainCertApp, Name: "chain-app", Certificates: []string{cert.CertPEM()}},
		emulator.App{ClientID: fedAppID, Name: "fed-app", FederatedCredentials: []emulator.FederatedCredential{{Subject: fedSubject}}},
	)
	cfg.Tenants = append(cfg.Tenants, emulator.Tenant{
		ID:     otherTenant,
		Domain: "fabrikam.onmicrosoft.com",
		Apps:   []emulator.App{{ClientID: emulator.DefaultClientID, Name: "credhost-demo", Secrets: []string{emulator.DefaultClientSecret}}},
	})
	return &idp{srv: emulatortest.Start(t, cfg), cert: cert}
}

// config returns the flow settings for clientID against the default tenant.
func (p *idp) config(clientID string, options map[string]string, secrets map[string]sdk.Secret) sdk.FlowConfig {
	return sdk.FlowConfig{
		Profile:        "test",
		Authority:      p.srv.Authority(emulator.DefaultTenantID),
		ClientID:       clientID,
		Options:        options,
		Secrets:        secrets,
		CACertificates: p.srv.CACertPEM(),
	}
}

func (p *idp) federatedToken(t *testing.T) string {
	t.Helper()
	tok, err := p.srv.IssueFederatedToken(fedSubject, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func configured(t *testing.T, cfg sdk.FlowConfig) sdk.Flow {
	t.Helper()
	f := newFlow()
	if err := f.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure() error = %v", err)
	}
	return f
}

func getToken(ctx context.Context, f sdk.Flow, cache sdk.Cache, req sdk.TokenRequest) (sdk.Token, error) {
	if req.Scopes == nil {
		req.Scopes = []string{graph}
	}
	return f.GetToken(ctx, req, sdk.Services{Cache: cache, UI: &recui.UI{}})
}

// claims decodes an access token's payload.
func claims(t *testing.T, tok sdk.Token) map[string]any {
	t.Helper()
	var m map[string]any
	if err := jwtpeek.Claims(tok.AccessToken.Reveal(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func secretsOf(kv ...string) map[string]sdk.Secret {
	m := map[string]sdk.Secret{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = sdk.NewSecret(kv[i+1])
	}
	return m
}

func TestDescribe(t *testing.T) {
	d := newFlow().Describe()
	if d.Name != "clientcreds" || d.Version != flowVersion || d.Interactive {
		t.Errorf("Describe() = %+v", d)
	}
	for _, o := range clientauth.Options() {
		got, ok := d.Option(o.Name)
		if !ok || got.Secret != o.Secret {
			t.Errorf("option %s: %+v, %v", o.Name, got, ok)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    sdk.FlowConfig
		fields []string
	}{
		{name: "no credential", cfg: sdk.FlowConfig{Authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com", ClientID: "c"},
			fields: []string{"client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}},
		{name: "multi-tenant authority", cfg: sdk.FlowConfig{Authority: "https://login.microsoftonline.com/organizations", ClientID: "c", Secrets: secretsOf("client_secret", "s")},
			fields: []string{"authority"}},
		{name: "missing client id and authority", cfg: sdk.FlowConfig{Secrets: secretsOf("client_secret", "s")},
			fields: []string{"client_id", "authority"}},
		{name: "bad CA", cfg: sdk.FlowConfig{Authority: "https://h/t", ClientID: "c", Secrets: secretsOf("client_secret", "s"), CACertificates: []byte("junk")},
			fields: []string{"ca_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newFlow().Configure(context.Background(), tt.cfg)
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Flow != "clientcreds" {
				t.Fatalf("Configure() = %v, want *sdk.ConfigError of clientcreds", err)
			}
			var got []string
			for _, f := range ce.Fields {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestUnconfigured(t *testing.T) {
	f := newFlow()
	_ = f.Configure(context.Background(), sdk.FlowConfig{}) // fails; the host may still call GetToken
	_, err := getToken(context.Background(), f, &sdk.MemoryCache{}, sdk.TokenRequest{})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("GetToken() = %v, want Unavailable", err)
	}
}

// TestCredentials acquires a token with each kind of client authentication.
func TestCredentials(t *testing.T) {
	p := startIdP(t)
	dir := t.TempDir()
	assertionFile := filepath.Join(dir, "assertion.jwt")
	if err := os.WriteFile(assertionFile, []byte(p.federatedToken(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pfxPassword = "pfx-password"

	tests := []struct {
		name     string
		clientID string
		options  map[string]string
		secrets  map[string]sdk.Secret
		azpacr   string
		skip     string
	}{
		{name: "client secret", clientID: emulator.DefaultClientID, secrets: secretsOf("client_secret", emulator.DefaultClientSecret), azpacr: "1"},
		{name: "PEM certificate", clientID: certAppID, secrets: secretsOf("certificate", string(p.cert.PEM(t, clientauthtest.PKCS8))), azpacr: "2"},
		{name: "PEM certificate sending x5c", clientID: chainCertApp, secrets: secretsOf("certificate", string(p.cert.PEM(t, clientauthtest.PKCS1))),
			options: map[string]string{"send_certificate_chain": "true"}, azpacr: "2"},
		{name: "PFX certificate", clientID: certAppID, secrets: secretsOf("certificate", string(p.cert.LegacyPFX(t, pfxPassword)), "certificate_password", pfxPassword), azpacr: "2"},
		{name: "client assertion literal", clientID: fedAppID, secrets: secretsOf("client_assertion", p.federatedToken(t)), azpacr: "2"},
		{name: "client assertion command", clientID: fedAppID, options: map[string]string{"client_assertion_command": "cat '" + assertionFile + "'"}, azpacr: "2",
			skip: map[bool]string{true: "the command is POSIX shell"}[runtime.GOOS == "windows"]},
		{name: "federated token file", clientID: fedAppID, options: map[string]string{"federated_token_file": assertionFile}, azpacr: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			f := configured(t, p.config(tt.clientID, tt.options, tt.secrets))
			tok, err := getToken(context.Background(), f, &sdk.MemoryCache{}, sdk.TokenRequest{})
			if err != nil {
				t.Fatalf("GetToken() error = %v", err)
			}
			if tok.Flow != "clientcreds" || tok.TokenType != "Bearer" || !tok.ExpiresOn.After(time.Now().Add(10*time.Minute)) {
				t.Errorf("token = flow %q type %q expires %v", tok.Flow, tok.TokenType, tok.ExpiresOn)
			}
			c := claims(t, tok)
			if c["appid"] != tt.clientID || c["tid"] != emulator.DefaultTenantID || c["aud"] != "https://graph.microsoft.com" || c["appidacr"] != tt.azpacr {
				t.Errorf("claims = appid %v tid %v aud %v appidacr %v", c["appid"], c["tid"], c["aud"], c["appidacr"])
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	p := startIdP(t)
	f := configured(t, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", wrongSecret)))
	_, err := getToken(context.Background(), f, &sdk.MemoryCache{}, sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("GetToken() = %v, want *sdk.Error", err)
	}
	if e.Kind != sdk.KindFailed || e.Code != 7000215 || e.OAuthCode != "invalid_client" || e.Flow != "clientcreds" || e.Hint == "" || e.CorrelationID == "" {
		t.Errorf("error = kind %v code %d oauth %q flow %q hint %q correlation %q", e.Kind, e.Code, e.OAuthCode, e.Flow, e.Hint, e.CorrelationID)
	}
	if !strings.Contains(err.Error(), "AADSTS7000215") || strings.Contains(err.Error(), wrongSecret) {
		t.Errorf("error text = %q", err)
	}
}

// hostCache is a host cache partition that counts what the flow does with
// it: the flow keeps no state there, so every count must stay zero.
type hostCache struct {
	sdk.MemoryCache
	mu           sync.Mutex
	loads, saves int
}

func (c *hostCache) Load(ctx context.Context, key string) (sdk.Blob, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.MemoryCache.Load(ctx, key)
}

func (c *hostCache) Save(ctx context.Context, key string, b sdk.Blob) (uint64, error) {
	c.mu.Lock()
	c.saves++
	c.mu.Unlock()
	return c.MemoryCache.Save(ctx, key, b)
}

// untouched fails t unless the flow never read or wrote c.
func (c *hostCache) untouched(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loads != 0 || c.saves != 0 || c.Len() != 0 {
		t.Errorf("host cache partition: %d loads, %d saves, %d entries; want none (the flow keeps no state there)", c.loads, c.saves, c.Len())
	}
}

// TestCache checks that MSAL's cache lives in the plugin's memory and
// nowhere else: a second call is served without the token endpoint, the
// host's cache partition is never read or written, and so a new flow
// instance (a restarted plugin) asks the IdP again (in credhost the
// host's token cache answers before a plugin is asked: see
// sdk/client's TestRestartedPluginHitsHostCache). ForceRefresh and claims
// skip MSAL's cache.
func TestCache(t *testing.T) {
	p := startIdP(t)
	cfg := p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret))
	cache := &hostCache{}
	ctx := context.Background()
	f := configured(t, cfg)

	first, err := getToken(ctx, f, cache, sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	calls := p.srv.Count("token")
	if calls != 1 {
		t.Fatalf("token endpoint calls = %d, want 1", calls)
	}

	restarted := configured(t, cfg)
	steps := []struct {
		name      string
		flow      sdk.Flow
		req       sdk.TokenRequest
		wantCalls int // added token endpoint calls
		sameToken bool
	}{
		{name: "second call is silent", flow: f, wantCalls: 0, sameToken: true},
		{name: "scopes normalized", flow: f, req: sdk.TokenRequest{Scopes: []string{" " + graph, graph}}, wantCalls: 0, sameToken: true},
		{name: "restarted plugin asks the IdP", flow: restarted, wantCalls: 1},
		{name: "restarted plugin then caches in memory", flow: restarted, wantCalls: 0},
		{name: "force refresh", flow: f, req: sdk.TokenRequest{ForceRefresh: true}, wantCalls: 1},
		{name: "after force refresh the new token is cached", flow: f, wantCalls: 0},
		{name: "claims skip the cache", flow: f, req: sdk.TokenRequest{Claims: `{"access_token":{"xms_cc":{"values":["cp1"]}}}`}, wantCalls: 1},
		{name: "other resource", flow: f, req: sdk.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}, wantCalls: 1},
	}
	var last sdk.Token
	for _, s := range steps {
		tok, err := getToken(ctx, s.flow, cache, s.req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := p.srv.Count("token") - calls
		calls += got
		if got != s.wantCalls {
			t.Errorf("%s: %d token endpoint calls, want %d", s.name, got, s.wantCalls)
		}
		if s.sameToken && tok.AccessToken.Reveal() != first.AccessToken.Reveal() {
			t.Errorf("%s: got a different token", s.name)
		}
		if s.name == "force refresh" && tok.AccessToken.Reveal() == first.AccessToken.Reveal() {
			t.Errorf("force refresh returned the cached token")
		}
		if s.name == "after force refresh the new token is cached" && tok.AccessToken.Reveal() != last.AccessToken.Reveal() {
			t.Errorf("the refreshed token was not cached")
		}
		last = tok
	}
	cache.untouched(t)
}

func TestTenantOverride(t *testing.T) {
	p := startIdP(t)
	f := configured(t, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret)))
	cache := &sdk.MemoryCache{}
	ctx := context.Background()

	home, err := getToken(ctx, f, cache, sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tid := claims(t, home)["tid"]; tid != emulator.DefaultTenantID {
		t.Errorf("home tid = %v", tid)
	}
	for i := 0; i < 2; i++ {
		before := p.srv.Count("token")
		tok, err := getToken(ctx, f, cache, sdk.TokenRequest{TenantID: otherTenant})
		if err != nil {
			t.Fatalf("override %d: %v", i, err)
		}
		if tid := claims(t, tok)["tid"]; tid != otherTenant {
			t.Errorf("override %d: tid = %v, want %s", i, tid, otherTenant)
		}
		if want, got := map[int]int{0: 1, 1: 0}[i], p.srv.Count("token")-before; got != want {
			t.Errorf("override %d: %d token endpoint calls, want %d", i, got, want)
		}
	}
	// The home tenant's token is still cached next to the other's.
	before := p.srv.Count("token")
	if tok, err := getToken(ctx, f, cache, sdk.TokenRequest{}); err != nil || tok.AccessToken.Reveal() != home.AccessToken.Reveal() || p.srv.Count("token") != before {
		t.Errorf("home token after override: err %v, same %v, calls %d", err, tok.AccessToken.Reveal() == home.AccessToken.Reveal(), p.srv.Count("token")-before)
	}
}

// TestFederatedTokenRotation re-reads the token file on every acquisition
// and reports a missing file by path.
func TestFederatedTokenRotation(t *testing.T) {
	p := startIdP(t)
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	f := configured(t, p.config(fedAppID, map[string]string{"federated_token_file": path}, nil))
	ctx := context.Background()
	cache := &sdk.MemoryCache{}

	_, err := getToken(ctx, f, cache, sdk.TokenRequest{})
	if sdk.KindOf(err) != sdk.KindFailed || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing file: GetToken() = %v, want a failure naming %s", err, path)
	}

	// An expired token in the file is refused by the IdP; a rotated one works.
	expired, err := p.srv.IssueFederatedToken(fedSubject, "", -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(expired), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = getToken(ctx, f, cache, sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code == 0 || strings.Contains(err.Error(), expired) {
		t.Fatalf("expired token: GetToken() = %v, want an AADSTS error without the token", err)
	}
	if err := os.WriteFile(path, []byte(p.federatedToken(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := getToken(ctx, f, cache, sdk.TokenRequest{}); err != nil {
		t.Fatalf("rotated token: %v", err)
	}
}

func TestCanceled(t *testing.T) {
	p := startIdP(t)
	f := configured(t, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := getToken(ctx, f, &sdk.MemoryCache{}, sdk.TokenRequest{})
	if !errors.Is(err, context.Canceled) || sdk.KindOf(err) != sdk.KindFailed {
		t.Fatalf("GetToken() = %v, want KindFailed wrapping context.Canceled", err)
	}
}

func TestUntrustedCA(t *testing.T) {
	p := startIdP(t)
	cfg := p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret))
	cfg.CACertificates = nil
	f := configured(t, cfg)
	_, err := getToken(context.Background(), f, &sdk.MemoryCache{}, sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || !strings.Contains(e.Hint, "ca_file") {
		t.Fatalf("GetToken() = %v, want a failure hinting at ca_file", err)
	}
}

// TestNoHostCache: without a host cache, MSAL's in-memory cache still
// serves repeated calls of the same process.
func TestNoHostCache(t *testing.T) {
	p := startIdP(t)
	f := configured(t, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret)))
	for i := 0; i < 2; i++ {
		if _, err := getToken(context.Background(), f, nil, sdk.TokenRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.srv.Count("token"); n != 1 {
		t.Errorf("token endpoint calls = %d, want 1", n)
	}
	if _, err := getToken(context.Background(), f, nil, sdk.TokenRequest{ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	if n := p.srv.Count("token"); n != 2 {
		t.Errorf("after force refresh: token endpoint calls = %d, want 2", n)
	}
}

// TestConcurrent runs many GetToken calls at once on two flows (two plugin
// processes) over one host cache, for the race detector: each flow then
// answers from its own memory every (scope, tenant) it was asked for, a
// third process asks the IdP for its own, and the shared host partition
// was never touched.
func TestConcurrent(t *testing.T) {
	p := startIdP(t)
	cfg := p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret))
	flows := []sdk.Flow{configured(t, cfg), configured(t, cfg)}
	cache := &hostCache{}
	scopes := []string{graph, "https://vault.azure.net/.default", "https://storage.azure.com/.default"}
	// Call i runs on flow i%2, in the other tenant when i is odd: flow 0
	// asks for every scope in the home tenant, flow 1 in the other.
	request := func(i int) sdk.TokenRequest {
		req := sdk.TokenRequest{Scopes: []string{scopes[i%len(scopes)]}}
		if i%2 == 1 {
			req.TenantID = otherTenant
		}
		return req
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := getToken(context.Background(), flows[i%2], cache, request(i)); err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	before := p.srv.Count("token")
	for i := 0; i < 6; i++ {
		if _, err := getToken(context.Background(), flows[i%2], cache, request(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.srv.Count("token") - before; n != 0 {
		t.Errorf("%d token endpoint calls after warm-up, want 0 (tokens lost from a flow's memory?)", n)
	}
	f := configured(t, cfg)
	for i := 0; i < 6; i++ {
		if _, err := getToken(context.Background(), f, cache, request(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.srv.Count("token") - before; n != 6 {
		t.Errorf("a third process made %d token endpoint calls for 6 (scope, tenant) pairs, want 6 (no state shared through the host partition)", n)
	}
	cache.untouched(t)
}

// TestOverPlugin drives the flow through the real plugin protocol (gRPC,
// broker and host cache service) in-process.
func TestOverPlugin(t *testing.T) {
	p := startIdP(t)
	ctx := context.Background()
	cache := &hostCache{}
	c := plugintest.Connect(t, newFlow(), zerolog.Nop())
	if err := c.Configure(ctx, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret)), cache); err != nil {
		t.Fatalf("Configure() = %v", err)
	}
	for i := 0; i < 2; i++ {
		tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graph}}, &recui.UI{})
		if err != nil {
			t.Fatalf("GetToken() = %v", err)
		}
		if tok.Flow != "clientcreds" || tok.AccessToken.IsZero() {
			t.Errorf("token = %+v", tok)
		}
	}
	if n := p.srv.Count("token"); n != 1 {
		t.Errorf("token endpoint calls = %d, want 1", n)
	}
	// The host side reads the partition to send it with each call
	// (protocol 3); the flow never saves to it.
	cache.mu.Lock()
	if cache.saves != 0 || cache.Len() != 0 {
		t.Errorf("host cache: %d saves, %d entries; want none", cache.saves, cache.Len())
	}
	cache.mu.Unlock()

	bad := plugintest.Connect(t, newFlow(), zerolog.Nop())
	if err := bad.Configure(ctx, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", wrongSecret)), &sdk.MemoryCache{}); err != nil {
		t.Fatal(err)
	}
	_, err := bad.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graph}}, &recui.UI{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || e.Code != 7000215 || e.Hint == "" || strings.Contains(err.Error(), wrongSecret) {
		t.Fatalf("GetToken(wrong secret) = %v", err)
	}
}
