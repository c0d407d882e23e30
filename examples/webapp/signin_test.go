package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk/client"
)

const (
	webAppID     = "66666666-6666-4666-8666-666666666666"
	webAppSecret = "example-web-app-secret-7d2a"
)

// The API's scope, which the web app asks for at sign-in and silently
// afterwards; its tokens are what the API exchanges on-behalf-of.
var apiScope = apiAudience + "/access_as_user"

var (
	signInForm   = regexp.MustCompile(`<form id="f" method="post" action="([^"]*)"`)
	signInHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// webInstance serves the example's web-app routes with its own host and
// authcode plugin process (mode = "webapp") at redirect's origin, calling
// the API at apiURL. It returns the server and the host's store.
func (w *world) webInstance(t *testing.T, ln net.Listener, redirect, apiURL string, logs io.Writer) (*httptest.Server, *core.MemoryCache) {
	t.Helper()
	body := fmt.Sprintf(`[profiles.web]
authority = %q
client_id = %q
chain = ["authcode"]
ca_file = "ca.pem"
[profiles.web.authcode]
mode = "webapp"
client_secret = "env:WEB_APP_SECRET"
`, w.srv.Authority(emulator.DefaultTenantID), webAppID)
	file, err := config.Parse(filepath.Join(w.dir, "web.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "WEB_APP_SECRET" {
			return webAppSecret
		}
		return ""
	}
	store := &core.MemoryCache{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	cred, err := client.New(t.Context(), file, "web", &client.Options{PluginDirs: []string{w.pluginDir}, Getenv: getenv, Log: log, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cred.Close() })
	mux := http.NewServeMux()
	if err := addWebApp(mux, webAppConfig{Authority: w.srv.Authority(emulator.DefaultTenantID), ClientID: webAppID, RedirectURI: redirect,
		CookieKey: []byte("an example key of 32 bytes, or more"), Cred: cred, APIURL: apiURL, APIScopes: []string{apiScope},
		HTTP: http.DefaultClient, Log: log}); err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, store
}

// browser is a real HTTP client with a cookie jar that trusts the
// emulator, recording the redirects and cookies it is sent.
type browser struct {
	*http.Client
	mu        sync.Mutex
	locations []string
	cookies   []*http.Cookie
}

func newBrowser(w *world) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{}
	b.Client = &http.Client{Jar: jar, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := w.srv.HTTPClient().Transport.RoundTrip(r)
		if err == nil {
			b.mu.Lock()
			if l := resp.Header.Get("Location"); l != "" {
				b.locations = append(b.locations, l)
			}
			b.cookies = append(b.cookies, resp.Cookies()...)
			b.mu.Unlock()
		}
		return resp, err
	})}
	return b
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// get fetches url and returns the final status and body.
func (b *browser) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := b.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// signIn goes from the app's /login through the emulator's sign-in page
// back to the app, and returns the final status and body.
func (b *browser) signIn(t *testing.T, w *world, appURL, user, password string) (int, string) {
	t.Helper()
	status, page := b.get(t, appURL+"/login")
	m := signInForm.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form (%d):\n%s", status, page)
	}
	form := url.Values{"username": {user}, "password": {password}}
	for _, h := range signInHidden.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err := b.PostForm(w.srv.URL()+html.UnescapeString(m[1]), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// secrets returns the codes and PKCE verifiers the browser carried.
func (b *browser) secrets(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.locations {
		if u, err := url.Parse(l); err == nil && u.Query().Get("code") != "" {
			out = append(out, u.Query().Get("code"))
		}
	}
	for _, c := range b.cookies {
		payload, _, _ := strings.Cut(c.Value, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(payload)
		var st struct {
			Verifier string `json:"v"`
		}
		if json.Unmarshal(raw, &st) == nil && st.Verifier != "" {
			out = append(out, st.Verifier)
		}
	}
	if len(out) < 2 {
		t.Fatalf("recorded no code and verifier: %v", out)
	}
	return out
}

// TestSignInExample drives the example with a real HTTP client and a
// cookie jar: the sign-in page, the callback (the code redeemed through
// the authcode plugin, the user's tokens cached), then /hello: a token
// for the API got silently for the user and the API's on-behalf-of call
// to the downstream API.
func TestSignInExample(t *testing.T) {
	w := newWorld(t)
	testbin.Build(t, "./plugins/authcode", "credhost-plugin-authcode") // beside the obo plugin, in w.pluginDir
	var logs syncbuf.Buffer
	api := w.instance(t, "[cache]\nbackend = \"memory\"\n", nil, &logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appURL := "http://" + ln.Addr().String()
	if err := w.srv.AddApp(emulator.DefaultTenantID, emulator.App{ClientID: webAppID, Name: "example web app", Secrets: []string{webAppSecret},
		RedirectURIs: []string{appURL + "/callback"}}); err != nil {
		t.Fatal(err)
	}
	_, store := w.webInstance(t, ln, appURL+"/callback", api.URL+"/me", &logs)
	b := newBrowser(w)

	if status, page := b.get(t, appURL+"/"); status != 200 || !strings.Contains(page, `href="/login"`) {
		t.Fatalf("home page before sign-in: %d %s", status, page)
	}
	status, page := b.signIn(t, w, appURL, emulator.DefaultUsername, emulator.DefaultPassword)
	if status != 200 || !strings.Contains(page, "Signed in as "+emulator.DefaultUsername) {
		t.Fatalf("after the callback: %d %s\nlogs:\n%s", status, page, logs.String())
	}
	if n := w.srv.Count("token:authorization_code"); n != 1 {
		t.Fatalf("code redemptions = %d, want 1", n)
	}

	status, body := b.get(t, appURL+"/hello")
	var me map[string]any
	if err := json.Unmarshal([]byte(body), &me); status != 200 || err != nil || me["upn"] != emulator.DefaultUsername ||
		me["appid"] != emulator.DefaultClientID || me["scp"] != "User.Read" {
		t.Fatalf("/hello = %d %s", status, body)
	}
	// The API token came from the sign-in's cache: no refresh, no second
	// redemption; the API exchanged it once.
	if w.srv.Count("token:refresh_token") != 0 || w.srv.Count("token:authorization_code") != 1 || w.srv.Count(oboCounter) != 1 {
		t.Errorf("refresh %d, code %d, obo %d requests", w.srv.Count("token:refresh_token"), w.srv.Count("token:authorization_code"), w.srv.Count(oboCounter))
	}
	before := w.srv.Count("token")
	if status, again := b.get(t, appURL+"/hello"); status != 200 || !strings.Contains(again, emulator.DefaultUsername) || w.srv.Count("token") != before {
		t.Errorf("/hello again = %d %s, token requests %d → %d", status, again, before, w.srv.Count("token"))
	}
	if w.calls.Load() != 2 {
		t.Errorf("downstream calls = %d, want 2", w.calls.Load())
	}

	t.Run("without a session", func(t *testing.T) {
		anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := anon.Get(appURL + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("/hello without a session: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("unregistered redirect URI", func(t *testing.T) {
		// A web app configured with a redirect URI the app registration
		// lacks: Entra ID refuses the sign-in on its own page, saying
		// why, and never sends the browser (or a code) there.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		other := "http://" + ln.Addr().String()
		w.webInstance(t, ln, other+"/callback", api.URL+"/me", &logs)
		status, page := newBrowser(w).get(t, other+"/login")
		if status != http.StatusBadRequest || !strings.Contains(page, "AADSTS50011") || !strings.Contains(page, "redirect URI") {
			t.Errorf("sign-in with an unregistered redirect URI: %d\n%s", status, page)
		}
	})

	secrets := append(b.secrets(t), webAppSecret, emulator.DefaultClientSecret)
	keys, _ := store.Keys(t.Context(), "")
	for _, k := range keys {
		blob, _ := store.Load(t.Context(), k)
		secrets = append(secrets, tokenSecrets(blob.Data)...)
	}
	if len(secrets) < 6 {
		t.Fatalf("too few secrets to look for: %d", len(secrets))
	}
	text := logs.String()
	if !strings.Contains(text, "code redeemed") {
		t.Fatalf("no plugin logs at debug level:\n%s", text)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the logs hold a secret (%.6s…)", s)
		}
	}
}

// tokenSecrets returns the token values in a stored MSAL cache blob (the
// "secret" of its access, refresh and ID tokens) or L1 entry.
func tokenSecrets(data []byte) []string {
	var out []string
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil
	}
	for _, section := range []string{"AccessToken", "RefreshToken", "IdToken"} {
		var entries map[string]struct {
			Secret string `json:"secret"`
		}
		_ = json.Unmarshal(top[section], &entries)
		for _, e := range entries {
			out = append(out, e.Secret)
		}
	}
	var l1 struct {
		Token struct {
			AccessToken string `json:"access_token"`
		} `json:"token"`
	}
	if json.Unmarshal(data, &l1) == nil && l1.Token.AccessToken != "" {
		out = append(out, l1.Token.AccessToken)
	}
	return out
}
