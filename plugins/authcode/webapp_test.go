package main

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/msalcache"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/plugintest"
	"github.com/credhost/credhost/sdk/webapp"
)

const (
	webAppID     = "66666666-6666-4666-8666-666666666666"
	webAppSecret = "web-app-secret-canary-5f1c"
	// The redirect URI is registered but never served: the tests read the
	// code from the emulator's redirect instead of following it.
	webRedirect = "https://app.example/callback"
	graphRead   = "https://graph.microsoft.com/User.Read"
	daveUser    = "dave@contoso.onmicrosoft.com"
	davePass    = "dave-password"
	codeCounter = "token:authorization_code"
)

// webWorld is the emulator with a web app registered, and an sdk client
// whose profile "web" runs the real credhost-plugin-authcode binary in
// web-app mode, with the host's store in memory where the test can read
// it.
type webWorld struct {
	srv   *emulator.Server
	cred  *client.Client
	store *sdk.MemoryCache
	logs  *webLogs
}

func newWebWorld(t *testing.T) *webWorld {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: daveUser, Password: davePass})
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: webAppID, Name: "web app",
		Secrets: []string{webAppSecret}, RedirectURIs: []string{webRedirect}})
	w := &webWorld{srv: emulatortest.Start(t, cfg), store: &sdk.MemoryCache{}, logs: &webLogs{}}
	bin := testbin.Build(t, "./plugins/authcode", "credhost-plugin-authcode")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), w.srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[profiles.web]
authority = %q
client_id = %q
chain = ["authcode"]
ca_file = "ca.pem"
[profiles.web.authcode]
mode = "webapp"
client_secret = "env:WEB_APP_SECRET"
`, w.srv.Authority(emulator.DefaultTenantID), webAppID)
	file, err := client.ParseConfig(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "WEB_APP_SECRET" {
			return webAppSecret
		}
		return ""
	}
	w.cred, err = client.New(t.Context(), file, "web", &client.Options{PluginDirs: []string{filepath.Dir(bin)}, Getenv: getenv, Store: w.store,
		Log: zerolog.New(w.logs).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.cred.Close() })
	return w
}

// signIn is a finished browser sign-in: the code the emulator sent to
// the redirect URI and what the web app kept to redeem it.
type signIn struct {
	code     webapp.Code
	verifier string
}

var (
	signInForm   = regexp.MustCompile(`<form id="f" method="post" action="([^"]*)"`)
	signInHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signInAs does what a web app's sign-in page and the user's browser do:
// an authorization request with PKCE, state and nonce for redirect, the
// sign-in form, and the redirect carrying the code, which is not
// followed.
func signInAs(t *testing.T, srv *emulator.Server, user, password, redirect string) webapp.Code {
	t.Helper()
	verifier, nonce := randomString(32), randomString(16)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirect}, "response_mode": {"query"},
		"scope": {"openid profile offline_access " + graphRead}, "state": {"st"}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	browser := &http.Client{Transport: srv.HTTPClient().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(srv.Authority(emulator.DefaultTenantID) + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	m := signInForm.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form (%d):\n%s", resp.StatusCode, page)
	}
	form := url.Values{"username": {user}, "password": {password}}
	for _, h := range signInHidden.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err = browser.PostForm(srv.URL()+html.UnescapeString(m[1]), form)
	if err != nil {
		t.Fatal(err)
	}
	_ = readAll(t, resp)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return webapp.Code{Code: sdk.NewSecret(loc.Query().Get("code")), Verifier: sdk.NewSecret(verifier), RedirectURI: redirect,
		Scopes: []string{"openid", "profile", "offline_access", graphRead}, Nonce: nonce}
}

// redeem sends c through the host to the plugin, as
// webapp.CredentialRedeemer does.
func (w *webWorld) redeem(t *testing.T, c webapp.Code) (sdk.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return w.cred.GetToken(ctx, sdk.TokenRequest{Scopes: c.Scopes, AuthorizationCode: c.AuthorizationCode(), ForceRefresh: true})
}

func (w *webWorld) silent(t *testing.T, req sdk.TokenRequest) (sdk.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return w.cred.GetToken(ctx, req)
}

// partitions returns the host's flow-state blobs of the profile, by
// sub-key (the part after the last "|").
func (w *webWorld) partitions(t *testing.T) map[string][]byte {
	t.Helper()
	keys, err := w.store.Keys(t.Context(), "state|web|authcode|")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		if strings.HasSuffix(k, sdk.SignInSuffix) {
			continue // the sign-in records beside the partitions
		}
		b, err := w.store.Load(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[k[strings.LastIndex(k, "|")+1:]] = b.Data
	}
	return out
}

// signInRecord returns the sign-in record of sub-key home (zero if none).
func (w *webWorld) signInRecord(t *testing.T, home string) sdk.SignInRecord {
	t.Helper()
	keys, err := w.store.Keys(t.Context(), "state|web|authcode|")
	if err != nil {
		t.Fatal(err)
	}
	var rec sdk.SignInRecord
	for _, k := range keys {
		if strings.HasSuffix(k, "|"+home+sdk.SignInSuffix) {
			b, err := w.store.Load(t.Context(), k)
			if err != nil || json.Unmarshal(b.Data, &rec) != nil {
				t.Fatalf("sign-in record %s: %s, %v", k, b.Data, err)
			}
		}
	}
	return rec
}

// storedSecrets returns every token secret in the host's store: MSAL's
// access, refresh and ID tokens, and the L1's access tokens.
func (w *webWorld) storedSecrets(t *testing.T) []string {
	t.Helper()
	keys, _ := w.store.Keys(t.Context(), "")
	var out []string
	kinds := map[string]bool{}
	for _, k := range keys {
		b, _ := w.store.Load(t.Context(), k)
		var top map[string]json.RawMessage
		if json.Unmarshal(b.Data, &top) != nil {
			continue
		}
		for _, section := range []string{"AccessToken", "RefreshToken", "IdToken"} {
			var entries map[string]struct {
				Secret string `json:"secret"`
			}
			_ = json.Unmarshal(top[section], &entries)
			for _, e := range entries {
				out = append(out, e.Secret)
				kinds[section] = true
			}
		}
		var l1 struct {
			Token struct {
				AccessToken string `json:"access_token"`
			} `json:"token"`
		}
		if json.Unmarshal(b.Data, &l1) == nil && l1.Token.AccessToken != "" {
			out = append(out, l1.Token.AccessToken)
			kinds["L1"] = true
		}
	}
	for _, k := range []string{"AccessToken", "RefreshToken", "IdToken", "L1"} {
		if !kinds[k] {
			t.Fatalf("found no %s in the store to search the logs for", k)
		}
	}
	return out
}

// wantError checks err's kind, AADSTS code and flow, and that its hint
// holds every one of hints.
func wantError(t *testing.T, err error, kind sdk.Kind, code int, hints ...string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || sdk.KindOf(err) != kind || e.Kind != kind || e.Code != code || e.Flow != flowName {
		t.Fatalf("error = %v; want %v AADSTS%d from %s", err, kind, code, flowName)
	}
	for _, h := range hints {
		if !strings.Contains(e.Hint, h) {
			t.Errorf("hint %q does not say %q", e.Hint, h)
		}
	}
	return e
}

// TestWebAppProcess: through the host and a real plugin process, a code
// redeemed once fills the user's cache partition and later calls for the
// account are silent; a second redemption, a wrong redirect URI, a wrong
// verifier or nonce fail clearly; no secret reaches the logs or errors.
func TestWebAppProcess(t *testing.T) {
	w := newWebWorld(t)
	secrets := []string{webAppSecret}
	var errs []error
	keep := func(c webapp.Code) webapp.Code {
		secrets = append(secrets, c.Code.Reveal(), c.Verifier.Reveal())
		return c
	}

	alice := keep(signInAs(t, w.srv, emulator.DefaultUsername, emulator.DefaultPassword, webRedirect))
	tok, err := w.redeem(t, alice)
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	home := tok.Account.HomeAccountID
	if c, err := w.srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil || c["upn"] != emulator.DefaultUsername ||
		c["appid"] != webAppID || c["aud"] != "https://graph.microsoft.com" || tok.Account.Username != emulator.DefaultUsername || home == "" {
		t.Fatalf("redeemed token: claims %v (%v), account %+v", c, err, tok.Account)
	}
	if n := w.srv.Count(codeCounter); n != 1 {
		t.Fatalf("code redemptions at the IdP = %d, want 1", n)
	}
	parts := w.partitions(t)
	if accts, refresh := msalcache.Accounts(parts[home]); len(parts) != 1 || len(accts) != 1 || accts[0].HomeAccountID != home || !refresh {
		t.Fatalf("partitions %v: want one, of sub-key %q, holding alice and a refresh token", keysOf(parts), home)
	}
	if rec := w.signInRecord(t, home); len(rec.Accounts) != 1 || rec.Accounts[0].Username != emulator.DefaultUsername || !rec.CanRefresh {
		t.Fatalf("sign-in record of alice: %+v", rec)
	}

	t.Run("silent for the account", func(t *testing.T) {
		before := w.srv.Count("token")
		got, err := w.silent(t, sdk.TokenRequest{Scopes: []string{graphRead}, Account: home})
		if err != nil {
			t.Fatal(err)
		}
		// The host's L1 holds the redemption's token under the code's
		// hash only, so this answer came from the plugin and the user's
		// MSAL cache, with no request to the IdP.
		if n := w.srv.Count("token"); n != before || got.AccessToken.Reveal() != tok.AccessToken.Reveal() || got.Account.HomeAccountID != home {
			t.Errorf("token requests %d → %d; same token %v", before, n, got.AccessToken.Reveal() == tok.AccessToken.Reveal())
		}
		// Plugin logs come through its stderr, a little after its answer.
		if !waitFor(func() bool { return logLine(w.logs.String(), `"cache":true`, `"message":"silent token"`) }) {
			t.Errorf("the plugin did not log a silent cache hit:\n%s", w.logs)
		}
	})

	t.Run("force refresh uses the refresh token", func(t *testing.T) {
		got, err := w.silent(t, sdk.TokenRequest{Scopes: []string{graphRead}, Account: home, ForceRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, got.AccessToken.Reveal())
		if got.AccessToken.Reveal() == tok.AccessToken.Reveal() || w.srv.Count("token:refresh_token") != 1 || w.srv.Count(codeCounter) != 1 {
			t.Errorf("refresh grants %d, code grants %d", w.srv.Count("token:refresh_token"), w.srv.Count(codeCounter))
		}
	})

	t.Run("second redemption", func(t *testing.T) {
		_, err := w.redeem(t, alice)
		errs = append(errs, err)
		wantError(t, err, sdk.KindFailed, 54005, "single-use", "do not retry", "new sign-in")
		if n := w.srv.Count(codeCounter); n != 2 {
			t.Errorf("code redemptions = %d, want 2: the replay must reach the IdP", n)
		}
		// The failure left the user's cached sign-in alone.
		if _, err := w.silent(t, sdk.TokenRequest{Scopes: []string{graphRead}, Account: home}); err != nil {
			t.Errorf("silent after the failed replay: %v", err)
		}
	})

	t.Run("wrong redirect URI", func(t *testing.T) {
		c := keep(signInAs(t, w.srv, emulator.DefaultUsername, emulator.DefaultPassword, webRedirect))
		c.RedirectURI = "https://app.example/other"
		_, err := w.redeem(t, c)
		errs = append(errs, err)
		wantError(t, err, sdk.KindFailed, 70000, "redirect URI must be exactly")
		if !strings.Contains(err.Error(), "redirect_uri does not match") {
			t.Errorf("error does not say what was wrong: %v", err)
		}
	})

	t.Run("wrong verifier", func(t *testing.T) {
		c := keep(signInAs(t, w.srv, emulator.DefaultUsername, emulator.DefaultPassword, webRedirect))
		c.Verifier = sdk.NewSecret(randomString(32))
		_, err := w.redeem(t, c)
		errs = append(errs, err)
		wantError(t, err, sdk.KindFailed, 50148, "code_verifier")
	})

	t.Run("nonce mismatch caches nothing", func(t *testing.T) {
		c := keep(signInAs(t, w.srv, daveUser, davePass, webRedirect))
		c.Nonce = "another-sign-in"
		_, err := w.redeem(t, c)
		errs = append(errs, err)
		if e := wantError(t, err, sdk.KindFailed, 0); !strings.Contains(e.Err.Error(), "nonce") {
			t.Errorf("error = %v", err)
		}
		if parts := w.partitions(t); len(parts) != 1 {
			t.Errorf("partitions after a refused nonce: %v", keysOf(parts))
		}
	})

	t.Run("redemption without ForceRefresh", func(t *testing.T) {
		c := keep(signInAs(t, w.srv, emulator.DefaultUsername, emulator.DefaultPassword, webRedirect))
		before := w.srv.Count("token")
		_, err := w.silent(t, sdk.TokenRequest{Scopes: c.Scopes, AuthorizationCode: c.AuthorizationCode()})
		errs = append(errs, err)
		if e := wantError(t, err, sdk.KindFailed, 0, "CredentialRedeemer"); !strings.Contains(e.Err.Error(), "ForceRefresh") || w.srv.Count("token") != before {
			t.Errorf("error = %v, token requests %d → %d", err, before, w.srv.Count("token"))
		}
	})

	t.Run("refusals of silent calls", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  sdk.TokenRequest
			kind sdk.Kind
		}{
			{"account never signed in", sdk.TokenRequest{Account: "00000000-0000-4000-8000-00000000dead." + emulator.DefaultTenantID}, sdk.KindInteractionRequired},
			{"username instead of home account id", sdk.TokenRequest{Account: emulator.DefaultUsername}, sdk.KindFailed},
			{"no account", sdk.TokenRequest{}, sdk.KindFailed},
			{"an on-behalf-of assertion", sdk.TokenRequest{UserAssertion: sdk.NewSecret("eyJ.eyJ.sig"), ForceRefresh: true}, sdk.KindFailed},
			{"claims challenge", sdk.TokenRequest{Account: home, Claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`}, sdk.KindInteractionRequired},
		} {
			before := w.srv.Count("token")
			tc.req.Scopes = []string{graphRead}
			_, err := w.silent(t, tc.req)
			errs = append(errs, err)
			if e := wantError(t, err, tc.kind, 0); e.Hint == "" || w.srv.Count("token") != before {
				t.Errorf("%s: %v (token requests %d → %d)", tc.name, err, before, w.srv.Count("token"))
			}
		}
	})

	t.Run("a second user gets a partition of their own", func(t *testing.T) {
		dave := keep(signInAs(t, w.srv, daveUser, davePass, webRedirect))
		tok, err := w.redeem(t, dave)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok.AccessToken.Reveal())
		parts := w.partitions(t)
		accts, _ := msalcache.Accounts(parts[tok.Account.HomeAccountID])
		if len(parts) != 2 || len(accts) != 1 || accts[0].Username != daveUser {
			t.Fatalf("partitions %v; dave's holds %+v", keysOf(parts), accts)
		}
		before := w.srv.Count("token")
		got, err := w.silent(t, sdk.TokenRequest{Scopes: []string{graphRead}, Account: tok.Account.HomeAccountID})
		if err != nil || got.Account.Username != daveUser || got.AccessToken.Reveal() != tok.AccessToken.Reveal() || w.srv.Count("token") != before {
			t.Errorf("dave silently: %+v, %v", got.Account, err)
		}
	})

	secrets = append(secrets, w.storedSecrets(t)...)
	// The last plugin log lines may still be on their way.
	waitFor(func() bool {
		l := w.logs.String()
		return strings.Count(l, `"message":"silent token"`)+strings.Count(l, `"message":"code redeemed`) >= strings.Count(l, "flow returned a token")
	})
	text := w.logs.String()
	for _, err := range errs {
		if err != nil {
			text += "\n" + err.Error() + fmt.Sprintf(" %+v %#v", err, err)
		}
	}
	if !strings.Contains(text, `"flow":"authcode"`) || !strings.Contains(text, "code redeemed") {
		t.Fatalf("no plugin logs at debug level:\n%s", text)
	}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q too short to search for", s)
		}
		if strings.Contains(text, s) {
			t.Errorf("a secret (%.6s…) appears in logs or errors", s)
		}
	}
}

// TestWebAppUsersConcurrently: the flow in-process, with nothing between
// it and the calls (no host token cache): silent calls for two users at
// once each get their own user's token from their own partition, with no
// request to the IdP.
func TestWebAppUsersConcurrently(t *testing.T) {
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: daveUser, Password: davePass})
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: webAppID, Secrets: []string{webAppSecret}, RedirectURIs: []string{webRedirect}})
	srv := emulatortest.Start(t, cfg)
	f := &flow{newHTTP: httpclient.New, env: environ{goos: "linux", getenv: func(string) string { return "" }}}
	client := plugintest.Connect(t, f, zerolog.Nop())
	if err := client.Configure(t.Context(), sdk.FlowConfig{Profile: "p", Authority: srv.Authority(emulator.DefaultTenantID), ClientID: webAppID,
		Options: map[string]string{optMode: modeWebApp}, Secrets: map[string]sdk.Secret{"client_secret": sdk.NewSecret(webAppSecret)},
		CACertificates: srv.CACertPEM()}, &sdk.MemoryCache{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	users := map[string]string{} // home account id → username
	for _, u := range [][2]string{{emulator.DefaultUsername, emulator.DefaultPassword}, {daveUser, davePass}} {
		c := signInAs(t, srv, u[0], u[1], webRedirect)
		tok, err := client.GetToken(ctx, sdk.TokenRequest{Scopes: c.Scopes, AuthorizationCode: c.AuthorizationCode(), ForceRefresh: true}, sdk.NoUI)
		if err != nil {
			t.Fatal(err)
		}
		users[tok.Account.HomeAccountID] = u[0]
	}
	before := srv.Count("token")
	var wg sync.WaitGroup
	for range 8 {
		for home, name := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := client.GetToken(ctx, sdk.TokenRequest{Scopes: []string{graphRead}, Account: home}, sdk.NoUI)
				if err != nil || tok.Account.Username != name {
					t.Errorf("silent for %s: %+v, %v", name, tok.Account, err)
					return
				}
				if c, err := srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil || c["upn"] != name {
					t.Errorf("silent for %s: a token of %v (%v)", name, c["upn"], err)
				}
			}()
		}
	}
	wg.Wait()
	if n := srv.Count("token"); n != before {
		t.Errorf("token requests %d → %d for cached users", before, n)
	}
	if n := f.state.web.users.len(); n != 2 {
		t.Errorf("MSAL clients kept = %d, want one per user", n)
	}
}

// TestUserClientsBound: the per-user MSAL clients are bounded, the least
// recently used going first.
func TestUserClientsBound(t *testing.T) {
	built := 0
	u := &userClients{max: 2, m: map[string]*list.Element{}, order: list.New(),
		build: func(string) (*confidential.Client, error) { built++; return &confidential.Client{}, nil }}
	for _, home := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := u.get(home); err != nil {
			t.Fatal(err)
		}
	}
	// a, b built; a reused; c built (b evicted); a reused; b built again.
	if built != 4 || u.len() != 2 {
		t.Errorf("built %d clients, keeping %d", built, u.len())
	}
}

// TestWebAppConfigure: the web-app mode takes exactly one client
// credential and refuses the interactive mode's settings; the
// interactive mode refuses client credentials. No network.
func TestWebAppConfigure(t *testing.T) {
	srv := emulatortest.StartOptions(t, emulator.Options{})
	f := &flow{newHTTP: httpclient.New, env: environ{goos: "linux", getenv: func(string) string { return "" }}}
	client := plugintest.Connect(t, f, zerolog.Nop())
	configure := func(options map[string]string, secrets map[string]sdk.Secret) error {
		return client.Configure(t.Context(), sdk.FlowConfig{Profile: "p", Authority: srv.Authority(emulator.DefaultTenantID),
			ClientID: webAppID, Options: options, Secrets: secrets, CACertificates: srv.CACertPEM()}, &sdk.MemoryCache{})
	}
	secret := map[string]sdk.Secret{"client_secret": sdk.NewSecret(webAppSecret)}
	for _, tc := range []struct {
		name    string
		options map[string]string
		secrets map[string]sdk.Secret
		fields  []string // nil: valid
	}{
		{"secret", map[string]string{optMode: modeWebApp}, secret, nil},
		{"assertion command", map[string]string{optMode: modeWebApp, "client_assertion_command": "echo x"}, nil, nil},
		{"no credential", map[string]string{optMode: modeWebApp}, nil, []string{"client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}},
		{"two credentials", map[string]string{optMode: modeWebApp, "federated_token_file": "/t"}, secret, []string{"client_secret", "federated_token_file"}},
		{"interactive settings", map[string]string{optMode: modeWebApp, optRedirectPort: "8400", "login_hint": "a@b"}, secret, []string{optRedirectPort, "login_hint"}},
		{"unknown mode", map[string]string{optMode: "daemon"}, secret, []string{optMode}},
		{"credential without the mode", nil, secret, []string{"client_secret"}},
		{"plain credential without the mode", map[string]string{"client_assertion_command": "echo x"}, nil, []string{"client_assertion_command"}},
	} {
		err := configure(tc.options, tc.secrets)
		var ce *sdk.ConfigError
		var fields []string
		if errors.As(err, &ce) {
			for _, fe := range ce.Fields {
				fields = append(fields, fe.Field)
			}
		}
		if (tc.fields == nil) != (err == nil) || !sameSet(fields, tc.fields) {
			t.Errorf("%s: %v; want problems with %v", tc.name, err, tc.fields)
		}
		if err != nil && strings.Contains(err.Error(), webAppSecret) {
			t.Errorf("%s: the error shows the secret", tc.name)
		}
	}
	d, err := client.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"client_secret", "certificate", "certificate_password", "client_assertion"} {
		if o, ok := d.Option(name); !ok || !o.Secret {
			t.Errorf("Describe: %s = %+v, want a secret option", name, o)
		}
	}
	if o, ok := d.Option(optMode); !ok || o.Secret {
		t.Errorf("Describe: mode = %+v", o)
	}
	// A web app needs no browser: Check says it can run on a headless
	// server.
	if err := configure(map[string]string{optMode: modeWebApp}, secret); err != nil {
		t.Fatal(err)
	}
	if known, problem, err := client.Check(t.Context(), true); err != nil || !known || problem != nil {
		t.Errorf("Check = %v, %v, %v", known, problem, err)
	}
	if n := srv.Count("discovery"); n != 0 {
		t.Errorf("Configure reached the emulator")
	}
}

// waitFor polls cond for up to 10s; it asserts an end state, not how
// fast it came.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// logLine reports whether one line of logs holds every one of parts.
func logLine(logs string, parts ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// webLogs is a log sink for loggers on many goroutines.
type webLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *webLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *webLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
