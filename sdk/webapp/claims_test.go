package webapp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/webapp"
)

// TestClaimsChallengeRoundTrip: a web API (DefaultClientID, through the
// real obo plugin) calls Graph on behalf of a user whom a conditional
// access policy guards for Graph. Entra ID (the emulator) answers the
// on-behalf-of exchange with AADSTS50076 and a claims challenge;
// WriteError relays it as 401 insufficient_claims; the client (a public
// client, password grant) gets a new token for the API with those claims
// and calls again; now the exchange succeeds and the Graph token says the
// user stepped up (acrs).
func TestClaimsChallengeRoundTrip(t *testing.T) {
	const user, password, graphRead = "carol@contoso.onmicrosoft.com", "carol-password", "https://graph.microsoft.com/User.Read"
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: user, Password: password, ConditionalAccess: []string{"https://graph.microsoft.com"}})
	srv := emulatortest.Start(t, cfg)
	pluginDir := filepath.Dir(testbin.Build(t, "./plugins/obo", "credhost-plugin-obo"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[profiles.webapi]
authority = %q
client_id = %q
chain = ["obo"]
ca_file = "ca.pem"
[profiles.webapi.obo]
client_secret = "env:WEBAPI_CLIENT_SECRET"
`, srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID)
	file, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "WEBAPI_CLIENT_SECRET" {
			return emulator.DefaultClientSecret
		}
		return ""
	}
	client, err := client.New(t.Context(), file, "webapi", &client.Options{PluginDirs: []string{pluginDir}, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	api := webapp.NewAPI(client)
	// The web API: answers with the acrs of the Graph token it got for
	// its caller, or relays the error as Microsoft APIs do.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := api.OnBehalfOf(r, graphRead)
		if err != nil {
			webapp.WriteError(w, err, nil)
			return
		}
		c, err := srv.VerifyAccessToken(tok.AccessToken.Reveal())
		if err != nil || c["aud"] != "https://graph.microsoft.com" || c["upn"] != user {
			http.Error(w, "bad downstream token", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"acrs": c["acrs"]})
	}))
	t.Cleanup(ts.Close)

	// The client: a public client signing carol in for the web API.
	signIn := func(claims string) string {
		t.Helper()
		form := url.Values{"grant_type": {"password"}, "client_id": {emulator.DefaultPublicClientID},
			"username": {user}, "password": {password}, "scope": {"api://" + emulator.DefaultClientID + "/.default"}}
		if claims != "" {
			form.Set("claims", claims)
		}
		resp, err := srv.HTTPClient().PostForm(srv.Authority(emulator.DefaultTenantID)+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error_description"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
			t.Fatalf("sign-in (claims %q): %d %s %v", claims, resp.StatusCode, body.Error, err)
		}
		return body.AccessToken
	}
	call := func(bearer string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, _ := call(signIn(""))
	h := resp.Header.Get("WWW-Authenticate")
	_, enc, ok := strings.Cut(h, `claims="`)
	claims, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(enc, `"`))
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(h, `error="insufficient_claims"`) || !ok || err != nil || !strings.Contains(string(claims), `"capolids"`) {
		t.Fatalf("first call: status %d, WWW-Authenticate %q (claims %q, %v)", resp.StatusCode, h, claims, err)
	}

	resp, got := call(signIn(string(claims)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(got, `"acrs":["c1"]`) {
		t.Fatalf("retry with the claims: status %d, %s", resp.StatusCode, got)
	}
}
