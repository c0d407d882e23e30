package emulator_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

const (
	publicID  = emulator.DefaultPublicClientID
	userScope = "api://resource/access_as_user"
)

func newPublic(t *testing.T, srv *emulator.Server, tenant string) public.Client {
	t.Helper()
	app, err := public.New(publicID, public.WithAuthority(srv.Authority(tenant)),
		public.WithHTTPClient(srv.HTTPClient()), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// checkUserToken verifies a user access token from the emulator.
func checkUserToken(t *testing.T, srv *emulator.Server, tok, username string) map[string]any {
	t.Helper()
	claims, err := srv.VerifyAccessToken(tok)
	if err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	// api://resource is a v2.0 resource: its client id is "aud", and
	// the v1-only claims are absent.
	want := map[string]any{"aud": resourceID, "tid": tenantID, "azp": publicID, "azpacr": "0", "ver": "2.0",
		"scp": "access_as_user", "preferred_username": username, "idtyp": "user"}
	for _, v1 := range []string{"appid", "upn", "unique_name", "amr"} {
		if _, ok := claims[v1]; ok {
			t.Errorf("v2.0 token has the v1.0 claim %s", v1)
		}
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	return claims
}

func TestMSALDeviceCode(t *testing.T) {
	srv := emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), DeviceCodeInterval: time.Second})
	app := newPublic(t, srv, domain)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dc, err := app.AcquireTokenByDeviceCode(ctx, []string{userScope})
	if err != nil {
		t.Fatal(err)
	}
	r := dc.Result
	if len(r.UserCode) != 9 || r.DeviceCode == "" || r.Interval != 1 || !strings.HasSuffix(r.VerificationURL, "/devicelogin") ||
		!strings.Contains(r.Message, r.UserCode) || time.Until(r.ExpiresOn) < 14*time.Minute {
		t.Fatalf("device code result %+v", r)
	}
	go func() {
		// Approve once the client has polled once.
		for ctx.Err() == nil {
			if info, _ := srv.DeviceCode(r.UserCode); len(info.Polls) > 0 {
				_ = srv.ApproveDeviceCode(r.UserCode, emulator.DefaultUsername)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkUserToken(t, srv, res.AccessToken, emulator.DefaultUsername)
	if res.Account.PreferredUsername != emulator.DefaultUsername || res.IDToken.TenantID != tenantID || res.IDToken.Name != "Alice" {
		t.Errorf("account %+v id token %+v", res.Account, res.IDToken)
	}
	info, _ := srv.DeviceCode(r.UserCode)
	if last := info.Polls[len(info.Polls)-1]; last.Answer != "token" || info.Username != emulator.DefaultUsername {
		t.Errorf("polls %+v", info)
	}
	// The account works silently: from the cache, then by refresh token
	// for another resource.
	before := srv.Count("token")
	if _, err := app.AcquireTokenSilent(ctx, []string{userScope}, public.WithSilentAccount(res.Account)); err != nil {
		t.Fatal(err)
	}
	if srv.Count("token") != before {
		t.Error("silent call went to the token endpoint despite a cached token")
	}
	res2, err := app.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, public.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Count("token:refresh_token") != 1 {
		t.Errorf("refresh_token grants: %d", srv.Count("token:refresh_token"))
	}
	if c, _ := srv.VerifyAccessToken(res2.AccessToken); c["aud"] != "https://graph.microsoft.com" || c["scp"] != "User.Read" {
		t.Errorf("graph token claims %v", c)
	}
}

// deviceCode asks for a device code with raw HTTP.
func deviceCode(t *testing.T, srv *emulator.Server, tenant, client string) response {
	t.Helper()
	form := url.Values{"client_id": {client}, "scope": {userScope + " openid offline_access profile"}}
	req, _ := http.NewRequest(http.MethodPost, srv.Authority(tenant)+"/oauth2/v2.0/devicecode", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, srv, req)
}

func poll(t *testing.T, srv *emulator.Server, code string, grant string) response {
	t.Helper()
	return postToken(t, srv, tenantID, url.Values{"grant_type": {grant}, "client_id": {publicID}, "device_code": {code}})
}

func TestDeviceCodeAnswers(t *testing.T) {
	srv := start(t)
	const urn = "urn:ietf:params:oauth:grant-type:device_code"
	issue := func(t *testing.T) (code, user string) {
		t.Helper()
		r := deviceCode(t, srv, tenantID, publicID)
		if r.status != 200 || r.body["interval"] != 5.0 || r.body["expires_in"] != 900.0 {
			t.Fatalf("devicecode: %s", r.raw)
		}
		return r.body["device_code"].(string), r.body["user_code"].(string)
	}
	t.Run("pending, slow_down, token, redeemed", func(t *testing.T) {
		code, user := issue(t)
		wantAADSTS(t, poll(t, srv, code, "device_code"), 400, 70016, "authorization_pending")
		if err := srv.SlowDownDeviceCode(user, 1); err != nil {
			t.Fatal(err)
		}
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70016, "slow_down")
		if err := srv.ApproveDeviceCode(strings.ToLower(user), emulator.DefaultUsername); err != nil {
			t.Fatal(err)
		}
		r := poll(t, srv, code, urn)
		if r.status != 200 || r.body["refresh_token"] == nil || r.body["id_token"] == nil || r.body["client_info"] == nil ||
			!strings.Contains(r.body["scope"].(string), userScope) {
			t.Fatalf("token: %s", r.raw)
		}
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70000, "invalid_grant")
		info, _ := srv.DeviceCode(user)
		var answers []string
		for _, p := range info.Polls {
			answers = append(answers, p.Answer)
		}
		if got := strings.Join(answers, ","); got != "authorization_pending,slow_down,token,invalid_grant" {
			t.Errorf("answers %s", got)
		}
	})
	t.Run("declined", func(t *testing.T) {
		code, user := issue(t)
		if err := srv.DenyDeviceCode(user); err != nil {
			t.Fatal(err)
		}
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70000, "authorization_declined")
	})
	t.Run("expired", func(t *testing.T) {
		code, user := issue(t)
		if err := srv.ExpireDeviceCode(user); err != nil {
			t.Fatal(err)
		}
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70020, "expired_token")
		if err := srv.ApproveDeviceCode(user, emulator.DefaultUsername); err == nil {
			t.Error("approved an expired code")
		}
	})
	t.Run("mfa user", func(t *testing.T) {
		code, user := issue(t)
		if err := srv.ApproveDeviceCode(user, emulator.DefaultMFAUsername); err != nil {
			t.Fatal(err)
		}
		r := poll(t, srv, code, urn)
		wantAADSTS(t, r, 400, 50076, "interaction_required")
		if r.body["suberror"] != "basic_action" || r.body["claims"] == nil {
			t.Errorf("mfa answer %s", r.raw)
		}
	})
	t.Run("scripted next code", func(t *testing.T) {
		srv.ScriptDeviceCode(emulator.DeviceCodeScript{Interval: 1500 * time.Millisecond, Lifetime: time.Minute, SlowDown: 2})
		r := deviceCode(t, srv, tenantID, publicID)
		if r.body["interval"] != 2.0 || r.body["expires_in"] != 60.0 {
			t.Fatalf("scripted code: %s", r.raw)
		}
		code := r.body["device_code"].(string)
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70016, "slow_down")
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70016, "slow_down")
		wantAADSTS(t, poll(t, srv, code, urn), 400, 70016, "authorization_pending")
	})
	t.Run("refusals", func(t *testing.T) {
		wantAADSTS(t, deviceCode(t, srv, tenantID, clientID), 401, 7000218, "invalid_client")
		wantAADSTS(t, deviceCode(t, srv, "consumers", publicID), 400, 9002331, "invalid_request")
		wantAADSTS(t, poll(t, srv, "dc.unknown", "device_code"), 400, 70000, "invalid_grant")
	})
}

func TestAutoApproveDeviceCode(t *testing.T) {
	srv := emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), AutoApproveAfter: time.Millisecond, AutoSignIn: emulator.DefaultUsername})
	r := deviceCode(t, srv, "organizations", publicID)
	time.Sleep(5 * time.Millisecond)
	tok := poll(t, srv, r.body["device_code"].(string), "device_code")
	if tok.status != 200 {
		t.Fatalf("poll: %s", tok.raw)
	}
	checkUserToken(t, srv, tok.body["access_token"].(string), emulator.DefaultUsername)
}

var (
	formAction = regexp.MustCompile(`<form id="f" method="post" action="([^"]*)"`)
	hiddenIn   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// parseForm returns the action and hidden fields of an emulator page.
func parseForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%s", page)
	}
	v := url.Values{}
	for _, h := range hiddenIn.FindAllStringSubmatch(page, -1) {
		v.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), v
}

// browser is a minimal stand-in for a user agent: it fetches the
// authorize URL, fills in the sign-in form and returns the form_post page
// (or the response that ended the sign-in).
func signIn(t *testing.T, srv *emulator.Server, authURL, username, password string) (*http.Response, string) {
	t.Helper()
	client := *srv.HTTPClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != 200 {
		return resp, page
	}
	action, fields := parseForm(t, page)
	fields.Set("username", username)
	fields.Set("password", password)
	u, _ := url.Parse(authURL)
	resp, err = client.PostForm(u.Scheme+"://"+u.Host+action, fields)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
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

func TestMSALInteractive(t *testing.T) {
	srv := start(t)
	app := newPublic(t, srv, tenantID)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := app.AcquireTokenInteractive(ctx, []string{userScope}, public.WithOpenURL(func(authURL string) error {
		go func() {
			// The form_post page posts code and state to MSAL's listener.
			_, page := signIn(t, srv, authURL, emulator.DefaultUsername, emulator.DefaultPassword)
			action, fields := parseForm(t, page)
			if fields.Get("code") == "" || fields.Get("state") == "" {
				t.Errorf("form_post page without code or state:\n%s", page)
			}
			resp, err := http.PostForm(action, fields)
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	checkUserToken(t, srv, res.AccessToken, emulator.DefaultUsername)
	if srv.Count("token:authorization_code") != 1 || srv.Count("authorize") != 2 {
		t.Errorf("counts: code %d authorize %d", srv.Count("token:authorization_code"), srv.Count("authorize"))
	}
}

// authorizeURL builds an authorization request with PKCE (S256).
func authorizeURL(srv *emulator.Server, redirect, verifier string, extra url.Values) string {
	sum := sha256.Sum256([]byte(verifier))
	v := url.Values{"client_id": {publicID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {userScope + " openid offline_access"},
		"state": {"st-1"}, "nonce": {"n-1"}, "response_mode": {"form_post"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	for k, vs := range extra {
		v[k] = vs
	}
	return srv.Authority(tenantID) + "/oauth2/v2.0/authorize?" + v.Encode()
}

func redeem(t *testing.T, srv *emulator.Server, code, redirect, verifier string) response {
	t.Helper()
	return postToken(t, srv, tenantID, url.Values{"grant_type": {"authorization_code"}, "client_id": {publicID}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "scope": {userScope + " openid offline_access"}})
}

func TestAuthorizationCode(t *testing.T) {
	srv := start(t)
	const redirect, verifier = "http://127.0.0.1:43117", "verifier-0123456789-0123456789-0123456789"
	code := func(t *testing.T) string {
		t.Helper()
		_, page := signIn(t, srv, authorizeURL(srv, redirect, verifier, nil), emulator.DefaultUsername, emulator.DefaultPassword)
		action, f := parseForm(t, page)
		if action != redirect || f.Get("state") != "st-1" || f.Get("code") == "" {
			t.Fatalf("form_post to %s with %v", action, f)
		}
		return f.Get("code")
	}
	t.Run("redeemed once with the verifier", func(t *testing.T) {
		c := code(t)
		r := redeem(t, srv, c, redirect, verifier)
		if r.status != 200 {
			t.Fatalf("redeem: %s", r.raw)
		}
		claims := checkUserToken(t, srv, r.body["access_token"].(string), emulator.DefaultUsername)
		idt, _ := r.body["id_token"].(string)
		parts := strings.Split(idt, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var id map[string]any
		_ = json.Unmarshal(payload, &id)
		if id["nonce"] != "n-1" || id["aud"] != publicID || id["oid"] != claims["oid"] || id["tid"] != tenantID {
			t.Errorf("id token %v", id)
		}
		ci, _ := base64.RawURLEncoding.DecodeString(r.body["client_info"].(string))
		if !strings.Contains(string(ci), `"utid":"`+tenantID+`"`) {
			t.Errorf("client_info %s", ci)
		}
		wantAADSTS(t, redeem(t, srv, c, redirect, verifier), 400, 54005, "invalid_grant")
	})
	t.Run("pkce mismatch", func(t *testing.T) {
		wantAADSTS(t, redeem(t, srv, code(t), redirect, "another-verifier-0123456789-0123456789"), 400, 50148, "invalid_grant")
	})
	t.Run("redirect mismatch", func(t *testing.T) {
		wantAADSTS(t, redeem(t, srv, code(t), "http://127.0.0.1:1", verifier), 400, 70000, "invalid_grant")
	})
	t.Run("query response mode", func(t *testing.T) {
		resp, _ := signIn(t, srv, authorizeURL(srv, "http://localhost:9", verifier, url.Values{"response_mode": {"query"}}),
			emulator.DefaultUsername, emulator.DefaultPassword)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Host != "localhost:9" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect %d %s", resp.StatusCode, loc)
		}
	})
	t.Run("wrong password shows the page again", func(t *testing.T) {
		resp, page := signIn(t, srv, authorizeURL(srv, redirect, verifier, nil), emulator.DefaultUsername, "wrong")
		if resp.StatusCode != 200 || !strings.Contains(page, "AADSTS50126") || strings.Contains(page, "wrong") {
			t.Fatalf("page %d:\n%s", resp.StatusCode, page)
		}
	})
	t.Run("mfa user gets interaction_required at the redirect", func(t *testing.T) {
		_, page := signIn(t, srv, authorizeURL(srv, redirect, verifier, nil), emulator.DefaultMFAUsername, emulator.DefaultMFAPassword)
		_, f := parseForm(t, page)
		if f.Get("error") != "interaction_required" || !strings.HasPrefix(f.Get("error_description"), "AADSTS50076:") || f.Get("state") != "st-1" || f.Get("code") != "" {
			t.Fatalf("fields %v", f)
		}
	})
	t.Run("unregistered redirect is never followed", func(t *testing.T) {
		resp, page := signIn(t, srv, authorizeURL(srv, "https://evil.example/cb", verifier, nil), "", "")
		if resp.StatusCode != 400 || !strings.Contains(page, "AADSTS50011") {
			t.Fatalf("page %d:\n%s", resp.StatusCode, page)
		}
	})
	t.Run("auto sign-in page submits itself", func(t *testing.T) {
		auto := emulatortest.StartOptions(t, emulator.Options{AutoSignIn: emulator.DefaultUsername})
		resp, err := auto.HTTPClient().Get(authorizeURL(auto, redirect, verifier, nil))
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(t, resp)
		if !strings.Contains(page, `name="auto" value="1"`) || !strings.Contains(page, ".submit()") || strings.Contains(page, emulator.DefaultPassword) {
			t.Fatalf("auto page:\n%s", page)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
			t.Errorf("CSP %q", csp)
		}
	})
}

func TestRefreshTokenGrant(t *testing.T) {
	srv := start(t)
	r := deviceCode(t, srv, tenantID, publicID)
	_ = srv.ApproveDeviceCode(r.body["user_code"].(string), emulator.DefaultUsername)
	tok := poll(t, srv, r.body["device_code"].(string), "device_code")
	rt := tok.body["refresh_token"].(string)
	refresh := func(rt, scope string) response {
		return postToken(t, srv, tenantID, url.Values{"grant_type": {"refresh_token"}, "client_id": {publicID}, "refresh_token": {rt}, "scope": {scope}})
	}
	r1 := refresh(rt, "https://vault.azure.net/.default offline_access")
	if r1.status != 200 || r1.body["refresh_token"] == rt {
		t.Fatalf("refresh: %s", r1.raw)
	}
	if c, _ := srv.VerifyAccessToken(r1.body["access_token"].(string)); c["aud"] != "https://vault.azure.net" || c["scp"] != "user_impersonation" {
		t.Errorf("claims %v", c)
	}
	if r2 := refresh(r1.body["refresh_token"].(string), userScope); r2.status != 200 {
		t.Fatalf("rotated token: %s", r2.raw)
	}
	wantAADSTS(t, refresh("rt.unknown", userScope), 400, 9002313, "invalid_grant")
	wantAADSTS(t, refresh(rt, "api://a/x api://b/y"), 400, 28000, "invalid_scope")
}
