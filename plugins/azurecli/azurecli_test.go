package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/plugintest"
)

// fakeAz is an `az` that replays what the real one answers to
// `az account get-access-token`, by the mode written in its config dir
// (which it finds only if AZURE_CONFIG_DIR reaches it): the JSON of a
// signed-in az (response.json), the stderr of one nobody signed in to,
// another error, or no answer at all. It writes its arguments to args.
const fakeAz = `#!/bin/sh
printf '%s\n' "$@" > "$AZURE_CONFIG_DIR/args"
case "$(cat "$AZURE_CONFIG_DIR/mode")" in
ok) cat "$AZURE_CONFIG_DIR/response.json" ;;
login) echo "ERROR: Please run 'az login' to setup account." >&2; exit 1 ;;
expired) printf 'ERROR: AADSTS700082: The refresh token has expired due to inactivity.\nTrace ID: 1\n' >&2; exit 1 ;;
junk) echo "not json" ;;
hang) exec sleep 60 ;;
esac
`

// signedIn is az 2.45's answer, as recorded from the real one in
// TestRealAzureCLI (accessToken, expiresOn in local time with
// microseconds, subscription, tenant, tokenType); az 2.54 and later add
// expires_on (Unix seconds).
func signedIn(token string, exp time.Time, withUnix bool) string {
	s := fmt.Sprintf(`{"accessToken": %q, "expiresOn": %q, "subscription": "11111111-1111-4111-8111-111111111111", "tenant": "72f988bf-0000-4000-8000-000000000001", "tokenType": "Bearer"`,
		token, exp.Local().Format("2006-01-02 15:04:05.000000"))
	if withUnix {
		s += fmt.Sprintf(`, "expires_on": %d`, exp.Unix())
	}
	return s + "}\n"
}

// azWorld puts the fake az first on PATH and returns a config dir for it
// in mode.
func azWorld(t *testing.T, mode, response string) (configDir string) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	configDir = t.TempDir()
	write(t, filepath.Join(configDir, "mode"), mode)
	write(t, filepath.Join(configDir, "response.json"), response)
	return configDir
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func config(configDir string, kv ...string) sdk.FlowConfig {
	c := sdk.FlowConfig{Options: map[string]string{}, Environment: map[string]sdk.Secret{"AZURE_CONFIG_DIR": sdk.NewSecret(configDir)}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Options[kv[i]] = kv[i+1]
	}
	return c
}

func configured(t *testing.T, cfg sdk.FlowConfig) sdk.Flow {
	t.Helper()
	f := newFlow()
	if err := f.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestToken: the token and expiry az prints, from az's arguments built
// the way azidentity builds them.
func TestToken(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, tt := range []struct {
		name     string
		withUnix bool
		req      sdk.TokenRequest
		opts     []string
		args     string
	}{
		{"resource, az 2.45", false, sdk.TokenRequest{Scopes: []string{"https://management.azure.com/.default"}}, nil,
			"account get-access-token --output json --resource https://management.azure.com"},
		{"scope and tenant, newer az", true, sdk.TokenRequest{Scopes: []string{"api://app/read"}, TenantID: "contoso.onmicrosoft.com"}, nil,
			"account get-access-token --output json --scope api://app/read --tenant contoso.onmicrosoft.com"},
		{"options", true, sdk.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}, []string{optTenantID, "72f988bf-0000-4000-8000-000000000001", optSubscription, "My Sub"},
			"account get-access-token --output json --resource https://vault.azure.net --tenant 72f988bf-0000-4000-8000-000000000001 --subscription My Sub"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := azWorld(t, "ok", signedIn("canary-az-token", exp, tt.withUnix))
			tok, err := configured(t, config(dir, tt.opts...)).GetToken(context.Background(), tt.req, sdk.Services{})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != "canary-az-token" || !tok.ExpiresOn.Equal(exp) || tok.Flow != flowName || tok.TokenType != "Bearer" {
				t.Errorf("token %+v (expires %v), want canary-az-token expiring %v", tok, tok.ExpiresOn, exp)
			}
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			if got := strings.Join(strings.Fields(strings.ReplaceAll(string(args), "\n", " ")), " "); got != tt.args {
				t.Errorf("az %s\nwant az %s", got, tt.args)
			}
		})
	}
}

// TestErrors: a missing az and an az nobody signed in to are Unavailable,
// so a chain moves on; az's other errors, junk and a hang are failures
// saying what to do, and no call outlives the timeout.
func TestErrors(t *testing.T) {
	scope := sdk.TokenRequest{Scopes: []string{"https://management.azure.com/.default"}}
	for _, tt := range []struct {
		name, mode string
		opts       []string
		req        sdk.TokenRequest
		kind       sdk.Kind
		want       string
	}{
		{"not logged in", "login", nil, scope, sdk.KindUnavailable, "az login"},
		{"refresh token expired", "expired", nil, scope, sdk.KindFailed, "AADSTS700082"},
		{"junk", "junk", nil, scope, sdk.KindFailed, "no token"},
		{"hangs", "hang", []string{optTimeout, "300ms"}, scope, sdk.KindFailed, "within 300ms"},
		{"claims challenge", "ok", nil, sdk.TokenRequest{Scopes: scope.Scopes, Claims: `{"access_token":{}}`}, sdk.KindInteractionRequired, "claims"},
		{"two scopes", "ok", nil, sdk.TokenRequest{Scopes: []string{"a/.default", "b/.default"}}, sdk.KindFailed, "one scope"},
		{"a flag as scope", "ok", nil, sdk.TokenRequest{Scopes: []string{"--debug"}}, sdk.KindFailed, "one scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := azWorld(t, tt.mode, signedIn("canary-az-token", time.Now().Add(time.Hour), true))
			began := time.Now()
			_, err := configured(t, config(dir, tt.opts...)).GetToken(context.Background(), tt.req, sdk.Services{})
			if sdk.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (kind %v), want kind %v containing %q", err, sdk.KindOf(err), tt.kind, tt.want)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("the token leaked into the error: %v", err)
			}
			if took := time.Since(began); took > 20*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
	t.Run("az not installed", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		f := configured(t, config(t.TempDir()))
		_, err := f.GetToken(context.Background(), scope, sdk.Services{})
		if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(err.Error(), "not installed") {
			t.Fatalf("err = %v, want Unavailable: not installed", err)
		}
		if err := f.(interface {
			Check(context.Context, sdk.Services) error
		}).Check(context.Background(), sdk.Services{}); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Errorf("Check = %v, want Unavailable", err)
		}
	})
}

// TestConformance runs the SDK's conformance kit in-process and through
// the built plugin, whose az finds its login only through the
// AZURE_CONFIG_DIR the host passes because Describe names it.
func TestConformance(t *testing.T) {
	dir := azWorld(t, "ok", signedIn("canary-az-token", time.Now().Add(time.Hour), true))
	plugintest.Run(t, plugintest.Config{
		NewFlow: newFlow,
		Binary:  testbin.Build(t, "./plugins/azurecli", "credhost-plugin-azurecli"),
		Good:    config(dir),
		Request: sdk.TokenRequest{Scopes: []string{"https://management.azure.com/.default"}},
		CheckToken: func(t testing.TB, tok sdk.Token) {
			if tok.AccessToken.Reveal() != "canary-az-token" {
				t.Error("not az's token")
			}
		},
		Bad: []plugintest.Bad{
			{Name: "tenant with a flag", Config: config(dir, optTenantID, "--debug"), Fields: []string{optTenantID}},
			{Name: "subscription with quotes", Config: config(dir, optSubscription, `"x"`), Fields: []string{optSubscription}},
			{Name: "bad timeout", Config: config(dir, optTimeout, "soon"), Fields: []string{optTimeout}},
		},
	})
}

// TestThroughHost: through client.Open and the real plugin process, az finds
// its login only because the host passes AZURE_CONFIG_DIR (from its own
// environment, here its Getenv), which the flow's Describe names.
func TestThroughHost(t *testing.T) {
	bin := testbin.Build(t, "./plugins/azurecli", "credhost-plugin-azurecli")
	configDir := azWorld(t, "ok", signedIn("canary-az-token", time.Now().Add(time.Hour), true))
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	write(t, path, `
[profiles.dev]
authority = "https://login.microsoftonline.com/organizations"
client_id = "00000000-0000-4000-8000-000000000000"
chain     = ["azurecli"]
[profiles.dev.azurecli]
[cache]
backend = "memory"
`)
	env := map[string]string{"AZURE_CONFIG_DIR": configDir, "CREDHOST_SYSTEM_CONFIG": filepath.Join(dir, "none.toml")}
	c, err := client.Open(t.Context(), "dev", &client.Options{ConfigPath: path, PluginDirs: []string{filepath.Dir(bin)}, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken.Reveal() != "canary-az-token" || tok.Flow != flowName {
		t.Errorf("token from %s, want az's", tok.Flow)
	}
}
