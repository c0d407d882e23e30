package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
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
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	graphRead   = "https://graph.microsoft.com/User.Read"
	caUsername  = "carol@contoso.onmicrosoft.com"
	certAppID   = "22222222-2222-4222-8222-222222222222"
	wrongSecret = "canary-wrong-secret-5e0b"
	oboCounter  = "token:" + emulator.JWTBearerGrant
)

// apiAudience is the audience of the tokens callers send to the web API
// (DefaultClientID, with its secret).
var apiAudience = "api://" + emulator.DefaultClientID

// idp is a started emulator for these tests.
type idp struct {
	srv  *emulator.Server
	cert *clientauthtest.Cert
}

// startIdP serves the default tenant plus Carol, under conditional access
// for Graph, and an API app that authenticates with a certificate.
func startIdP(t *testing.T, opts emulator.Options) *idp {
	t.Helper()
	cert := clientauthtest.NewRSA(t, "obo test", 0)
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{
		Username: caUsername, Password: "carol-password", ConditionalAccess: []string{"https://graph.microsoft.com"},
	})
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: certAppID, Name: "cert-api", Certificates: []string{cert.CertPEM()}})
	opts.Config = cfg
	return &idp{srv: emulatortest.StartOptions(t, opts), cert: cert}
}

func (p *idp) config(clientID string, secrets map[string]sdk.Secret) sdk.FlowConfig {
	return sdk.FlowConfig{
		Profile:        "api",
		Authority:      p.srv.Authority(emulator.DefaultTenantID),
		ClientID:       clientID,
		Secrets:        secrets,
		CACertificates: p.srv.CACertPEM(),
	}
}

func (p *idp) secretConfig() sdk.FlowConfig {
	return p.config(emulator.DefaultClientID, secretsOf("client_secret", emulator.DefaultClientSecret))
}

// assertion mints username's token for audience.
func (p *idp) assertion(t *testing.T, username, audience string, lifetime time.Duration) sdk.Secret {
	t.Helper()
	tok, err := p.srv.IssueUserToken(emulator.DefaultTenantID, username, audience, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.NewSecret(tok)
}

func secretsOf(kv ...string) map[string]sdk.Secret {
	m := map[string]sdk.Secret{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = sdk.NewSecret(kv[i+1])
	}
	return m
}

func configured(t *testing.T, cfg sdk.FlowConfig) sdk.Flow {
	t.Helper()
	f := newFlow()
	if err := f.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure() error = %v", err)
	}
	return f
}

func obo(ctx context.Context, f sdk.Flow, cache sdk.Cache, assertion sdk.Secret, req sdk.TokenRequest) (sdk.Token, error) {
	if req.Scopes == nil {
		req.Scopes = []string{graphRead}
	}
	req.UserAssertion = assertion
	return f.GetToken(ctx, req, sdk.Services{Cache: cache, UI: &recui.UI{}})
}

// verified checks tok with the emulator and returns its claims.
func (p *idp) verified(t *testing.T, tok sdk.Token) map[string]any {
	t.Helper()
	c, err := p.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil {
		t.Fatalf("downstream token: %v", err)
	}
	return c
}

func TestDescribe(t *testing.T) {
	d := newFlow().Describe()
	if d.Name != "obo" || d.Version != flowVersion || d.Interactive {
		t.Errorf("Describe() = %+v", d)
	}
	want := clientauth.Options()
	if len(d.Options) != len(want) {
		t.Fatalf("options = %v, want clientauth's %v", d.Options, want)
	}
	for _, o := range want {
		if got, ok := d.Option(o.Name); !ok || got.Secret != o.Secret {
			t.Errorf("option %s: %+v, %v", o.Name, got, ok)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    sdk.FlowConfig
		fields string
	}{
		{name: "no credential", cfg: sdk.FlowConfig{Authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com", ClientID: "c"},
			fields: "client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"},
		{name: "multi-tenant authority", cfg: sdk.FlowConfig{Authority: "https://login.microsoftonline.com/organizations", ClientID: "c", Secrets: secretsOf("client_secret", "s")},
			fields: "authority"},
		{name: "missing client id", cfg: sdk.FlowConfig{Authority: "https://h/t", Secrets: secretsOf("client_secret", "s")}, fields: "client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newFlow().Configure(context.Background(), tt.cfg)
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Flow != "obo" {
				t.Fatalf("Configure() = %v, want *sdk.ConfigError of obo", err)
			}
			var got []string
			for _, f := range ce.Fields {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != tt.fields {
				t.Errorf("fields = %v, want %s", got, tt.fields)
			}
		})
	}
}

func TestUnconfigured(t *testing.T) {
	_, err := obo(context.Background(), newFlow(), &sdk.MemoryCache{}, sdk.NewSecret("x.y.z"), sdk.TokenRequest{})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("GetToken() = %v, want Unavailable", err)
	}
}

func TestNoAssertion(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	f := configured(t, p.secretConfig())
	for _, a := range []sdk.Secret{{}, sdk.NewSecret("  ")} {
		_, err := obo(context.Background(), f, &sdk.MemoryCache{}, a, sdk.TokenRequest{})
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.KindFailed || !strings.Contains(err.Error(), "obo needs the caller's access token") || e.Hint == "" {
			t.Errorf("GetToken() = %v", err)
		}
	}
	if n := p.srv.Count("token"); n != 0 {
		t.Errorf("%d token requests without an assertion", n)
	}
}

// TestOnBehalfOf exchanges Alice's token with each kind of client
// authentication the API may use.
func TestOnBehalfOf(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	tests := []struct {
		name   string
		cfg    sdk.FlowConfig
		aud    string
		azpacr string
	}{
		{name: "client secret", cfg: p.secretConfig(), aud: apiAudience, azpacr: "1"},
		{name: "client secret, client id audience", cfg: p.secretConfig(), aud: emulator.DefaultClientID, azpacr: "1"},
		{name: "certificate", cfg: p.config(certAppID, secretsOf("certificate", string(p.cert.PEM(t, clientauthtest.PKCS8)))), aud: "api://" + certAppID, azpacr: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := configured(t, tt.cfg)
			in := p.assertion(t, emulator.DefaultUsername, tt.aud, time.Hour)
			tok, err := obo(context.Background(), f, &sdk.MemoryCache{}, in, sdk.TokenRequest{})
			if err != nil {
				t.Fatalf("GetToken() = %v", err)
			}
			c := p.verified(t, tok)
			if c["aud"] != "https://graph.microsoft.com" || c["upn"] != emulator.DefaultUsername || c["appid"] != tt.cfg.ClientID ||
				c["scp"] != "User.Read" || c["appidacr"] != tt.azpacr {
				t.Errorf("claims = %v", c)
			}
			if tok.Flow != "obo" || tok.TokenType != "Bearer" || tok.Account.Username != emulator.DefaultUsername || tok.Account.TenantID != emulator.DefaultTenantID {
				t.Errorf("token = flow %q type %q account %+v", tok.Flow, tok.TokenType, tok.Account)
			}
		})
	}
}

// TestErrors: what a web API must tell apart, with the AADSTS code and a
// hint; the claims challenge survives for WWW-Authenticate.
func TestErrors(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	good := p.secretConfig()
	tests := []struct {
		name      string
		cfg       sdk.FlowConfig
		assertion sdk.Secret
		kind      sdk.Kind
		code      int
		claims    bool
	}{
		{name: "expired assertion", cfg: good, assertion: p.assertion(t, emulator.DefaultUsername, apiAudience, -time.Minute), kind: sdk.KindFailed, code: 500133},
		{name: "foreign audience", cfg: good, assertion: p.assertion(t, emulator.DefaultUsername, "api://another-api", time.Hour), kind: sdk.KindFailed, code: 500131},
		{name: "not a token", cfg: good, assertion: sdk.NewSecret("junk"), kind: sdk.KindFailed, code: 50013},
		{name: "conditional access", cfg: good, assertion: p.assertion(t, caUsername, apiAudience, time.Hour), kind: sdk.KindInteractionRequired, code: 50076, claims: true},
		{name: "wrong client secret", cfg: p.config(emulator.DefaultClientID, secretsOf("client_secret", wrongSecret)),
			assertion: p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour), kind: sdk.KindFailed, code: 7000215},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := obo(context.Background(), configured(t, tt.cfg), &sdk.MemoryCache{}, tt.assertion, sdk.TokenRequest{})
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("GetToken() = %v, want *sdk.Error", err)
			}
			if e.Kind != tt.kind || e.Code != tt.code || e.Flow != "obo" || e.Hint == "" || e.CorrelationID == "" {
				t.Errorf("error = kind %v code %d flow %q hint %q correlation %q", e.Kind, e.Code, e.Flow, e.Hint, e.CorrelationID)
			}
			if tt.claims {
				var challenge map[string]any
				if err := json.Unmarshal([]byte(e.Claims), &challenge); err != nil || challenge["access_token"] == nil {
					t.Errorf("claims = %q", e.Claims)
				}
				if !strings.Contains(e.Hint, "WWW-Authenticate") {
					t.Errorf("hint = %q", e.Hint)
				}
			}
			for _, s := range []string{tt.assertion.Reveal(), wrongSecret} {
				if len(s) > 8 && strings.Contains(err.Error(), s) {
					t.Errorf("error text holds a secret: %q", err)
				}
			}
		})
	}
}

// TestCachePerAssertion: downstream tokens are cached under the SHA-256
// of the assertion, shared by every flow instance (plugin process) over
// the host cache, and never under the assertion itself.
func TestCachePerAssertion(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	cfg := p.secretConfig()
	cache := &sdk.MemoryCache{}
	ctx := context.Background()
	f := configured(t, cfg)
	alice := p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour)
	first, err := obo(ctx, f, cache, alice, sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := cache.Keys(ctx, "")
	if len(keys) != 1 || keys[0] != assertionKey(alice.Reveal()) || len(keys[0]) != 64 {
		t.Fatalf("cache keys = %v, want the SHA-256 of the assertion", keys)
	}
	if b, _ := cache.Load(ctx, keys[0]); bytes.Contains(b.Data, []byte(alice.Reveal())) || b.ExpiresOn.IsZero() {
		t.Errorf("cache entry holds the assertion or has no expiry")
	}

	bob := p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour) // same user, another token
	steps := []struct {
		name      string
		flow      sdk.Flow
		assertion sdk.Secret
		req       sdk.TokenRequest
		calls     int
		same      bool
	}{
		{name: "same assertion", flow: f, assertion: alice, calls: 0, same: true},
		{name: "scopes normalized", flow: f, assertion: alice, req: sdk.TokenRequest{Scopes: []string{" " + graphRead, graphRead}}, calls: 0, same: true},
		{name: "restarted plugin reads the host cache", flow: configured(t, cfg), assertion: alice, calls: 0, same: true},
		{name: "another assertion", flow: f, assertion: bob, calls: 1},
		{name: "another resource", flow: f, assertion: alice, req: sdk.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}, calls: 1},
		{name: "first resource still cached beside it", flow: f, assertion: alice, calls: 0, same: true},
		{name: "force refresh", flow: f, assertion: alice, req: sdk.TokenRequest{ForceRefresh: true}, calls: 1},
		{name: "claims skip the cache", flow: f, assertion: alice, req: sdk.TokenRequest{Claims: `{"access_token":{"xms_cc":{"values":["cp1"]}}}`}, calls: 1},
	}
	// Counted at the token endpoint: for a new resource of a known
	// assertion MSAL may redeem the refresh token of the first exchange
	// instead of the assertion.
	calls := p.srv.Count("token")
	for _, s := range steps {
		tok, err := obo(ctx, s.flow, cache, s.assertion, s.req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := p.srv.Count("token") - calls
		calls += got
		if got != s.calls {
			t.Errorf("%s: %d token requests, want %d", s.name, got, s.calls)
		}
		if same := tok.AccessToken.Reveal() == first.AccessToken.Reveal(); same != s.same {
			t.Errorf("%s: same token = %v, want %v", s.name, same, s.same)
		}
	}
}

// TestExpiredAssertionSkipsCache: once the caller's token has expired, a
// downstream token cached for it is not handed out; the IdP says why.
func TestExpiredAssertionSkipsCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := startIdP(t, emulator.Options{Now: clock})
	f := newFlow().(*flow)
	f.now = clock
	if err := f.Configure(context.Background(), p.secretConfig()); err != nil {
		t.Fatal(err)
	}
	cache := &sdk.MemoryCache{}
	in := p.assertion(t, emulator.DefaultUsername, apiAudience, 10*time.Minute)
	if _, err := obo(context.Background(), f, cache, in, sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	_, err := obo(context.Background(), f, cache, in, sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != 500133 || e.Kind != sdk.KindFailed {
		t.Fatalf("GetToken() = %v, want AADSTS500133", err)
	}
}

// TestNoHostCache: without a host cache the flow caches in memory.
func TestNoHostCache(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	f := configured(t, p.secretConfig())
	in := p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour)
	for range 2 {
		if _, err := obo(context.Background(), f, nil, in, sdk.TokenRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.srv.Count(oboCounter); n != 1 {
		t.Errorf("OBO requests = %d, want 1", n)
	}
}

// TestConcurrent: many users at once over two flow instances and one
// host cache, for the race detector; each user gets their own token.
func TestConcurrent(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	cfg := p.secretConfig()
	flows := []sdk.Flow{configured(t, cfg), configured(t, cfg)}
	cache := &sdk.MemoryCache{}
	assertions := make([]sdk.Secret, 6)
	for i := range assertions {
		assertions[i] = p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour)
	}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := obo(context.Background(), flows[i%2], cache, assertions[i%len(assertions)], sdk.TokenRequest{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, _ := cache.Keys(context.Background(), ""); len(n) != len(assertions) {
		t.Errorf("cache keys = %d, want one per assertion (%d)", len(n), len(assertions))
	}
}

// TestOverPlugin drives the flow through the plugin protocol in-process:
// the assertion crosses gRPC, the cache is the host's service, and the
// claims challenge comes back intact.
func TestOverPlugin(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	ctx := context.Background()
	cache := &sdk.MemoryCache{}
	c := plugintest.Connect(t, newFlow(), zerolog.Nop())
	if err := c.Configure(ctx, p.secretConfig(), cache); err != nil {
		t.Fatal(err)
	}
	in := p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour)
	for range 2 {
		tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graphRead}, UserAssertion: in}, &recui.UI{})
		if err != nil {
			t.Fatal(err)
		}
		p.verified(t, tok)
	}
	if n := p.srv.Count(oboCounter); n != 1 || cache.Len() != 1 {
		t.Errorf("OBO requests = %d, cache entries = %d; want 1 and 1", n, cache.Len())
	}
	_, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graphRead}, UserAssertion: p.assertion(t, caUsername, apiAudience, time.Hour)}, &recui.UI{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindInteractionRequired || e.Code != 50076 || !strings.Contains(e.Claims, "capolids") {
		t.Fatalf("conditional access over the plugin protocol: %v (claims %q)", err, claimsOf(err))
	}
}

func claimsOf(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Claims
	}
	return ""
}

// TestCanary: at debug level, neither the flow's logs nor the emulator's
// nor any error text holds an assertion, a token or the client secret.
func TestCanary(t *testing.T) {
	var logs syncbuf.Buffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	p := startIdP(t, emulator.Options{Logger: log})
	ctx := log.WithContext(context.Background())
	cache := &sdk.MemoryCache{}
	over := plugintest.Connect(t, newFlow(), log)
	if err := over.Configure(ctx, p.secretConfig(), cache); err != nil {
		t.Fatal(err)
	}
	bad := configured(t, p.config(emulator.DefaultClientID, secretsOf("client_secret", wrongSecret)))
	secrets := []string{emulator.DefaultClientSecret, wrongSecret}
	var errs []error
	for _, a := range []sdk.Secret{
		p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour),
		p.assertion(t, emulator.DefaultUsername, apiAudience, -time.Minute),
		p.assertion(t, caUsername, apiAudience, time.Hour),
		p.assertion(t, emulator.DefaultUsername, "api://another-api", time.Hour),
	} {
		secrets = append(secrets, a.Reveal())
		for range 2 { // the second call of the good one is a cache hit
			tok, err := over.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graphRead}, UserAssertion: a}, &recui.UI{})
			secrets = append(secrets, tok.AccessToken.Reveal())
			errs = append(errs, err)
		}
		_, err := obo(ctx, bad, cache, a, sdk.TokenRequest{ForceRefresh: true})
		errs = append(errs, err)
	}
	if logs.Len() == 0 {
		t.Fatal("no debug logs were written")
	}
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs hold a secret %.12s…", s)
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), s) {
				t.Errorf("error text holds a secret: %v", err)
			}
		}
	}
}
