package webapp_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/webapp"
)

// TestCredentialRedeemer: the code travels in the request's
// AuthorizationCode, with ForceRefresh so that no cache answers for it.
func TestCredentialRedeemer(t *testing.T) {
	var got []sdk.TokenRequest
	acct := sdk.Account{HomeAccountID: "uid.utid", Username: "alice@contoso"}
	r := webapp.NewCredentialRedeemer(credFunc(func(_ context.Context, req sdk.TokenRequest) (sdk.Token, error) {
		got = append(got, req)
		return sdk.Token{AccessToken: sdk.NewSecret("at"), Account: acct}, nil
	}))
	c := webapp.Code{Code: sdk.NewSecret("the-code"), Verifier: sdk.NewSecret("v"), RedirectURI: "https://app/cb", Nonce: "n",
		Scopes: []string{"openid", "api://x/read"}}
	res, err := r.Redeem(t.Context(), c)
	if err != nil || res.Account != acct || res.Token.AccessToken.Reveal() != "at" {
		t.Fatalf("Redeem() = %+v, %v", res, err)
	}
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	back := got[0].AuthorizationCode
	if !got[0].ForceRefresh || !slices.Equal(got[0].Scopes, c.Scopes) || got[0].Account != "" || !got[0].UserAssertion.IsZero() ||
		back.Code.Reveal() != "the-code" || back.Verifier.Reveal() != "v" || back.Nonce != "n" || back.RedirectURI != "https://app/cb" {
		t.Errorf("request %+v (code %+v)", got, back)
	}

	refused := &sdk.Error{Kind: sdk.KindFailed, Flow: "authcode", Code: 54005}
	r = webapp.NewCredentialRedeemer(credFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) { return sdk.Token{}, refused }))
	if _, err := r.Redeem(t.Context(), c); !errors.Is(err, refused) {
		t.Errorf("error = %v, want the credential's", err)
	}
	r = webapp.NewCredentialRedeemer(credFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret("at")}, nil
	}))
	if _, err := r.Redeem(t.Context(), c); sdk.KindOf(err) != sdk.KindFailed || err == nil {
		t.Errorf("a token without an account: %v", err)
	}
}

// TestSignInThroughPlugin: a browser signs in to a web app whose
// Redeemer is a credhost profile running the real authcode plugin in
// web-app mode; the user's later tokens are silent, and a replayed code
// is refused with AADSTS54005 and the hint.
func TestSignInThroughPlugin(t *testing.T) {
	const appID, appSecret = "66666666-6666-4666-8666-666666666666", "web-app-secret-through-plugin"
	srv := emulatortest.Start(t, emulator.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appURL := "http://" + ln.Addr().String()
	if err := srv.AddApp(emulator.DefaultTenantID, emulator.App{ClientID: appID, Name: "web", Secrets: []string{appSecret},
		RedirectURIs: []string{appURL + "/callback"}}); err != nil {
		t.Fatal(err)
	}
	cred := webProfile(t, srv, appID, appSecret)

	var mu sync.Mutex
	var codes []webapp.Code
	var signedIn webapp.Result
	redeemer := webapp.NewCredentialRedeemer(cred)
	s, err := webapp.NewSignIn(webapp.SignInConfig{
		Authority: srv.Authority(emulator.DefaultTenantID), ClientID: appID, RedirectURI: appURL + "/callback",
		Scopes: []string{"https://graph.microsoft.com/User.Read"}, CookieKey: cookieKey,
		Redeemer: webapp.RedeemerFunc(func(ctx context.Context, c webapp.Code) (webapp.Result, error) {
			mu.Lock()
			codes = append(codes, c)
			mu.Unlock()
			return redeemer.Redeem(ctx, c)
		}),
		OnSignIn: func(w http.ResponseWriter, _ *http.Request, res webapp.Result) {
			signedIn = res
			_, _ = io.WriteString(w, "welcome")
		},
	}, &webapp.SignInOptions{OnError: func(w http.ResponseWriter, _ *http.Request, err error) { http.Error(w, err.Error(), 400) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", s.Start)
	mux.HandleFunc("/callback", s.Callback)
	app := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	app.Start()
	defer app.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: srv.HTTPClient().Transport}
	resp, err := browser.Get(appURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form:\n%s", page)
	}
	form := url.Values{"username": {emulator.DefaultUsername}, "password": {emulator.DefaultPassword}}
	for _, h := range hiddenIn.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err = browser.PostForm(srv.URL()+html.UnescapeString(m[1]), form)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "welcome" {
		t.Fatalf("callback answered %d: %s", resp.StatusCode, body)
	}
	home := signedIn.Account.HomeAccountID
	if signedIn.Account.Username != emulator.DefaultUsername || home == "" || srv.Count("token:authorization_code") != 1 {
		t.Fatalf("signed in as %+v", signedIn.Account)
	}

	before := srv.Count("token")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tok, err := cred.GetToken(ctx, sdk.TokenRequest{Scopes: []string{"https://graph.microsoft.com/User.Read"}, Account: home})
	if err != nil || tok.Account.HomeAccountID != home || srv.Count("token") != before {
		t.Fatalf("silent: %+v, %v (token requests %d → %d)", tok.Account, err, before, srv.Count("token"))
	}

	_, err = redeemer.Redeem(ctx, codes[0])
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || e.Code != 54005 || !strings.Contains(e.Hint, "single-use") || !strings.Contains(e.Hint, "new sign-in") {
		t.Fatalf("replayed code: %v", err)
	}
	if strings.Contains(err.Error(), codes[0].Code.Reveal()) || strings.Contains(err.Error(), codes[0].Verifier.Reveal()) {
		t.Errorf("the error shows the code or the verifier: %v", err)
	}
}

// webProfile returns an sdk client for a profile whose chain is
// ["authcode"] in web-app mode, running the real plugin binary.
func webProfile(t *testing.T, srv *emulator.Server, appID, appSecret string) *client.Client {
	t.Helper()
	bin := testbin.Build(t, "./plugins/authcode", "credhost-plugin-authcode")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
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
[cache]
backend = "memory"
`, srv.Authority(emulator.DefaultTenantID), appID)
	file, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "WEB_APP_SECRET" {
			return appSecret
		}
		return ""
	}
	c, err := client.New(t.Context(), file, "web", &client.Options{PluginDirs: []string{filepath.Dir(bin)}, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
