package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

const carol, carolPassword = "carol@contoso.onmicrosoft.com", "carol-password"

// TestClaimsChallenge: a conditional access policy on a resource answers
// a user grant with AADSTS50076 interaction_required and a claims
// challenge; the same request carrying that challenge as "claims"
// succeeds (also through unmodified MSAL Go's WithClaims), a malformed
// claims parameter is AADSTS50117, and the client capability cp1 is
// echoed in the token's xms_cc.
func TestClaimsChallenge(t *testing.T) {
	cfg := testConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: carol, Password: carolPassword,
		ConditionalAccess: []string{"api://resource"}})
	srv := emulatortest.Start(t, cfg)
	form := func(user, claims string) url.Values {
		f := ropcForm("api://resource/access_as_user")
		f.Set("username", user)
		f.Set("password", carolPassword)
		if claims != "" {
			f.Set("claims", claims)
		}
		return f
	}
	r := postToken(t, srv, tenantID, form(carol, ""))
	wantAADSTS(t, r, 400, 50076, "interaction_required")
	challenge, _ := r.body["claims"].(string)
	var parsed map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(challenge), &parsed); err != nil || parsed["access_token"]["capolids"] == nil {
		t.Fatalf("challenge %q", challenge)
	}
	r = postToken(t, srv, tenantID, form(carol, challenge))
	if r.status != 200 {
		t.Fatalf("with the challenge's claims: %s", r.raw)
	}
	c, err := srv.VerifyAccessToken(r.body["access_token"].(string))
	if err != nil || c["acrs"] == nil {
		t.Errorf("stepped-up token %v, %v", c, err)
	}
	// Another policy's id does not satisfy it.
	wantAADSTS(t, postToken(t, srv, tenantID, form(carol, `{"access_token":{"capolids":{"essential":true,"values":["x"]}}}`)),
		400, 50076, "interaction_required")

	for _, bad := range []string{"not-json{", `["access_token"]`, `{"access_token":"x"}`} {
		wantAADSTS(t, postToken(t, srv, tenantID, form(carol, bad)), 400, 50117, "invalid_request")
		cc := ccForm("api://resource")
		cc.Set("claims", bad)
		wantAADSTS(t, postToken(t, srv, tenantID, cc), 400, 50117, "invalid_request")
	}

	dc := url.Values{"client_id": {publicID}, "scope": {"api://resource/access_as_user"}, "claims": {"not-json{"}}
	req, _ := http.NewRequest(http.MethodPost, srv.Authority(tenantID)+"/oauth2/v2.0/devicecode", strings.NewReader(dc.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantAADSTS(t, do(t, srv, req), 400, 50117, "invalid_request")

	// CAE: cp1 is echoed, for a user without policy.
	f := ropcForm("api://resource/access_as_user")
	f.Set("claims", `{"access_token":{"xms_cc":{"values":["cp1"]}}}`)
	r = postToken(t, srv, tenantID, f)
	c, err = srv.VerifyAccessToken(r.body["access_token"].(string))
	if cc, _ := c["xms_cc"].([]any); err != nil || len(cc) != 1 || cc[0] != "cp1" {
		t.Errorf("xms_cc: %v, %v", c, err)
	}

	// Unmodified MSAL Go: the challenge surfaces in its error; WithClaims
	// with the challenge, and client capabilities, get the token.
	app, err := public.New(publicID, public.WithAuthority(srv.Authority(tenantID)), public.WithHTTPClient(srv.HTTPClient()),
		public.WithInstanceDiscovery(false), public.WithClientCapabilities([]string{"cp1"}))
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"api://resource/access_as_user"}
	if _, err := app.AcquireTokenByUsernamePassword(t.Context(), scopes, carol, carolPassword); err == nil { //nolint:staticcheck
		t.Fatal("MSAL got a token without answering the challenge")
	}
	res, err := app.AcquireTokenByUsernamePassword(t.Context(), scopes, carol, carolPassword, public.WithClaims(challenge)) //nolint:staticcheck
	if err != nil {
		t.Fatalf("MSAL WithClaims: %v", err)
	}
	c, err = srv.VerifyAccessToken(res.AccessToken)
	if cc, _ := c["xms_cc"].([]any); err != nil || c["acrs"] == nil || len(cc) != 1 || cc[0] != "cp1" {
		t.Errorf("MSAL token claims %v, %v", c, err)
	}
}
