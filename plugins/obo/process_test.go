package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

// processClient returns an sdk client whose profile "api" runs the real
// credhost-plugin-obo binary against p, logging at debug level into logs.
func processClient(t *testing.T, p *idp, logs *syncbuf.Buffer) *client.Client {
	t.Helper()
	bin := testbin.Build(t, "./plugins/obo", "credhost-plugin-obo")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, p.srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[profiles.api]
authority = %q
client_id = %q
chain = ["obo"]
ca_file = %q
[profiles.api.obo]
client_secret = "env:OBO_TEST_API_SECRET"
[cache]
backend = "memory"
`, p.srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID, ca)
	file, err := client.ParseConfig(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "OBO_TEST_API_SECRET" {
			return emulator.DefaultClientSecret
		}
		return ""
	}
	c, err := client.New(t.Context(), file, "api", &client.Options{PluginDirs: []string{filepath.Dir(bin)}, Getenv: getenv,
		Log: zerolog.New(logs).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestProcess runs on-behalf-of through the host and a real plugin
// process: the assertion crosses the process boundary, the outcomes keep
// their kind, code and claims, and no secret reaches the logs.
func TestProcess(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	var logs syncbuf.Buffer
	c := processClient(t, p, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secrets := []string{emulator.DefaultClientSecret}
	// Each case asks for its own resource: the host's L1 cache does not
	// yet key tokens by assertion (see TestProcessHostCacheKeysByAssertion).
	tests := []struct {
		name      string
		assertion sdk.Secret
		scope     string
		kind      sdk.Kind
		code      int
		claims    bool
	}{
		{name: "valid assertion", assertion: p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour), scope: graphRead},
		{name: "expired assertion", assertion: p.assertion(t, emulator.DefaultUsername, apiAudience, -time.Minute), scope: "api://expired/x", kind: sdk.KindFailed, code: 500133},
		{name: "foreign audience", assertion: p.assertion(t, emulator.DefaultUsername, "api://another-api", time.Hour), scope: "api://foreign/x", kind: sdk.KindFailed, code: 500131},
		{name: "conditional access", assertion: p.assertion(t, caUsername, apiAudience, time.Hour), scope: "https://graph.microsoft.com/Mail.Read", kind: sdk.KindInteractionRequired, code: 50076, claims: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets = append(secrets, tt.assertion.Reveal())
			tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{tt.scope}, UserAssertion: tt.assertion})
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("GetToken() = %v", err)
				}
				secrets = append(secrets, tok.AccessToken.Reveal())
				if cl := p.verified(t, tok); cl["upn"] != emulator.DefaultUsername || cl["appid"] != emulator.DefaultClientID {
					t.Errorf("claims = %v", cl)
				}
				return
			}
			var e *sdk.Error
			if !errors.As(err, &e) || sdk.KindOf(err) != tt.kind || e.Kind != tt.kind || e.Code != tt.code || e.Flow != "obo" || e.Hint == "" {
				t.Fatalf("GetToken() = %v, want %v AADSTS%d from obo", err, tt.kind, tt.code)
			}
			if tt.claims && !strings.Contains(e.Claims, "capolids") {
				t.Errorf("claims = %q", e.Claims)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error text holds a secret: %v", err)
				}
			}
		})
	}
	_, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{"api://no-assertion/x"}})
	if sdk.KindOf(err) != sdk.KindFailed || !strings.Contains(err.Error(), "obo needs the caller's access token") {
		t.Errorf("without an assertion: %v", err)
	}
	if !strings.Contains(logs.String(), `"flow":"obo"`) {
		t.Fatalf("no plugin logs at debug level:\n%s", logs.String())
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs hold a secret %.12s…", s)
		}
	}
}

// TestProcessHostCacheKeysByAssertion: two callers (two assertions)
// asking the same profile for the same scopes must get their own tokens.
func TestProcessHostCacheKeysByAssertion(t *testing.T) {
	p := startIdP(t, emulator.Options{})
	var logs syncbuf.Buffer
	c := processClient(t, p, &logs)
	ctx := context.Background()
	var toks []string
	for range 2 {
		a := p.assertion(t, emulator.DefaultUsername, apiAudience, time.Hour)
		tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graphRead}, UserAssertion: a})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok.AccessToken.Reveal())
	}
	if toks[0] == toks[1] {
		t.Fatal("one caller's downstream token answered another's: the host cache must key by the assertion")
	}
	if n := p.srv.Count(oboCounter); n != 2 {
		t.Errorf("OBO requests = %d, want 2", n)
	}
}
