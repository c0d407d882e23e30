package main

import (
	"context"
	"errors"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/wiretap"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	tenantID    = emulator.DefaultTenantID
	scope       = "api://resource/access_as_user"
	adfsHost    = "adfs.fabrikam.test"
	fedUser     = "fred@fabrikam.test"
	fedPassword = "fred-canary-password-31d"
	fedMFAUser  = "mia@fabrikam.test"
	samlGrant   = "token:urn:ietf:params:oauth:grant-type:saml1_1-bearer"
)

func fedConfig() emulator.Config {
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: fedUser, Password: fedPassword, Federated: true},
		emulator.User{Username: fedMFAUser, Password: "mia-canary-password-77a", Federated: true, MFA: true})
	return cfg
}

type harness struct {
	t      *testing.T
	srv    *emulator.Server
	client *plugintest.Conn
	cache  *sdk.MemoryCache
	logs   *syncbuf.Buffer
	wire   *wiretap.Tap
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncbuf.Buffer{}, wire: &wiretap.Tap{}}
	h.srv = emulatortest.StartOptions(t, emulator.Options{Config: fedConfig(), FederationHost: adfsHost,
		Logger: zerolog.New(h.logs).Level(zerolog.DebugLevel)})
	addr := strings.TrimPrefix(h.srv.URL(), "https://")
	f := &flow{newHTTP: func(ca []byte) (*http.Client, error) {
		c, err := httpclient.New(ca)
		if err != nil {
			return nil, err
		}
		// Test only: every name resolves to the emulator, as DNS would
		// send adfs.fabrikam.test to the AD FS farm.
		base, _ := httpclient.BaseTransport(c)
		tr := base.Clone()
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		h.wire.Base = httpclient.NewRetryTransport(tr, nil)
		c.Transport = h.wire
		return c, nil
	}}
	h.client = plugintest.Connect(t, f, zerolog.New(h.logs).Level(zerolog.TraceLevel))
	return h
}

// signIn configures the flow for username/password with a fresh cache.
func (h *harness) signIn(username, password string) error {
	h.t.Helper()
	h.cache = &sdk.MemoryCache{}
	return h.client.Configure(context.Background(), sdk.FlowConfig{Profile: "p", Authority: h.srv.Authority(tenantID),
		ClientID: emulator.DefaultPublicClientID, Options: map[string]string{optUsername: username},
		Secrets: map[string]sdk.Secret{optPassword: sdk.NewSecret(password)}, CACertificates: h.srv.CACertPEM()}, h.cache)
}

func (h *harness) token(req sdk.TokenRequest) (sdk.Token, error) {
	h.t.Helper()
	if req.Scopes == nil {
		req.Scopes = []string{scope}
	}
	return h.client.GetToken(h.t.Context(), req, nil)
}

func TestManagedThenSilent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.signIn(emulator.DefaultUsername, emulator.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	tok, err := h.token(sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := h.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil || claims["preferred_username"] != emulator.DefaultUsername || tok.Flow != flowName {
		t.Fatalf("claims %v %v", claims, err)
	}
	if _, err := h.token(sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Count("token:password"); n != 1 {
		t.Errorf("password grants %d, want 1 (the second call is silent)", n)
	}
	if h.srv.Count("wstrust") != 0 {
		t.Error("a managed user went to the federation server")
	}
	// The warning comes on every use, the silent one included.
	if n := strings.Count(h.logs.String(), "ROPC) is deprecated"); n != 2 {
		t.Errorf("deprecation warnings %d, want 2:\n%s", n, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), `"level":"warn"`) {
		t.Error("the deprecation notice is not a warning")
	}
}

func TestFederated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.signIn(fedUser, fedPassword); err != nil {
		t.Fatal(err)
	}
	tok, err := h.token(sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := h.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil || claims["preferred_username"] != fedUser {
		t.Fatalf("claims %v %v", claims, err)
	}
	if h.srv.Count("user_realm") != 1 || h.srv.Count("mex") != 1 || h.srv.Count("wstrust") != 1 ||
		h.srv.Count(samlGrant) != 1 || h.srv.Count("token:password") != 0 {
		t.Errorf("realm %d mex %d wstrust %d saml %d password %d", h.srv.Count("user_realm"), h.srv.Count("mex"),
			h.srv.Count("wstrust"), h.srv.Count(samlGrant), h.srv.Count("token:password"))
	}
	if _, err := h.token(sdk.TokenRequest{ForceRefresh: true}); err != nil || h.srv.Count("wstrust") != 1 {
		t.Errorf("refresh: %v, wstrust %d", err, h.srv.Count("wstrust"))
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		user, password string
		kind           sdk.Kind
		code           int
	}{
		{emulator.DefaultUsername, "wrong-password", sdk.KindFailed, 50126},
		{fedUser, "wrong-password", sdk.KindFailed, 50126},
		{emulator.DefaultMFAUsername, emulator.DefaultMFAPassword, sdk.KindInteractionRequired, 50076},
		{fedMFAUser, "mia-canary-password-77a", sdk.KindInteractionRequired, 50076},
		{"nobody@contoso.onmicrosoft.com", "nobody-canary-pw-4d1", sdk.KindFailed, 50034},
	} {
		if err := h.signIn(tc.user, tc.password); err != nil {
			t.Fatal(err)
		}
		_, err := h.token(sdk.TokenRequest{})
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != tc.kind || e.Code != tc.code || e.Hint == "" {
			t.Errorf("%s: %v (%+v), want %s AADSTS%d", tc.user, err, e, tc.kind, tc.code)
		}
		if strings.Contains(err.Error(), tc.password) {
			t.Errorf("%s: the password is in the error", tc.user)
		}
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d, err := h.client.Describe(t.Context())
	if err != nil || d.Interactive {
		t.Fatal(d, err)
	}
	if o, ok := d.Option(optPassword); !ok || !o.Secret {
		t.Errorf("password option %+v", o)
	}
	for _, tc := range []struct {
		cfg   sdk.FlowConfig
		field string
	}{
		{sdk.FlowConfig{Authority: h.srv.Authority(tenantID), Options: map[string]string{optUsername: "a@b"}}, optPassword},
		{sdk.FlowConfig{Authority: h.srv.Authority(tenantID), Secrets: map[string]sdk.Secret{optPassword: sdk.NewSecret("x")}}, optUsername},
		{sdk.FlowConfig{Authority: h.srv.Authority("common"), Options: map[string]string{optUsername: "a@b"},
			Secrets: map[string]sdk.Secret{optPassword: sdk.NewSecret("x")}}, "authority"},
		{sdk.FlowConfig{Authority: h.srv.Authority(tenantID), Options: map[string]string{optUsername: "a@b", optPassword: "inline"},
			Secrets: map[string]sdk.Secret{optPassword: sdk.NewSecret("x")}}, optPassword},
	} {
		tc.cfg.ClientID = emulator.DefaultPublicClientID
		err := h.client.Configure(t.Context(), tc.cfg, nil)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Fields[0].Field != tc.field {
			t.Errorf("%+v: %v", tc.cfg.Options, err)
		}
	}
}

// TestNoSecretsInLogsOrErrors signs in managed and federated users, and
// fails some, then checks that no password, token, refresh token or SAML
// assertion appears in the flow's or the emulator's logs or in errors.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var errs []string
	for _, c := range [][2]string{
		{emulator.DefaultUsername, emulator.DefaultPassword},
		{fedUser, fedPassword},
		{fedUser, "wrong-canary-password-e0b"},
		{emulator.DefaultUsername, "wrong-canary-password-e0b"},
		{fedMFAUser, "mia-canary-password-77a"},
	} {
		if err := h.signIn(c[0], c[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := h.token(sdk.TokenRequest{}); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 3 {
		t.Fatalf("want three failures, got %v", errs)
	}
	secrets := []string{emulator.DefaultPassword, fedPassword, "wrong-canary-password-e0b", "mia-canary-password-77a"}
	for _, b := range h.wire.All() {
		if i := strings.Index(b, "<saml:Assertion"); i >= 0 {
			secrets = append(secrets, b[i:i+200])
		}
		for _, key := range []string{"access_token", "refresh_token", "id_token", "assertion"} {
			for _, v := range wiretap.Values(b, key) {
				if len(v) > 16 {
					secrets = append(secrets, v)
				}
			}
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("captured too few secrets: %d", len(secrets))
	}
	text := h.logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(text, `"flow":"ropc"`) || !strings.Contains(text, `"endpoint":"wstrust"`) {
		t.Fatalf("no flow or emulator logs:\n%s", text)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("a secret (%.10s…) appears in logs or errors", s)
		}
	}
}
