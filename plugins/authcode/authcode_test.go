//go:build unix

// The flow tests run shell scripts as browsers and kill Chromium by
// process group.

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/wiretap"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/testkit/recui"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	tenantID = emulator.DefaultTenantID
	scope    = "api://resource/access_as_user"
)

// The fake browser is this test binary run again with these variables
// (see TestMain): it drives the emulator's pages like a browser would.
const (
	envFakeBrowser   = "AUTHCODE_TEST_FAKE_BROWSER"
	envFakeBrowserCA = "AUTHCODE_TEST_FAKE_BROWSER_CA"
)

func TestMain(m *testing.M) {
	if os.Getenv(envFakeBrowser) == "1" {
		os.Exit(fakeBrowserMain(os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// fakeBrowserMain is the fake browser process: it signs in at authURL and
// exits 0 if the loopback listener answered with its success page.
func fakeBrowserMain(authURL string) int {
	ca, err := os.ReadFile(os.Getenv(envFakeBrowserCA))
	if err != nil {
		return 2
	}
	// A browser, not the IdP client: it posts to the plain-http loopback
	// redirect URI, which httpclient.New refuses by design.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return 2
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	status, _, _, err := browse(hc, authURL)
	if err != nil || status != http.StatusOK {
		return 1
	}
	return 0
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	// Inputs with a value: hidden fields and the filled-in username.
	inputs = regexp.MustCompile(`<input[^>]* name="([^"]*)"[^>]* value="([^"]*)"`)
)

// browse does what a browser does with the emulator's AutoSignIn pages:
// GET the authorization URL, submit the sign-in form, submit the
// form_post page to the redirect URI. It returns the redirect URI's
// status and page and the fields posted to it.
func browse(hc *http.Client, authURL string) (int, string, url.Values, error) {
	resp, err := hc.Get(authURL)
	if err != nil {
		return 0, "", nil, err
	}
	action, fields, err := readForm(resp)
	if err != nil {
		return 0, "", nil, fmt.Errorf("sign-in page: %w", err)
	}
	u, _ := url.Parse(authURL)
	if resp, err = hc.PostForm(u.Scheme+"://"+u.Host+action, fields); err != nil {
		return 0, "", nil, err
	}
	action, fields, err = readForm(resp)
	if err != nil {
		return 0, "", nil, fmt.Errorf("form_post page: %w", err)
	}
	if resp, err = hc.PostForm(action, fields); err != nil {
		return 0, "", nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), fields, err
}

// readForm returns the action and the filled-in fields of the page's form.
func readForm(resp *http.Response) (string, url.Values, error) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", nil, err
	}
	m := formAction.FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", nil, fmt.Errorf("status %d, no form:\n%s", resp.StatusCode, b)
	}
	v := url.Values{}
	for _, h := range inputs.FindAllSubmatch(b, -1) {
		v.Add(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	return html.UnescapeString(string(m[1])), v, nil
}

// harness is the flow served in-process over gRPC, an emulator, the
// host's cache, a UI that records prompts and the environment the flow
// looks for a browser in.
type harness struct {
	t      *testing.T
	srv    *emulator.Server
	client *plugintest.Conn
	cache  *sdk.MemoryCache
	ui     *recui.UI
	logs   *syncbuf.Buffer
	wire   *wiretap.Tap
}

func newHarness(t *testing.T, opts emulator.Options, env map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, cache: &sdk.MemoryCache{}, ui: &recui.UI{}, logs: &syncbuf.Buffer{}, wire: &wiretap.Tap{}}
	opts.Logger = zerolog.New(h.logs).Level(zerolog.DebugLevel)
	h.srv = emulatortest.StartOptions(t, opts)
	f := &flow{
		newHTTP: func(ca []byte) (*http.Client, error) {
			c, err := httpclient.New(ca)
			if err != nil {
				return nil, err
			}
			h.wire.Base = c.Transport
			c.Transport = h.wire
			return c, nil
		},
		env: environ{goos: "linux", getenv: func(k string) string { return env[k] }, lookPath: exec.LookPath},
	}
	h.client = plugintest.Connect(t, f, zerolog.New(h.logs).Level(zerolog.TraceLevel))
	if err := h.configure(h.srv.Authority(tenantID), nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) configure(authority string, options map[string]string) error {
	h.t.Helper()
	return h.client.Configure(context.Background(), sdk.FlowConfig{Profile: "p", Authority: authority,
		ClientID: emulator.DefaultPublicClientID, Options: options, CACertificates: h.srv.CACertPEM()}, h.cache)
}

func (h *harness) token(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
	h.t.Helper()
	if req.Scopes == nil {
		req.Scopes = []string{scope}
	}
	// A broken test must fail, not wait out the flow's 5m default.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return h.client.GetToken(ctx, req, h.ui)
}

// browseOnPrompt signs in with the in-process browser once the prompt is
// shown, after before(redirectURI) if given; the result goes to the
// returned channel.
func (h *harness) browseOnPrompt(before func(redirectURI string)) <-chan browseResult {
	done := make(chan browseResult, 1)
	h.ui.OnPrompt = func(p sdk.Prompt) {
		go func() {
			if before != nil {
				before(redirectOf(h.t, p))
			}
			var r browseResult
			r.status, r.page, r.fields, r.err = browse(h.srv.HTTPClient(), p.VerificationURI)
			done <- r
		}()
	}
	return done
}

type browseResult struct {
	status int
	page   string
	fields url.Values
	err    error
}

// redirectOf returns the redirect URI of a prompt's authorization URL.
func redirectOf(t *testing.T, p sdk.Prompt) string {
	u, err := url.Parse(p.VerificationURI)
	if err != nil {
		t.Errorf("prompt URL: %v", err)
		return ""
	}
	return u.Query().Get("redirect_uri")
}

// listenerClosed reports whether nothing accepts connections at
// redirectURI any more.
func listenerClosed(redirectURI string) bool {
	u, _ := url.Parse(redirectURI)
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// eventually polls cond for up to 10s; it asserts an end state, not how
// fast it came.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// idleBrowser is a BROWSER that opens nothing and succeeds, for tests
// that drive the pages themselves.
func idleBrowser(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{envBrowser: script(t, t.TempDir(), "browser", "exit 0\n")}
}

// lastPrompt is the last prompt ui showed (zero if none).
func lastPrompt(ui *recui.UI) sdk.Prompt {
	p, _, _ := ui.Last()
	return p
}

// checkSignedIn checks a token of the default user from the emulator.
func checkSignedIn(t *testing.T, h *harness, tok sdk.Token) {
	t.Helper()
	claims, err := h.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil || claims["preferred_username"] != emulator.DefaultUsername {
		t.Fatalf("token claims %v, %v", claims, err)
	}
	if tok.Account.Username != emulator.DefaultUsername || tok.Account.TenantID != tenantID || tok.Flow != flowName {
		t.Errorf("token %+v", tok)
	}
}

func TestSignInThenSilent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The fake browser process gets the URL as its last argument, as
	// xdg-open would.
	browser := script(t, dir, "fake-browser", fmt.Sprintf("%s=1 %s=%q exec %q \"$@\"\n",
		envFakeBrowser, envFakeBrowserCA, filepath.Join(dir, "ca.pem"), self))
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, map[string]string{envBrowser: browser})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), h.srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	checkSignedIn(t, h, tok)
	p := lastPrompt(h.ui)
	u, _ := url.Parse(p.VerificationURI)
	q := u.Query()
	redirect := q.Get("redirect_uri")
	if h.ui.Count() != 1 || !strings.HasPrefix(p.Message, "Opening your browser to sign in; if it does not open, visit: https://") ||
		!strings.HasSuffix(p.Message, p.VerificationURI) || u.Path != "/"+tenantID+"/oauth2/v2.0/authorize" {
		t.Errorf("prompts %d, last %+v", h.ui.Count(), p)
	}
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 ||
		q.Get("response_mode") != "form_post" || q.Get("prompt") != "select_account" || q.Get("client_id") != emulator.DefaultPublicClientID ||
		!strings.Contains(q.Get("scope"), "offline_access") || !strings.HasPrefix(redirect, "http://127.0.0.1:") || q.Has("code_verifier") {
		t.Errorf("authorization request %v", q)
	}
	if !listenerClosed(redirect) {
		t.Errorf("the listener at %s is still open", redirect)
	}
	if n := h.srv.Count("token:authorization_code"); n != 1 {
		t.Errorf("authorization_code grants %d", n)
	}

	authorize, tokens := h.srv.Count("authorize"), h.srv.Count("token")
	tok2, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil || tok2.AccessToken.Reveal() != tok.AccessToken.Reveal() {
		t.Fatalf("silent: %v", err)
	}
	if h.ui.Count() != 1 || h.srv.Count("authorize") != authorize || h.srv.Count("token") != tokens {
		t.Errorf("the second call prompted (%d prompts) or called the IdP", h.ui.Count())
	}
	// Force refresh and another resource use the refresh token, silently.
	for _, req := range []sdk.TokenRequest{{ForceRefresh: true}, {Scopes: []string{"https://graph.microsoft.com/User.Read"}}} {
		tok3, err := h.token(t.Context(), req)
		if err != nil || tok3.AccessToken.Reveal() == tok.AccessToken.Reveal() {
			t.Fatalf("refresh %+v: %v", req, err)
		}
	}
	if n := h.srv.Count("token:refresh_token"); n != 2 || h.ui.Count() != 1 || h.srv.Count("authorize") != authorize {
		t.Errorf("refresh_token grants %d, prompts %d", n, h.ui.Count())
	}
}

// TestChromium signs in with a real headless Chromium: the emulator's
// AutoSignIn page submits itself, and its form_post page posts the code to
// the loopback listener.
func TestChromium(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run installs the Debian package chromium")
		}
		t.Skip("chromium is not installed (Debian package chromium); CI runs this test")
	}
	// Not t.TempDir: a killed Chromium may still be finishing a write
	// when the directory is removed, which must not fail the test.
	dir, err := os.MkdirTemp("", "authcode-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "chromium.pid")
	// setsid gives Chromium its own process group, so the test kills it
	// and every helper process it started, whatever the wrapper did.
	// --ignore-certificate-errors: the emulator's certificate comes from
	// its own test CA, which this throwaway profile does not trust; it is
	// safe only because the one site visited is the loopback emulator.
	browser := script(t, dir, "chromium-browser", fmt.Sprintf(
		"setsid %q --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "+
			"--disable-component-update --disable-sync --ignore-certificate-errors --user-data-dir=%q \"$1\" >%q 2>&1 </dev/null &\n"+
			"echo $! >%q\n",
		chromium, filepath.Join(dir, "profile"), filepath.Join(dir, "chromium.log"), pidFile))
	t.Cleanup(func() {
		defer os.RemoveAll(dir)
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			eventually(func() bool { return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) })
		}
	})
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, map[string]string{envBrowser: browser})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	tok, err := h.token(ctx, sdk.TokenRequest{})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "chromium.log"))
		t.Fatalf("%v\nchromium output:\n%s", err, log)
	}
	checkSignedIn(t, h, tok)
	if n := h.srv.Count("token:authorization_code"); n != 1 {
		t.Errorf("authorization_code grants %d", n)
	}
}

func TestNoBrowserIsUnavailable(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-browser")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"headless", map[string]string{}, "no browser: no DISPLAY/WAYLAND_DISPLAY and BROWSER is not set"},
		{"ssh", map[string]string{envDisplay: "localhost:10.0", envSSHConnection: "10.0.0.1 5000 10.0.0.2 22"}, "SSH session and BROWSER is not set"},
		{"ssh tty", map[string]string{envWayland: "wayland-0", envSSHTTY: "/dev/pts/1"}, "SSH session"},
		{"browser not found", map[string]string{envBrowser: missing}, "BROWSER names no command found on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, emulator.Options{}, tc.env)
			_, err := h.token(t.Context(), sdk.TokenRequest{})
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindUnavailable || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(e.Hint, "devicecode") || !strings.Contains(e.Hint, "BROWSER") {
				t.Fatalf("err = %v (%#v)", err, e)
			}
			for _, ep := range []string{"discovery", "token", "authorize", "instance_discovery"} {
				if n := h.srv.Count(ep); n != 0 {
					t.Errorf("%d %s requests reached the emulator", n, ep)
				}
			}
			if h.ui.Count() != 0 {
				t.Errorf("prompted with no browser")
			}
		})
	}
}

// TestChainFallsThrough: on a headless machine a chain [authcode, next]
// moves on to the next flow.
func TestChainFallsThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, map[string]string{})
	next := credentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret("from-next"), Flow: "devicecode"}, nil
	})
	authcode := credentialFunc(func(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
		return h.client.GetToken(ctx, req, h.ui)
	})
	chain, err := sdk.NewChain("p", []sdk.ChainMember{{Name: flowName, Credential: authcode}, {Name: "devicecode", Credential: next}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := chain.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{scope}})
	if err != nil || tok.Flow != "devicecode" {
		t.Fatalf("token %+v, err %v", tok, err)
	}
}

type credentialFunc func(context.Context, sdk.TokenRequest) (sdk.Token, error)

func (f credentialFunc) GetToken(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
	return f(ctx, req)
}

func TestBrowserThatFailsIsUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		// xdg-open exits 3 when it finds no browser to hand the URL to.
		{"exits non-zero", "#!/bin/sh\nexit 3\n", "failed before the sign-in finished"},
		{"cannot start", "#!" + filepath.Join(dir, "no-such-interpreter") + "\n", "starting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.body), 0o755); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, emulator.Options{}, map[string]string{envBrowser: p})
			_, err := h.token(t.Context(), sdk.TokenRequest{})
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindUnavailable || !strings.Contains(err.Error(), tc.want) || !strings.Contains(e.Hint, "devicecode") {
				t.Fatalf("err = %v (%#v)", err, e)
			}
			if redirect := redirectOf(t, lastPrompt(h.ui)); !listenerClosed(redirect) {
				t.Errorf("the listener at %s is still open", redirect)
			}
		})
	}
}

func TestWrongStateIsRefusedAndTheWaitGoesOn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	type answer struct {
		status int
		page   string
	}
	var answers []answer
	done := h.browseOnPrompt(func(redirect string) {
		post := func(v url.Values) {
			resp, err := http.PostForm(redirect, v)
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers = append(answers, answer{resp.StatusCode, string(b)})
		}
		post(url.Values{"code": {"ac.forged"}, "state": {"not-the-state"}})
		post(url.Values{"code": {"ac.forged"}})
		post(url.Values{"error": {"access_denied"}, "state": {"stale"}})
		// A GET carries nothing a form_post sign-in accepts.
		if resp, err := http.Get(redirect + "/?code=ac.forged"); err == nil {
			resp.Body.Close()
			answers = append(answers, answer{resp.StatusCode, ""})
		}
	})
	tok, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	checkSignedIn(t, h, tok)
	r := <-done
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.page, "You are signed in to credhost as "+emulator.DefaultUsername) {
		t.Errorf("final page %d %v:\n%s", r.status, r.err, r.page)
	}
	if len(answers) != 4 {
		t.Fatalf("answers %+v", answers)
	}
	for _, a := range answers[:3] {
		if a.status != http.StatusBadRequest || !strings.Contains(a.page, "not the one credhost is waiting for") {
			t.Errorf("refused response answered %d:\n%s", a.status, a.page)
		}
	}
	if answers[3].status != http.StatusNotFound && answers[3].status != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d", answers[3].status)
	}
	if n := h.srv.Count("token:authorization_code"); n != 1 {
		t.Errorf("authorization_code grants %d: a forged code was redeemed", n)
	}
}

func TestErrorResponseIsClassified(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, idleBrowser(t))
	page := make(chan string, 1)
	h.ui.OnPrompt = func(p sdk.Prompt) {
		go func() {
			u, _ := url.Parse(p.VerificationURI)
			// What Entra ID posts when the user declines consent.
			resp, err := http.PostForm(redirectOf(t, p), url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"},
				"error_description": {"AADSTS65004: User declined to consent to access the app.\r\nTrace ID: t\r\nCorrelation ID: c"},
				"error_codes":       {"65004"}, "correlation_id": {"7d3b4a8e-1c2f-4e5a-9b6c-0d1e2f3a4b5c"}})
			if err != nil {
				page <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page <- string(b)
		}()
	}
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || e.OAuthCode != "access_denied" || e.Code != 65004 ||
		e.CorrelationID != "7d3b4a8e-1c2f-4e5a-9b6c-0d1e2f3a4b5c" || !strings.Contains(err.Error(), "User declined to consent") {
		t.Fatalf("err = %v (%#v)", err, e)
	}
	if p := <-page; !strings.Contains(p, "credhost could not sign you in") || !strings.Contains(p, "User declined to consent") {
		t.Errorf("page:\n%s", p)
	}
	if n := h.srv.Count("token:authorization_code"); n != 0 {
		t.Errorf("authorization_code grants %d", n)
	}
}

func TestMFAUserNeedsInteraction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultMFAUsername}, idleBrowser(t))
	done := h.browseOnPrompt(nil)
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindInteractionRequired || e.Code != 50076 || e.Claims == "" || e.CorrelationID == "" ||
		!strings.Contains(e.Hint, "multi-factor authentication") || !strings.Contains(err.Error(), "AADSTS50076") {
		t.Fatalf("err = %v (%#v)", err, e)
	}
	if r := <-done; r.err != nil || !strings.Contains(r.page, "could not sign you in") || !strings.Contains(r.page, "multi-factor authentication") {
		t.Errorf("page %v:\n%s", r.err, r.page)
	}
}

func TestTimeoutStopsTheListener(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, idleBrowser(t))
	if err := h.configure(h.srv.Authority(tenantID), map[string]string{optTimeout: "1s"}); err != nil {
		t.Fatal(err)
	}
	h.ui.OnPrompt = func(p sdk.Prompt) {
		resp, err := http.PostForm(redirectOf(t, p), url.Values{"code": {"ac.forged"}, "state": {"wrong"}})
		if err == nil {
			resp.Body.Close()
		}
	}
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || !strings.Contains(err.Error(), "no sign-in response arrived within 1s") ||
		!strings.Contains(err.Error(), "1 response(s) with a wrong or missing state were refused") || !strings.Contains(e.Hint, "timeout") {
		t.Fatalf("err = %v (%#v)", err, e)
	}
	// The error is sent after the listener closed.
	if redirect := redirectOf(t, lastPrompt(h.ui)); !listenerClosed(redirect) {
		t.Errorf("the listener at %s is still open", redirect)
	}
}

func TestCancelStopsTheListener(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, idleBrowser(t))
	ctx, cancel := context.WithCancel(t.Context())
	h.ui.OnPrompt = func(sdk.Prompt) { go cancel() }
	_, err := h.token(ctx, sdk.TokenRequest{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
	redirect := redirectOf(t, lastPrompt(h.ui))
	if !eventually(func() bool { return listenerClosed(redirect) }) {
		t.Errorf("the listener at %s is still open after the cancel", redirect)
	}
}

func TestNobodyToPromptIsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	_, err := h.client.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{scope}}, nil)
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	if n := h.srv.Count("token"); n != 0 {
		t.Errorf("token requests %d with nobody to sign in", n)
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, idleBrowser(t))
	for _, tc := range []struct {
		options map[string]string
		field   string
	}{
		{map[string]string{optRedirectPort: "http"}, optRedirectPort},
		{map[string]string{optRedirectPort: "70000"}, optRedirectPort},
		{map[string]string{optRedirectPort: "0"}, optRedirectPort},
		{map[string]string{optTimeout: "5"}, optTimeout},
		{map[string]string{optTimeout: "-1m"}, optTimeout},
		{map[string]string{optBrowser: " "}, optBrowser},
		{map[string]string{"client_secret": "x"}, "client_secret"},
	} {
		err := h.configure(h.srv.Authority(tenantID), tc.options)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Field != tc.field {
			t.Errorf("%v: err = %v", tc.options, err)
		}
	}
	for _, tenant := range []string{"common", "organizations", "consumers"} {
		if err := h.configure(h.srv.Authority(tenant), map[string]string{optTimeout: "2m", optRedirectPort: "8400", optBrowser: "firefox", "login_hint": "a@b"}); err != nil {
			t.Errorf("%s: %v", tenant, err)
		}
	}
	if d, err := h.client.Describe(t.Context()); err != nil || !d.Interactive || len(d.ForbiddenTenants) != 0 || d.Name != flowName {
		t.Errorf("describe %+v", d)
	}
	if n := h.srv.Count("discovery"); n != 0 {
		t.Errorf("Configure reached the emulator")
	}
}

func TestCommonAuthorityAndFixedPort(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := h.configure(h.srv.Authority("common"), map[string]string{optRedirectPort: strconv.Itoa(port)}); err != nil {
		t.Fatal(err)
	}
	done := h.browseOnPrompt(nil)
	tok, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	checkSignedIn(t, h, tok)
	<-done
	if got, want := redirectOf(t, lastPrompt(h.ui)), fmt.Sprintf("http://127.0.0.1:%d", port); got != want {
		t.Errorf("redirect_uri %s, want %s", got, want)
	}
	if u, _ := url.Parse(lastPrompt(h.ui).VerificationURI); !strings.HasPrefix(u.Path, "/common/") {
		t.Errorf("authorize URL %s", u.Path)
	}

	// The port taken by someone else: a clear failure naming the option.
	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = h.token(t.Context(), sdk.TokenRequest{Account: "other@contoso.onmicrosoft.com"})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || !strings.Contains(err.Error(), "in use") || !strings.Contains(e.Hint, "redirect_port") {
		t.Fatalf("err = %v (%#v)", err, e)
	}
}

// TestNoSecretsInLogsOrErrors plants the secrets of real sign-ins
// (authorization codes, PKCE verifiers, state, tokens, refresh tokens)
// and checks that none appears in the flow's or the emulator's logs at
// trace and debug level, or in error text.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	done := h.browseOnPrompt(nil)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	signedIn := <-done
	if _, err := h.token(t.Context(), sdk.TokenRequest{ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	secrets := []string{signedIn.fields.Get("code"), signedIn.fields.Get("state")}
	// A failure after a redirect with a code: the code was redeemed once
	// already, so the token endpoint refuses it.
	var errs []string
	h.ui.OnPrompt = func(p sdk.Prompt) {
		go func() {
			u, _ := url.Parse(p.VerificationURI)
			resp, err := http.PostForm(redirectOf(t, p), url.Values{"code": {signedIn.fields.Get("code")}, "state": {u.Query().Get("state")}})
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	if _, err := h.token(t.Context(), sdk.TokenRequest{Account: "another@contoso.onmicrosoft.com"}); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "54005") {
		t.Fatalf("want the redeemed-code failure, got %v", errs)
	}
	// That sign-in was for a named account: login_hint, no account picker.
	u, _ := url.Parse(lastPrompt(h.ui).VerificationURI)
	if q := u.Query(); q.Get("login_hint") != "another@contoso.onmicrosoft.com" || q.Has("prompt") {
		t.Errorf("authorization request for a named account: %v", q)
	}
	secrets = append(secrets, u.Query().Get("state"))
	secrets = append(secrets, secretsOnTheWire(t, h.wire.All())...)
	text := h.logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(text, `"flow":"authcode"`) || !strings.Contains(text, "waiting for the sign-in response") {
		t.Fatalf("no flow logs captured:\n%s", text)
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

// secretsOnTheWire extracts codes, PKCE verifiers, tokens and refresh
// tokens from recorded bodies.
func secretsOnTheWire(t *testing.T, bodies []string) []string {
	t.Helper()
	var out []string
	kinds := map[string]bool{}
	for _, b := range bodies {
		for _, key := range []string{"code", "code_verifier", "access_token", "refresh_token", "id_token"} {
			for _, v := range findValues(b, key) {
				if v, _ = url.QueryUnescape(v); len(v) > 8 {
					out = append(out, v)
					kinds[key] = true
				}
			}
		}
	}
	for _, k := range []string{"code", "code_verifier", "access_token", "refresh_token"} {
		if !kinds[k] {
			t.Fatalf("did not capture a %s: %v", k, kinds)
		}
	}
	return out
}

// findValues returns the values of key in a JSON body or a form body.
func findValues(body, key string) []string {
	var out []string
	for _, sep := range []string{`"` + key + `":"`, key + "="} {
		rest := body
		for {
			i := strings.Index(rest, sep)
			if i < 0 {
				break
			}
			// Only whole keys: "code=" must not match "device_code=".
			whole := i == 0 || strings.ContainsRune(`&"{, `, rune(rest[i-1]))
			if sep[0] == '"' {
				whole = true
			}
			rest = rest[i+len(sep):]
			end := strings.IndexAny(rest, `"&`)
			if end < 0 {
				end = len(rest)
			}
			if whole {
				out = append(out, rest[:end])
			}
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	headless := newHarness(t, emulator.Options{}, map[string]string{})
	known, problem, err := headless.client.Check(t.Context(), false)
	if err != nil || !known || sdk.KindOf(problem) != sdk.KindUnavailable || !strings.Contains(problem.Error(), "no DISPLAY/WAYLAND_DISPLAY") {
		t.Fatalf("headless check: %v %v %v", known, problem, err)
	}

	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	if _, problem, err := h.client.Check(t.Context(), false); problem != nil || err != nil {
		t.Fatalf("check with a browser: %v %v", problem, err)
	}
	if _, problem, _ := h.client.Check(t.Context(), true); sdk.KindOf(problem) != sdk.KindUnavailable {
		t.Fatalf("check with nobody watching: %v", problem)
	}
	done := h.browseOnPrompt(nil)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	<-done
	// A refresh token signs in without anyone watching.
	requests := h.srv.Count("token") + h.srv.Count("discovery")
	if _, problem, _ := h.client.Check(t.Context(), true); problem != nil {
		t.Fatalf("check with a refresh token: %v", problem)
	}
	if h.srv.Count("token")+h.srv.Count("discovery") != requests || headless.srv.Count("discovery") != 0 {
		t.Errorf("a check reached the emulator")
	}
}

func TestClaimsChallengeIsSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{AutoSignIn: emulator.DefaultUsername}, idleBrowser(t))
	done := h.browseOnPrompt(nil)
	const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	tok, err := h.token(t.Context(), sdk.TokenRequest{Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	checkSignedIn(t, h, tok)
	<-done
	u, _ := url.Parse(lastPrompt(h.ui).VerificationURI)
	if got := u.Query().Get("claims"); !strings.Contains(got, `"acrs"`) || !strings.Contains(got, `"c1"`) {
		t.Errorf("claims in the authorization request: %q", got)
	}
}
