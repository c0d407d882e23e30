package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

const (
	oboCounter   = "token:" + emulator.JWTBearerGrant
	graphRead    = "https://graph.microsoft.com/User.Read"
	caUsername   = "carol@contoso.onmicrosoft.com"
	otherTenant2 = "72f988bf-0000-4000-8000-0000000000b2"
	webAppID     = "55555555-5555-4555-8555-555555555555"
	webAppSecret = "web-app-secret"
	webRedirect  = "http://localhost:8080/callback"
)

// startOBO serves the default directory plus Carol, under conditional
// access for Graph, a second tenant with its own Alice, and a web app with
// a secret and a fixed redirect URI.
func startOBO(t *testing.T) *emulator.Server {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{
		Username: caUsername, Password: "carol-password", ConditionalAccess: []string{"https://graph.microsoft.com/"},
	})
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{
		ClientID: webAppID, Name: "web-app", Secrets: []string{webAppSecret}, RedirectURIs: []string{webRedirect},
	})
	cfg.Tenants = append(cfg.Tenants, emulator.Tenant{ID: otherTenant2, Users: []emulator.User{{Username: emulator.DefaultUsername}},
		// The API is multi-tenant: its service principal is in the other
		// tenant too.
		Apps: []emulator.App{{ClientID: clientID, Name: "credhost-demo", Secrets: []string{secret}}}})
	return emulatortest.Start(t, cfg)
}

func userToken(t *testing.T, srv *emulator.Server, tenant, username, aud string, lifetime time.Duration) string {
	t.Helper()
	tok, err := srv.IssueUserToken(tenant, username, aud, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func oboForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {emulator.JWTBearerGrant}, "requested_token_use": {"on_behalf_of"}, "assertion": {assertion},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
}

// TestMSALOnBehalfOf: unmodified MSAL exchanges a user's token for a Graph
// token for the same user, issued to the calling API.
func TestMSALOnBehalfOf(t *testing.T) {
	srv := startOBO(t)
	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	ctx := context.Background()
	for _, aud := range []string{clientID, "api://" + clientID} {
		in := userToken(t, srv, tenantID, emulator.DefaultUsername, aud, time.Hour)
		res, err := app.AcquireTokenOnBehalfOf(ctx, in, []string{graphRead})
		if err != nil {
			t.Fatalf("aud %s: %v", aud, err)
		}
		c, err := srv.VerifyAccessToken(res.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		inClaims, _ := srv.VerifyAccessToken(in)
		// Graph accepts v1.0 tokens: appid, appidacr and upn.
		if c["aud"] != "https://graph.microsoft.com" || c["appid"] != clientID || c["upn"] != emulator.DefaultUsername ||
			c["scp"] != "User.Read" || c["oid"] != inClaims["oid"] || c["appidacr"] != "1" || c["ver"] != "1.0" {
			t.Errorf("aud %s: downstream claims %v", aud, c)
		}
		if res.Account.PreferredUsername != emulator.DefaultUsername {
			t.Errorf("account %+v", res.Account)
		}
	}
	if n := srv.Count(oboCounter); n != 2 {
		t.Errorf("%s = %d, want 2", oboCounter, n)
	}
}

func TestOnBehalfOfErrors(t *testing.T) {
	srv := startOBO(t)
	good := userToken(t, srv, tenantID, emulator.DefaultUsername, clientID, time.Hour)
	c1, _ := certs(t)
	forged := signJWS(t, c1.key, map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{"aud": clientID, "tid": tenantID,
		"iss": srv.Issuer(tenantID), "exp": time.Now().Add(time.Hour).Unix()})
	appOnly := postToken(t, srv, tenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_secret": {secret}, "scope": {"api://" + clientID + "/.default"}})
	if appOnly.status != 200 {
		t.Fatal(appOnly.raw)
	}
	with := func(f url.Values, kv ...string) url.Values {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   int
		oauth  string
	}{
		{name: "expired assertion", form: oboForm(userToken(t, srv, tenantID, emulator.DefaultUsername, clientID, -time.Minute), graphRead),
			status: 400, code: 500133, oauth: "invalid_grant"},
		{name: "foreign audience", form: oboForm(userToken(t, srv, tenantID, emulator.DefaultUsername, "api://someone-else", time.Hour), graphRead),
			status: 400, code: 500131, oauth: "invalid_grant"},
		{name: "forged signature", form: oboForm(forged, graphRead), status: 400, code: 50013, oauth: "invalid_grant"},
		{name: "not a JWT", form: oboForm("not-a-jwt", graphRead), status: 400, code: 50013, oauth: "invalid_grant"},
		{name: "app-only token", form: oboForm(appOnly.body["access_token"].(string), graphRead), status: 400, code: 50013, oauth: "invalid_grant"},
		{name: "token of another tenant", form: oboForm(userToken(t, srv, otherTenant2, emulator.DefaultUsername, clientID, time.Hour), graphRead),
			status: 400, code: 50013, oauth: "invalid_grant"},
		{name: "mfa user", form: oboForm(userToken(t, srv, tenantID, emulator.DefaultMFAUsername, clientID, time.Hour), graphRead),
			status: 400, code: 50076, oauth: "interaction_required"},
		{name: "missing requested_token_use", form: with(oboForm(good, graphRead), "requested_token_use", ""), status: 400, code: 900144, oauth: "invalid_request"},
		{name: "wrong requested_token_use", form: with(oboForm(good, graphRead), "requested_token_use", "other"), status: 400, code: 90023, oauth: "invalid_request"},
		{name: "missing assertion", form: with(oboForm(good, graphRead), "assertion", ""), status: 400, code: 900144, oauth: "invalid_request"},
		{name: "wrong client secret", form: with(oboForm(good, graphRead), "client_secret", "nope"), status: 401, code: 7000215, oauth: "invalid_client"},
		{name: "public client", form: with(oboForm(good, graphRead), "client_id", publicID, "client_secret", ""), status: 401, code: 7000218, oauth: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postToken(t, srv, tenantID, tt.form)
			wantAADSTS(t, r, tt.status, tt.code, tt.oauth)
			if a := tt.form.Get("assertion"); len(a) > 20 && strings.Contains(r.raw, a) {
				t.Error("the error echoes the assertion")
			}
		})
	}
}

// TestOnBehalfOfConditionalAccess: Carol's policy guards Graph only; the
// challenge reaches MSAL's error intact, for the API to relay.
func TestOnBehalfOfConditionalAccess(t *testing.T) {
	srv := startOBO(t)
	in := userToken(t, srv, tenantID, caUsername, "api://"+clientID, time.Hour)
	r := postToken(t, srv, tenantID, oboForm(in, graphRead+" offline_access openid profile"))
	wantAADSTS(t, r, 400, 50076, "interaction_required")
	claims, _ := r.body["claims"].(string)
	var challenge map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(claims), &challenge); err != nil || challenge["access_token"]["capolids"]["essential"] != true {
		t.Fatalf("claims %q: %v", claims, err)
	}

	if r := postToken(t, srv, tenantID, oboForm(in, "https://vault.azure.net/.default")); r.status != 200 {
		t.Fatalf("an unguarded resource: %s", r.raw)
	}

	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	_, err := app.AcquireTokenOnBehalfOf(context.Background(), in, []string{graphRead})
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.StatusCode != 400 || !strings.Contains(err.Error(), "AADSTS50076") {
		t.Fatalf("MSAL error = %v", err)
	}
}

func TestIssueUserTokenErrors(t *testing.T) {
	srv := startOBO(t)
	for _, tt := range []struct{ tenant, user, aud string }{
		{"no-such-tenant", emulator.DefaultUsername, clientID},
		{tenantID, "nobody@contoso.onmicrosoft.com", clientID},
		{tenantID, emulator.DefaultUsername, " "},
	} {
		if _, err := srv.IssueUserToken(tt.tenant, tt.user, tt.aud, time.Hour); err == nil {
			t.Errorf("IssueUserToken(%q, %q, %q) succeeded", tt.tenant, tt.user, tt.aud)
		}
	}
	unstarted, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unstarted.IssueUserToken(tenantID, emulator.DefaultUsername, clientID, time.Hour); err == nil {
		t.Error("IssueUserToken before Start succeeded")
	}
	// Expired tokens are for tests of expiry: VerifyAccessToken refuses them.
	if _, err := srv.VerifyAccessToken(userToken(t, srv, domain, emulator.DefaultUsername, clientID, -time.Minute)); err == nil {
		t.Error("an expired token verified")
	}
}

// TestWebAppAuthorizationCode: a confidential web app signs a user in with
// its exact redirect URI and redeems the code once, with its secret.
func TestWebAppAuthorizationCode(t *testing.T) {
	srv := startOBO(t)
	authURL := func(redirect string) string {
		v := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirect},
			"scope": {"openid profile offline_access " + graphRead}, "state": {"st-web"}, "response_mode": {"query"}}
		return srv.Authority(tenantID) + "/oauth2/v2.0/authorize?" + v.Encode()
	}
	for _, redirect := range []string{"http://localhost:9090/callback", "http://127.0.0.1:8080/callback", webRedirect + "/"} {
		resp, page := signIn(t, srv, authURL(redirect), "", "")
		if resp.StatusCode != 400 || !strings.Contains(page, "AADSTS50011") {
			t.Errorf("redirect %s: page %d:\n%s", redirect, resp.StatusCode, page)
		}
	}

	resp, _ := signIn(t, srv, authURL(webRedirect), emulator.DefaultUsername, emulator.DefaultPassword)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") != "st-web" {
		t.Fatalf("sign-in answer %d %s", resp.StatusCode, loc)
	}
	code := loc.Query().Get("code")
	redeemForm := func(secret string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "client_id": {webAppID}, "client_secret": {secret},
			"code": {code}, "redirect_uri": {webRedirect}, "scope": {graphRead}}
	}
	wantAADSTS(t, postToken(t, srv, tenantID, without(redeemForm(webAppSecret), "client_secret")), 401, 7000218, "invalid_client")
	r := postToken(t, srv, tenantID, redeemForm(webAppSecret))
	if r.status != 200 {
		t.Fatalf("redeem: %s", r.raw)
	}
	if c, err := srv.VerifyAccessToken(r.body["access_token"].(string)); err != nil || c["appid"] != webAppID || c["appidacr"] != "1" {
		t.Errorf("claims %v, %v", c, err)
	}
	wantAADSTS(t, postToken(t, srv, tenantID, redeemForm(webAppSecret)), 400, 54005, "invalid_grant")
}

// without returns a copy of f without key.
func without(f url.Values, key string) url.Values {
	g := url.Values{}
	for k, v := range f {
		if k != key {
			g[k] = v
		}
	}
	return g
}

// TestWebAppCodeLifetime: a code is good for 10 minutes.
func TestWebAppCodeLifetime(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{
		ClientID: webAppID, Name: "web-app", Secrets: []string{webAppSecret}, RedirectURIs: []string{webRedirect},
	})
	srv := emulatortest.StartOptions(t, emulator.Options{Config: cfg, Now: clock.Now})
	code := func(t *testing.T) string {
		t.Helper()
		v := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {webRedirect}, "scope": {graphRead}}
		resp, _ := signIn(t, srv, srv.Authority(tenantID)+"/oauth2/v2.0/authorize?"+v.Encode(), emulator.DefaultUsername, emulator.DefaultPassword)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if c := loc.Query().Get("code"); c != "" {
			return c
		}
		t.Fatalf("no code: %d %s", resp.StatusCode, loc)
		return ""
	}
	redeem := func(code string) response {
		return postToken(t, srv, tenantID, url.Values{"grant_type": {"authorization_code"}, "client_id": {webAppID},
			"client_secret": {webAppSecret}, "code": {code}, "redirect_uri": {webRedirect}, "scope": {graphRead}})
	}
	fresh := code(t)
	clock.Advance(10*time.Minute - time.Second)
	if r := redeem(fresh); r.status != 200 {
		t.Fatalf("a code just under 10 minutes old: %s", r.raw)
	}
	stale := code(t)
	clock.Advance(10 * time.Minute)
	wantAADSTS(t, redeem(stale), 400, 70008, "invalid_grant")
}
