package emulator_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
)

const certClient = "44444444-4444-4444-8444-444444444444"

// certServer registers certClient with the first test certificate.
func certServer(t *testing.T) *emulator.Server {
	t.Helper()
	srv := start(t)
	c, _ := certs(t)
	if err := srv.AddApp(tenantID, emulator.App{ClientID: certClient, Certificates: []string{c.pem}}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func certAssertionForm(a string) url.Values {
	f := assertionForm(a)
	f.Set("client_id", certClient)
	return f
}

func TestClientAssertion(t *testing.T) {
	srv := certServer(t)
	registered, other := certs(t)
	aud := tokenEndpoint(srv, tenantID)
	self := map[string]any{"iss": certClient, "sub": certClient}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{"iss": certClient, "sub": certClient}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	now := time.Now()
	for _, tc := range []struct {
		name       string
		assertion  string
		tenant     string
		status     int
		code       int
		oauthError string
	}{
		{"ok", assertion(t, registered.key, registered.cert, aud, self), tenantID, 200, 0, ""},
		{"aud with domain", assertion(t, registered.key, registered.cert, tokenEndpoint(srv, domain), self), tenantID, 200, 0, ""},
		{"domain path, GUID aud", assertion(t, registered.key, registered.cert, aud, self), domain, 200, 0, ""},
		{"unregistered key and cert", assertion(t, other.key, other.cert, aud, self), tenantID, 401, 700027, "invalid_client"},
		{"registered thumbprint, wrong key", assertion(t, other.key, registered.cert, aud, self), tenantID, 401, 700027, "invalid_client"},
		{"no thumbprint", assertion(t, registered.key, nil, aud, self), tenantID, 401, 700027, "invalid_client"},
		{"expired", assertion(t, registered.key, registered.cert, aud, with(map[string]any{
			"nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})), tenantID, 401, 700024, "invalid_client"},
		{"not yet valid", assertion(t, registered.key, registered.cert, aud, with(map[string]any{
			"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})), tenantID, 401, 700024, "invalid_client"},
		{"nbf within skew", assertion(t, registered.key, registered.cert, aud, with(map[string]any{
			"nbf": now.Add(2 * time.Minute).Unix()})), tenantID, 200, 0, ""},
		{"wrong aud", assertion(t, registered.key, registered.cert, "https://login.microsoftonline.com/x/oauth2/v2.0/token", self), tenantID, 401, 700023, "invalid_client"},
		{"sub differs", assertion(t, registered.key, registered.cert, aud, with(map[string]any{"sub": "someone"})), tenantID, 401, 700021, "invalid_client"},
		{"no jti", assertion(t, registered.key, registered.cert, aud, with(map[string]any{"jti": nil})), tenantID, 400, 50027, "invalid_request"},
		{"no exp", assertion(t, registered.key, registered.cert, aud, with(map[string]any{"exp": nil})), tenantID, 400, 50027, "invalid_request"},
		{"garbage", "not.a.jwt", tenantID, 400, 50027, "invalid_request"},
		{"garbage json", "eyJ9.eyJ9.AAAA", tenantID, 400, 50027, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := postToken(t, srv, tc.tenant, certAssertionForm(tc.assertion))
			if tc.name == "unregistered key and cert" {
				// Entra ID prints the thumbprint as upper-case hex.
				s1, s256 := sha1.Sum(other.cert.Raw), sha256.Sum256(other.cert.Raw)
				desc, _ := r.body["error_description"].(string)
				if !strings.Contains(desc, "'"+strings.ToUpper(hex.EncodeToString(s1[:]))+"'") &&
					!strings.Contains(desc, "'"+strings.ToUpper(hex.EncodeToString(s256[:]))+"'") {
					t.Errorf("thumbprint not in upper-case hex: %s", desc)
				}
			}
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			wantAADSTS(t, r, tc.status, tc.code, tc.oauthError)
		})
	}
}

func TestClientAssertionSHA1Thumbprint(t *testing.T) {
	srv := certServer(t)
	c, _ := certs(t)
	tp := sha1.Sum(c.cert.Raw)
	a := signJWS(t, c.key, map[string]any{"alg": "RS256", "x5t": base64.RawURLEncoding.EncodeToString(tp[:])},
		map[string]any{"aud": tokenEndpoint(srv, tenantID), "iss": certClient, "sub": certClient, "jti": "1",
			"exp": time.Now().Add(time.Minute).Unix()})
	if r := postToken(t, srv, tenantID, certAssertionForm(a)); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}

func TestClientIDFromAssertion(t *testing.T) {
	srv := certServer(t)
	c, _ := certs(t)
	f := certAssertionForm(assertion(t, c.key, c.cert, tokenEndpoint(srv, tenantID), map[string]any{"iss": certClient, "sub": certClient}))
	f.Del("client_id")
	if r := postToken(t, srv, tenantID, f); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}

func TestFederatedAssertion(t *testing.T) {
	srv := start(t)
	const id = "55555555-5555-4555-8555-555555555555"
	if err := srv.AddApp(tenantID, emulator.App{ClientID: id, FederatedCredentials: []emulator.FederatedCredential{
		{Subject: "repo:credhost/credhost:ref:refs/heads/main", Audience: "api://custom"}, // empty issuer: the emulator's own
	}}); err != nil {
		t.Fatal(err)
	}
	issue := func(sub, aud string, life time.Duration) string {
		tok, err := srv.IssueFederatedToken(sub, aud, life)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := issue("repo:credhost/credhost:ref:refs/heads/main", "api://custom", time.Hour)
	tampered := good[:len(good)-4] + "AAAA"
	for _, tc := range []struct {
		name      string
		assertion string
		status    int
		code      int
	}{
		{"ok", good, 200, 0},
		{"wrong subject", issue("repo:evil/evil:ref:refs/heads/main", "api://custom", time.Hour), 400, 70021},
		{"wrong audience", issue("repo:credhost/credhost:ref:refs/heads/main", "", time.Hour), 400, 70021},
		{"expired", issue("repo:credhost/credhost:ref:refs/heads/main", "api://custom", -time.Minute), 401, 700024},
		{"tampered", tampered, 401, 700027},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := assertionForm(tc.assertion)
			f.Set("client_id", id)
			r := postToken(t, srv, tenantID, f)
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			if r.status != tc.status || aadstsCode(r) != tc.code {
				t.Fatalf("got %d AADSTS%d, want %d AADSTS%d: %s", r.status, aadstsCode(r), tc.status, tc.code, r.raw)
			}
		})
	}
}

func TestClientAuthentication(t *testing.T) {
	srv := start(t)
	const public = "66666666-6666-4666-8666-666666666666"
	if err := srv.AddApp(tenantID, emulator.App{ClientID: public, Public: true}); err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass)) }
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		tenant string
		auth   func(*http.Request)
		status int
		code   int
		oauth  string
	}{
		{"secret", secretForm(secret), tenantID, nil, 200, 0, ""},
		{"basic", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, tenantID, basic(clientID, secret), 200, 0, ""},
		{"basic wrong", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, tenantID, basic(clientID, "x"), 401, 7000215, "invalid_client"},
		{"secret and basic", secretForm(secret), tenantID, basic(clientID, secret), 400, 90023, "invalid_request"},
		{"wrong secret", secretForm("nope"), tenantID, nil, 401, 7000215, "invalid_client"},
		{"no credential", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {scope}}, tenantID, nil, 401, 7000218, "invalid_client"},
		{"no client id", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, tenantID, nil, 400, 900144, "invalid_request"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}, "client_secret": {"y"}, "scope": {scope}}, tenantID, nil, 400, 700016, "unauthorized_client"},
		{"unknown tenant", secretForm(secret), "fabrikam.com", nil, 400, 90002, "invalid_request"},
		{"organizations", secretForm(secret), "organizations", nil, 400, 50059, "invalid_request"},
		{"public with secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {public}, "client_secret": {"s"}, "scope": {scope}}, tenantID, nil, 401, 700025, "invalid_client"},
		{"public without secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {public}, "scope": {scope}}, tenantID, nil, 401, 7000218, "invalid_client"},
		{"no grant", url.Values{"client_id": {clientID}}, tenantID, nil, 400, 900144, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"magic"}}, tenantID, nil, 400, 70003, "unsupported_grant_type"},
		{"no scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}, tenantID, nil, 400, 70011, "invalid_scope"},
		{"only oidc scopes", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {"openid profile offline_access"}}, tenantID, nil, 400, 70011, "invalid_scope"},
		{"bare .default", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {"/.default"}}, tenantID, nil, 400, 70011, "invalid_scope"},
		{"bad assertion type", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_assertion_type": {"x"}, "client_assertion": {"y"}, "scope": {scope}}, tenantID, nil, 400, 90023, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tokenEndpoint(srv, tc.tenant), strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth != nil {
				tc.auth(req)
			}
			r := do(t, srv, req)
			if tc.status == 200 {
				if r.status != 200 || r.body["token_type"] != "Bearer" || r.body["access_token"] == nil {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				if _, ok := r.body["refresh_token"]; ok {
					t.Error("client credentials returned a refresh token")
				}
				if r.body["expires_in"] != float64(3600) || r.body["ext_expires_in"] != float64(3600) {
					t.Errorf("expires_in %v ext_expires_in %v", r.body["expires_in"], r.body["ext_expires_in"])
				}
				return
			}
			wantAADSTS(t, r, tc.status, tc.code, tc.oauth)
		})
	}
}

func TestErrorEchoesCorrelationID(t *testing.T) {
	srv := start(t)
	req, _ := http.NewRequest(http.MethodPost, tokenEndpoint(srv, tenantID), strings.NewReader(secretForm("wrong").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	const cid = "0b2e8a43-8b6e-4b0a-9f4e-0d3e8a4c1f00"
	req.Header.Set("client-request-id", cid)
	r := do(t, srv, req)
	desc, _ := r.body["error_description"].(string)
	if r.body["correlation_id"] != cid || !strings.Contains(desc, "Correlation ID: "+cid) || r.header.Get("client-request-id") != cid {
		t.Fatalf("correlation id not echoed: %s", r.raw)
	}
	if !strings.HasPrefix(desc, "AADSTS7000215: ") {
		t.Fatalf("error_description = %q", desc)
	}
}

func TestHugeBody(t *testing.T) {
	srv := start(t)
	body := "grant_type=client_credentials&junk=" + strings.Repeat("a", 2<<20)
	req, _ := http.NewRequest(http.MethodPost, tokenEndpoint(srv, tenantID), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(t, srv, req)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}
