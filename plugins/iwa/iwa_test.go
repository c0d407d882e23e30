package main

import (
	"context"
	"errors"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/wiretap"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/testkit/kdctest"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	tenantID = emulator.DefaultTenantID
	scope    = "api://resource/access_as_user"
	// adfsHost is the federation server's name in URLs and in its SPN;
	// the test's dialer resolves it (and everything else) to the emulator.
	adfsHost = "adfs.test.local"
	alice    = "alice@test.local" // federated; Kerberos alice@TEST.LOCAL
	bob      = "bob@test.local"   // federated, needs MFA
	alicePW  = "alice-kerberos-pw-5b7"
	bobPW    = "bob-kerberos-pw-9c2"
)

// fedConfig is the demo directory plus the federated test.local domain.
func fedConfig() emulator.Config {
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: alice, Password: "unused-ad-password", Federated: true, DisplayName: "Alice (AD)"},
		emulator.User{Username: bob, Password: "unused-ad-password", Federated: true, MFA: true})
	return cfg
}

// harness is the flow served in-process over the plugin protocol, an
// emulator whose windowstransport trusts a keytab, the host's cache,
// the flow's environment and a tap on its HTTP traffic.
type harness struct {
	t      *testing.T
	srv    *emulator.Server
	client *plugintest.Conn
	flow   *flow
	cache  *sdk.MemoryCache
	logs   *syncbuf.Buffer
	wire   *wiretap.Tap
	dials  atomic.Int64

	mu   sync.Mutex
	vars map[string]string
	now  time.Time // zero: the real clock
}

func newHarness(t *testing.T, keytab string) *harness {
	t.Helper()
	h := &harness{t: t, cache: &sdk.MemoryCache{}, logs: &syncbuf.Buffer{}, wire: &wiretap.Tap{}, vars: map[string]string{}}
	h.srv = emulatortest.StartOptions(t, emulator.Options{Config: fedConfig(), FederationHost: adfsHost, KerberosKeytab: keytab,
		Logger: zerolog.New(h.logs).Level(zerolog.DebugLevel)})
	addr := strings.TrimPrefix(h.srv.URL(), "https://")
	h.flow = &flow{
		newHTTP: func(ca []byte) (*http.Client, error) {
			c, err := httpclient.New(ca)
			if err != nil {
				return nil, err
			}
			// Test only: every name resolves to the emulator, as DNS
			// would send adfs.test.local to the AD FS farm.
			base, _ := httpclient.BaseTransport(c)
			tr := base.Clone()
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				h.dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			h.wire.Base = httpclient.NewRetryTransport(tr, nil)
			c.Transport = h.wire
			return c, nil
		},
		env: env{getenv: h.getenv, uid: func() int { return 4242 }, now: h.clock},
	}
	h.client = plugintest.Connect(t, h.flow, zerolog.New(h.logs).Level(zerolog.TraceLevel))
	if err := h.configure(nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) getenv(k string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.vars[k]
}

func (h *harness) setenv(k, v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.vars[k] = v
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.now.IsZero() {
		return time.Now()
	}
	return h.now
}

// configure (re)configures the flow with a fresh host cache, like a
// new profile or machine: nothing cached.
func (h *harness) configure(options map[string]string) error {
	h.t.Helper()
	h.cache = &sdk.MemoryCache{}
	return h.client.Configure(context.Background(), sdk.FlowConfig{Profile: "p", Authority: h.srv.Authority(tenantID),
		ClientID: emulator.DefaultPublicClientID, Options: options, CACertificates: h.srv.CACertPEM()}, h.cache)
}

func (h *harness) token(req sdk.TokenRequest) (sdk.Token, error) {
	h.t.Helper()
	if req.Scopes == nil {
		req.Scopes = []string{scope}
	}
	return h.client.GetToken(h.t.Context(), req, nil)
}

// requests is how many requests reached the emulator, all endpoints.
func (h *harness) requests() int {
	n := 0
	for _, k := range []string{"token", "user_realm", "mex", "wstrust", "discovery", "instance_discovery"} {
		n += h.srv.Count(k)
	}
	return n
}

func wantKind(t *testing.T, err error, kind sdk.Kind, contains string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != kind || !strings.Contains(err.Error(), contains) {
		t.Fatalf("err = %v (%#v), want %s containing %q", err, e, kind, contains)
	}
	return e
}

// TestIWAWithRealKDC signs in with tickets from a real MIT KDC. The steps
// share one realm and emulator and run in order.
func TestIWAWithRealKDC(t *testing.T) {
	kdc := kdctest.Start(t)
	kdc.AddUser("alice", alicePW)
	kdc.AddUser("bob", bobPW)
	keytab := kdc.AddService("HTTP/" + adfsHost)
	h := newHarness(t, keytab)
	h.setenv(envConfig, kdc.Krb5Conf)
	cc := kdc.Kinit("alice", alicePW)
	h.setenv(envCCache, "FILE:"+cc)

	var first sdk.Token
	t.Run("token with no prompt", func(t *testing.T) {
		tok, err := h.token(sdk.TokenRequest{})
		if err != nil {
			t.Fatalf("%v\nKDC log:\n%s", err, kdc.Log())
		}
		claims, err := h.srv.VerifyAccessToken(tok.AccessToken.Reveal())
		if err != nil || claims["preferred_username"] != alice || tok.Account.Username != alice || tok.Flow != flowName {
			t.Fatalf("token %+v claims %v %v", tok, claims, err)
		}
		if h.srv.Count("wstrust") != 1 || h.srv.Count("token:urn:ietf:params:oauth:grant-type:saml1_1-bearer") != 1 {
			t.Errorf("wstrust %d, saml grants %d", h.srv.Count("wstrust"), h.srv.Count("token:urn:ietf:params:oauth:grant-type:saml1_1-bearer"))
		}
		first = tok
	})
	t.Run("later calls are silent", func(t *testing.T) {
		tok, err := h.token(sdk.TokenRequest{})
		if err != nil || tok.AccessToken.Reveal() != first.AccessToken.Reveal() {
			t.Fatalf("cached: %v", err)
		}
		tok, err = h.token(sdk.TokenRequest{ForceRefresh: true})
		if err != nil || tok.AccessToken.Reveal() == first.AccessToken.Reveal() {
			t.Fatalf("refresh: %v", err)
		}
		if h.srv.Count("wstrust") != 1 || h.srv.Count("token:refresh_token") != 1 {
			t.Errorf("wstrust %d, refresh grants %d", h.srv.Count("wstrust"), h.srv.Count("token:refresh_token"))
		}
	})
	t.Run("managed user is unavailable", func(t *testing.T) {
		if err := h.configure(map[string]string{optUsername: emulator.DefaultUsername}); err != nil {
			t.Fatal(err)
		}
		wantKind(t, func() error { _, err := h.token(sdk.TokenRequest{}); return err }(), sdk.KindUnavailable, "managed (cloud-only)")
		if err := h.configure(nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("MFA user needs interaction", func(t *testing.T) {
		h.setenv(envCCache, "FILE:"+kdc.Kinit("bob", bobPW))
		defer h.setenv(envCCache, "FILE:"+cc)
		if err := h.configure(nil); err != nil {
			t.Fatal(err)
		}
		_, err := h.token(sdk.TokenRequest{})
		e := wantKind(t, err, sdk.KindInteractionRequired, "AADSTS50076")
		if e.Code != 50076 || e.Claims == "" {
			t.Errorf("error %+v", e)
		}
	})
	t.Run("expired ticket is unavailable", func(t *testing.T) {
		if err := h.configure(nil); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		h.now = time.Now().Add(48 * time.Hour)
		h.mu.Unlock()
		defer func() { h.mu.Lock(); h.now = time.Time{}; h.mu.Unlock() }()
		before := h.requests()
		_, err := h.token(sdk.TokenRequest{})
		wantKind(t, err, sdk.KindUnavailable, "expired")
		if h.requests() != before {
			t.Error("an expired ticket still reached the network")
		}
	})
	t.Run("no Kerberos config is unavailable", func(t *testing.T) {
		h.setenv(envConfig, filepath.Join(t.TempDir(), "absent.conf"))
		defer h.setenv(envConfig, kdc.Krb5Conf)
		_, err := h.token(sdk.TokenRequest{})
		wantKind(t, err, sdk.KindUnavailable, "no Kerberos configuration")
	})
	t.Run("destroyed ticket is unavailable", func(t *testing.T) {
		kdc.Kdestroy(cc)
		if err := h.configure(nil); err != nil {
			t.Fatal(err)
		}
		before, dials := h.requests(), h.dials.Load()
		_, err := h.token(sdk.TokenRequest{})
		e := wantKind(t, err, sdk.KindUnavailable, "no Kerberos ticket")
		if !strings.Contains(e.Hint, "kinit") {
			t.Errorf("hint %q", e.Hint)
		}
		if h.requests() != before || h.dials.Load() != dials {
			t.Error("no ticket, yet the flow reached the network")
		}
	})
	t.Run("ticket the server cannot decrypt is unavailable", func(t *testing.T) {
		// An emulator whose keytab holds another service's key: the
		// SPNEGO check is real, so alice's ticket is refused.
		other := newHarness(t, kdc.AddService("HTTP/other.test.local"))
		other.setenv(envConfig, kdc.Krb5Conf)
		other.setenv(envCCache, "FILE:"+kdc.Kinit("alice", alicePW))
		_, err := other.token(sdk.TokenRequest{})
		wantKind(t, err, sdk.KindUnavailable, "did not accept the Kerberos ticket")
		if other.srv.Count("token") != 0 {
			t.Error("a refused ticket still reached the token endpoint")
		}
	})
	t.Run("no secrets in logs or errors", func(t *testing.T) {
		h.setenv(envCCache, "FILE:"+kdc.Kinit("alice", alicePW))
		if err := h.configure(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := h.token(sdk.TokenRequest{}); err != nil {
			t.Fatal(err)
		}
		var errs []string
		if err := h.configure(map[string]string{optUsername: bob}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.token(sdk.TokenRequest{}); err != nil {
			errs = append(errs, err.Error())
		}
		secrets := wireSecrets(t, h.wire)
		secrets = append(secrets, alicePW, bobPW)
		text := h.logs.String() + strings.Join(errs, "\n")
		if !strings.Contains(text, `"flow":"iwa"`) || !strings.Contains(text, `"endpoint":"wstrust"`) {
			t.Fatalf("no flow or emulator logs captured:\n%s", text)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%.10s…) appears in logs or errors", s)
			}
		}
	})
}

// TestUnavailableWithoutTicketIsLocal puts iwa first in a chain on a
// machine with Kerberos configured but no ticket: it must answer
// unavailable without any network I/O (no dial, no request), and the
// chain must move on to the next member. It needs no KDC.
func TestUnavailableWithoutTicketIsLocal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = TEST.LOCAL\n dns_lookup_kdc = false\n[realms]\n TEST.LOCAL = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.setenv(envConfig, conf)
	h.setenv(envCCache, "FILE:"+filepath.Join(t.TempDir(), "krb5cc_none"))
	next := sdk.Token{AccessToken: sdk.NewSecret("from-the-next-flow"), Flow: "next"}
	var attempts []sdk.Attempt
	chain, err := sdk.NewChain("p", []sdk.ChainMember{
		{Name: flowName, Credential: sdk.CredentialFunc(func(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
			return h.client.GetToken(ctx, req, nil)
		})},
		{Name: "next", Credential: sdk.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) { return next, nil })},
	}, &sdk.ChainOptions{OnAttempt: func(a sdk.Attempt) { attempts = append(attempts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := chain.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{scope}})
	if err != nil || tok.Flow != "next" {
		t.Fatalf("chain: %v %+v", err, tok)
	}
	if len(attempts) != 1 || sdk.KindOf(attempts[0].Err) != sdk.KindUnavailable || !strings.Contains(attempts[0].Err.Error(), "no Kerberos ticket") {
		t.Fatalf("attempts %+v", attempts)
	}
	if h.dials.Load() != 0 || len(h.wire.All()) != 0 || h.requests() != 0 {
		t.Errorf("network I/O without a ticket: %d dials, %d bodies, %d requests", h.dials.Load(), len(h.wire.All()), h.requests())
	}
	// The same answer through the plugin's Check, for `credhost doctor`.
	known, problem, err := h.client.Check(t.Context(), true)
	if err != nil || !known || sdk.KindOf(problem) != sdk.KindUnavailable {
		t.Errorf("check: %v %v %v", known, problem, err)
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	d, err := h.client.Describe(t.Context())
	if err != nil || d.Name != flowName || d.Interactive || len(d.ForbiddenTenants) != 2 {
		t.Fatalf("describe %+v %v", d, err)
	}
	for _, tc := range []struct {
		authority string
		options   map[string]string
		field     string
	}{
		{h.srv.Authority("common"), nil, "authority"},
		{h.srv.Authority("consumers"), nil, "authority"},
		{h.srv.Authority(tenantID), map[string]string{"password": "x"}, "password"},
		{h.srv.Authority(tenantID), map[string]string{optUsername: "alice"}, optUsername},
	} {
		err := h.client.Configure(t.Context(), sdk.FlowConfig{Authority: tc.authority, ClientID: emulator.DefaultPublicClientID, Options: tc.options}, nil)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || len(ce.Fields) == 0 || ce.Fields[0].Field != tc.field {
			t.Errorf("%s %v: %v", tc.authority, tc.options, err)
		}
	}
	// A per-request tenant override to common is refused too.
	if err := h.configure(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.token(sdk.TokenRequest{TenantID: "common"}); sdk.KindOf(err) != sdk.KindFailed || !strings.Contains(err.Error(), "common") {
		t.Errorf("tenant override: %v", err)
	}
}

func TestCCachePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"FILE:/tmp/x": "/tmp/x", "/tmp/y": "/tmp/y"} {
		if got, err := ccachePath(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"KEYRING:persistent:0", "KCM:", "MEMORY:x"} {
		if _, err := ccachePath(in); !errors.Is(err, errNoKerberos) || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// secrets extracts the SPNEGO tokens, SAML assertions, tokens and refresh
// tokens seen on the wire.
func wireSecrets(t *testing.T, w *wiretap.Tap) []string {
	t.Helper()
	var out []string
	kinds := map[string]bool{}
	for _, b := range w.All() {
		if strings.HasPrefix(b, "YI") || strings.HasPrefix(b, "oY") { // base64 of a GSS-API/SPNEGO token
			out = append(out, b)
			kinds["spnego"] = true
		}
		if i := strings.Index(b, "<saml:Assertion"); i >= 0 {
			if j := strings.Index(b[i:], "</saml:Assertion>"); j > 0 {
				out = append(out, b[i:i+j], b[i+100:i+j]) // the whole and a slice of it
				kinds["saml"] = true
			}
		}
		for _, key := range []string{"access_token", "refresh_token", "id_token", "assertion"} {
			for _, v := range wiretap.Values(b, key) {
				if len(v) > 16 {
					out = append(out, v)
					kinds[key] = true
				}
			}
		}
	}
	for _, k := range []string{"spnego", "saml", "access_token", "refresh_token", "assertion"} {
		if !kinds[k] {
			t.Fatalf("did not capture any %s on the wire: %v", k, kinds)
		}
	}
	return out
}
