package webapp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/webapp"
)

var cookieKey = []byte("0123456789abcdef0123456789abcdef")

// harness is a SignIn with a recording redeemer and an adjustable clock.
type harness struct {
	s *webapp.SignIn

	mu      sync.Mutex
	now     time.Time
	codes   []webapp.Code
	errs    []error
	signIns []webapp.Result
}

func newHarness(t *testing.T, redirect string, key []byte) *harness {
	t.Helper()
	h := &harness{now: time.Now()}
	s, err := webapp.NewSignIn(webapp.SignInConfig{
		Authority: "https://login.example/tenant", ClientID: "web-app", RedirectURI: redirect,
		Scopes: []string{"https://graph.microsoft.com/User.Read"}, CookieKey: key,
		Redeemer: webapp.RedeemerFunc(func(_ context.Context, c webapp.Code) (webapp.Result, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.codes = append(h.codes, c)
			return webapp.Result{Account: sdk.Account{Username: "alice"}}, nil
		}),
		OnSignIn: func(w http.ResponseWriter, _ *http.Request, res webapp.Result) {
			h.mu.Lock()
			h.signIns = append(h.signIns, res)
			h.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		},
	}, &webapp.SignInOptions{
		Now: func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now },
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
			http.Error(w, "no", http.StatusBadRequest)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

// start runs Start and returns the authorize URL's parameters and the
// cookie set.
func (h *harness) start(t *testing.T) (url.Values, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	h.s.Start(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	if w.Code != http.StatusFound {
		t.Fatalf("Start: %d", w.Code)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Host != "login.example" || loc.Path != "/tenant/oauth2/v2.0/authorize" {
		t.Fatalf("Location %v", loc)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	return loc.Query(), cookies[0]
}

// callback runs Callback with query and cookie c (if not nil) and returns
// the response.
func (h *harness) callback(q url.Values, c *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/callback?"+q.Encode(), nil)
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.s.Callback(w, r)
	return w
}

func (h *harness) lastErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) == 0 {
		return nil
	}
	return h.errs[len(h.errs)-1]
}

func TestSignInStartAndCallback(t *testing.T) {
	h := newHarness(t, "https://app.example/callback", cookieKey)
	q, c := h.start(t)
	if c.Name != "__Host-credhost-signin" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.MaxAge <= 0 || c.MaxAge > 600 {
		t.Errorf("cookie %+v", c)
	}
	for k, v := range map[string]string{"client_id": "web-app", "response_type": "code", "redirect_uri": "https://app.example/callback",
		"response_mode": "query", "code_challenge_method": "S256", "scope": "openid profile offline_access https://graph.microsoft.com/User.Read"} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 20 || len(q.Get("nonce")) < 20 || strings.Contains(c.Value, q.Get("code_challenge")) {
		t.Errorf("state %q nonce %q", q.Get("state"), q.Get("nonce"))
	}

	w := h.callback(url.Values{"code": {"the-code"}, "state": {q.Get("state")}}, c)
	if w.Code != http.StatusNoContent || len(h.codes) != 1 || len(h.signIns) != 1 {
		t.Fatalf("callback %d, errors %v", w.Code, h.errs)
	}
	got := h.codes[0]
	sum := sha256.Sum256([]byte(got.Verifier.Reveal()))
	if got.Code.Reveal() != "the-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") ||
		got.Nonce != q.Get("nonce") || got.RedirectURI != "https://app.example/callback" {
		t.Errorf("redeemed %+v", got)
	}
	if cl := w.Result().Cookies(); len(cl) != 1 || cl[0].MaxAge >= 0 {
		t.Errorf("the callback did not clear the cookie: %v", cl)
	}

	// Plain http (development): no __Host- prefix, not Secure.
	if _, c := newHarness(t, "http://localhost:8080/cb", cookieKey).start(t); c.Name != "credhost-signin" || c.Secure || !c.HttpOnly {
		t.Errorf("http cookie %+v", c)
	}
}

func TestSignInRefusals(t *testing.T) {
	h := newHarness(t, "https://app.example/callback", cookieKey)
	other := newHarness(t, "https://app.example/callback", []byte("another-key-another-key-another-key"))
	tamper := func(c *http.Cookie, f func(st map[string]any)) *http.Cookie {
		payload, sig, _ := strings.Cut(c.Value, ".")
		b, _ := base64.RawURLEncoding.DecodeString(payload)
		var st map[string]any
		_ = json.Unmarshal(b, &st)
		f(st)
		b, _ = json.Marshal(st)
		return &http.Cookie{Name: c.Name, Value: base64.RawURLEncoding.EncodeToString(b) + "." + sig}
	}
	tests := []struct {
		name string
		run  func(t *testing.T) *httptest.ResponseRecorder
		want error
	}{
		{name: "no cookie", want: webapp.ErrNoSignIn, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, _ := h.start(t)
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, nil)
		}},
		{name: "cookie tampered with", want: webapp.ErrNoSignIn, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, c := h.start(t)
			forged := tamper(c, func(st map[string]any) { st["e"] = time.Now().Add(24 * time.Hour).Unix() })
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, forged)
		}},
		{name: "cookie signed with another key", want: webapp.ErrNoSignIn, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, c := other.start(t)
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, c)
		}},
		{name: "garbage cookie", want: webapp.ErrNoSignIn, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, c := h.start(t)
			c.Value = "not-a-cookie"
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, c)
		}},
		{name: "state mismatch", want: webapp.ErrStateMismatch, run: func(t *testing.T) *httptest.ResponseRecorder {
			_, c := h.start(t)
			return h.callback(url.Values{"code": {"c"}, "state": {"attacker-state"}}, c)
		}},
		{name: "another browser's state", want: webapp.ErrStateMismatch, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, _ := h.start(t)
			_, mine := h.start(t)
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, mine)
		}},
		{name: "expired cookie", want: webapp.ErrSignInExpired, run: func(t *testing.T) *httptest.ResponseRecorder {
			q, c := h.start(t)
			h.mu.Lock()
			h.now = h.now.Add(webapp.DefaultSignInLifetime + time.Second)
			h.mu.Unlock()
			return h.callback(url.Values{"code": {"c"}, "state": {q.Get("state")}}, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.codes)
			w := tt.run(t)
			if w.Code != http.StatusBadRequest || !errors.Is(h.lastErr(), tt.want) || len(h.codes) != before {
				t.Errorf("status %d, error %v (want %v), redeemed %d", w.Code, h.lastErr(), tt.want, len(h.codes)-before)
			}
		})
	}

	t.Run("IdP error", func(t *testing.T) {
		q, c := h.start(t)
		h.callback(url.Values{"state": {q.Get("state")}, "error": {"interaction_required"},
			"error_description": {"AADSTS50076: MFA"}, "error_codes": {"50076"}, "claims": {claimsJSON}}, c)
		var e *sdk.Error
		if !errors.As(h.lastErr(), &e) || e.Kind != sdk.KindInteractionRequired || e.Code != 50076 || e.Claims != claimsJSON {
			t.Errorf("error %v", h.lastErr())
		}
	})
}

func TestNewSignInChecks(t *testing.T) {
	ok := webapp.SignInConfig{Authority: "https://login.example/t", ClientID: "c", RedirectURI: "https://app/cb", CookieKey: cookieKey,
		Redeemer: webapp.RedeemerFunc(nil), OnSignIn: func(http.ResponseWriter, *http.Request, webapp.Result) {}}
	if _, err := webapp.NewSignIn(ok, nil); err != nil {
		t.Fatalf("NewSignIn(valid) = %v", err)
	}
	for name, mutate := range map[string]func(*webapp.SignInConfig){
		"short key":         func(c *webapp.SignInConfig) { c.CookieKey = cookieKey[:31] },
		"http authority":    func(c *webapp.SignInConfig) { c.Authority = "http://login.example/t" },
		"relative redirect": func(c *webapp.SignInConfig) { c.RedirectURI = "/cb" },
		"no client id":      func(c *webapp.SignInConfig) { c.ClientID = "" },
		"no redeemer":       func(c *webapp.SignInConfig) { c.Redeemer = nil },
	} {
		c := ok
		mutate(&c)
		if _, err := webapp.NewSignIn(c, nil); err == nil {
			t.Errorf("%s: NewSignIn succeeded", name)
		}
	}
}

var (
	formAction = regexp.MustCompile(`<form id="f" method="post" action="([^"]*)"`)
	hiddenIn   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// TestSignInAgainstEmulator: a browser signs in to a web app served on
// loopback, through the emulator's sign-in page, and the MSAL redeemer
// redeems the code with the app's secret.
func TestSignInAgainstEmulator(t *testing.T) {
	const appID, appSecret = "66666666-6666-4666-8666-666666666666", "web-app-secret"
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
	cred, _ := confidential.NewCredFromSecret(appSecret)
	client, err := confidential.New(srv.Authority(emulator.DefaultTenantID), appID, cred,
		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	var signedIn webapp.Result
	s, err := webapp.NewSignIn(webapp.SignInConfig{
		Authority: srv.Authority(emulator.DefaultTenantID), ClientID: appID, RedirectURI: appURL + "/callback",
		Scopes: []string{"https://graph.microsoft.com/User.Read"}, CookieKey: cookieKey, Redeemer: webapp.NewMSALRedeemer(client),
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
	resp, err := browser.Get(appURL + "/login") // follows to the emulator's sign-in page
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
	resp, err = browser.PostForm(srv.URL()+html.UnescapeString(m[1]), form) // redirected to the app's callback
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "welcome" {
		t.Fatalf("callback answered %d: %s", resp.StatusCode, body)
	}
	if signedIn.Account.Username != emulator.DefaultUsername {
		t.Errorf("signed in as %+v", signedIn.Account)
	}
	if c, err := srv.VerifyAccessToken(signedIn.Token.AccessToken.Reveal()); err != nil || c["appid"] != appID || c["aud"] != "https://graph.microsoft.com" {
		t.Errorf("token claims %v, %v", c, err)
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
