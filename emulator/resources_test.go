package emulator_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// strictConfig is testConfig as Entra ID behaves: no resources registered
// on first use, no automatic consent. The demo apps keep their consents
// (Graph User.Read, the other first-party services' user_impersonation)
// except the public client's to api://resource.
func strictConfig() emulator.Config {
	cfg := testConfig()
	cfg.Tenants[0].AutoRegisterResources = false
	cfg.Tenants[0].AutoConsent = false
	pub := &cfg.Tenants[0].Apps[1]
	pub.Permissions = slices.DeleteFunc(pub.Permissions, func(p emulator.Permission) bool { return p.Resource == resourceID })
	return cfg
}

func ccForm(resource string) url.Values {
	f := secretForm(secret)
	f.Set("scope", resource+"/.default")
	return f
}

func ropcForm(scope string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {publicID}, "username": {emulator.DefaultUsername},
		"password": {emulator.DefaultPassword}, "scope": {scope}}
}

// TestTokenVersions: first-party resources get v1.0 tokens whose "aud" is
// the identifier URI as requested, a resource with
// accessTokenAcceptedVersion 2 gets v2.0 tokens whose "aud" is its client
// id; V1Resources and V2Resources override, and VerifyAccessToken
// accepts both shapes.
func TestTokenVersions(t *testing.T) {
	srv := start(t)
	v1iss := "https://sts.windows.net/" + tenantID + "/"
	for _, tc := range []struct {
		srv      *emulator.Server
		resource string
		want     map[string]any
		absent   []string
	}{
		{srv, "https://storage.azure.com", map[string]any{"iss": v1iss, "idp": v1iss, "ver": "1.0", "aud": "https://storage.azure.com",
			"appid": clientID, "appidacr": "1", "idtyp": "app"}, []string{"azp", "azpacr", "scp"}},
		{srv, "https://management.core.windows.net/", map[string]any{"ver": "1.0", "aud": "https://management.core.windows.net/"}, nil},
		{srv, emulator.GraphAppID, map[string]any{"ver": "1.0", "aud": emulator.GraphAppID}, nil},
		{srv, "api://resource", map[string]any{"iss": srv.Issuer(tenantID), "ver": "2.0", "aud": resourceID, "azp": clientID, "azpacr": "1"},
			[]string{"appid", "appidacr", "idp", "scp"}},
		{emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), V1Resources: []string{"API://resource/"}}), "api://resource",
			map[string]any{"ver": "1.0", "aud": "api://resource"}, nil},
		{emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), V2Resources: []string{"https://storage.azure.com"}}), "https://storage.azure.com",
			map[string]any{"ver": "2.0", "aud": emulator.StorageAppID}, nil},
	} {
		r := postToken(t, tc.srv, tenantID, ccForm(tc.resource))
		if r.status != 200 {
			t.Fatalf("%s: %s", tc.resource, r.raw)
		}
		c, err := tc.srv.VerifyAccessToken(r.body["access_token"].(string))
		if err != nil {
			t.Fatalf("%s: VerifyAccessToken: %v", tc.resource, err)
		}
		for k, v := range tc.want {
			if c[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.resource, k, c[k], v)
			}
		}
		for _, k := range append(tc.absent, "roles") {
			if _, ok := c[k]; ok {
				t.Errorf("%s: unexpected claim %s", tc.resource, k)
			}
		}
		for _, k := range []string{"aio", "rh", "uti", "oid", "sub", "tid"} {
			if s, _ := c[k].(string); s == "" {
				t.Errorf("%s: no %s claim", tc.resource, k)
			}
		}
	}

	// A user token for storage is v1.0 with the v1 user claims.
	r := postToken(t, srv, tenantID, ropcForm("https://storage.azure.com/user_impersonation"))
	c, err := srv.VerifyAccessToken(r.body["access_token"].(string))
	if err != nil || c["iss"] != v1iss || c["ver"] != "1.0" || c["unique_name"] != emulator.DefaultUsername ||
		c["upn"] != emulator.DefaultUsername || c["preferred_username"] != nil || c["azp"] != nil {
		t.Errorf("v1 user token: claims %v, err %v", c, err)
	}
}

// TestUnknownResource: a resource nobody registered is AADSTS500011
// invalid_resource at the token endpoint and the identity endpoint, in a
// tenant that does not register resources on first use.
func TestUnknownResource(t *testing.T) {
	srv := emulatortest.Start(t, strictConfig())
	wantAADSTS(t, postToken(t, srv, tenantID, ccForm("api://nobody")), 400, 500011, "invalid_resource")
	wantAADSTS(t, postToken(t, srv, tenantID, ropcForm("api://nobody/read")), 400, 500011, "invalid_resource")
	if _, err := srv.IssueUserToken(tenantID, emulator.DefaultUsername, "api://nobody", 0); err == nil {
		t.Error("IssueUserToken for an unknown audience succeeded")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.IMDSEndpoint()+"?api-version=2018-02-01&resource=api://nobody", nil)
	req.Header.Set("Metadata", "true")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("IMDS for an unknown resource: HTTP %d", resp.StatusCode)
	}
	// The default directory registers it instead.
	if r := postToken(t, start(t), tenantID, ccForm("api://nobody")); r.status != 200 {
		t.Errorf("default directory: %s", r.raw)
	}
}

// TestConsent: a delegated permission nobody consented to is AADSTS65001
// consent_required for a non-interactive grant, a permission the resource
// does not expose is AADSTS650053; ".default" is what was consented (for
// Graph, User.Read, not user_impersonation); a consent given on a sign-in
// page (device code) lets later refreshes through.
func TestConsent(t *testing.T) {
	srv := emulatortest.Start(t, strictConfig())
	r := postToken(t, srv, tenantID, ropcForm("api://resource/read"))
	wantAADSTS(t, r, 400, 65001, "invalid_grant")
	if r.body["suberror"] != "consent_required" {
		t.Errorf("suberror = %v", r.body["suberror"])
	}
	wantAADSTS(t, postToken(t, srv, tenantID, ropcForm("api://resource/write")), 400, 650053, "invalid_scope")
	wantAADSTS(t, postToken(t, srv, tenantID, ropcForm("api://resource/.default")), 400, 65001, "invalid_grant")

	r = postToken(t, srv, tenantID, ropcForm("https://graph.microsoft.com/.default"))
	if c, err := srv.VerifyAccessToken(r.body["access_token"].(string)); err != nil || c["scp"] != "User.Read" {
		t.Errorf("graph .default: %v %v", c, err)
	}

	// The user consents on the device code page.
	dc := deviceCode(t, srv, tenantID, publicID)
	if err := srv.ApproveDeviceCode(dc.body["user_code"].(string), emulator.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	tok := poll(t, srv, dc.body["device_code"].(string), "device_code")
	if tok.status != 200 {
		t.Fatalf("device code: %s", tok.raw)
	}
	refresh := func(scope string) response {
		return postToken(t, srv, tenantID, url.Values{"grant_type": {"refresh_token"}, "client_id": {publicID},
			"refresh_token": {tok.body["refresh_token"].(string)}, "scope": {scope}})
	}
	if r := refresh("api://resource/.default"); r.status != 200 {
		t.Errorf("refresh after consent: %s", r.raw)
	} else if c, _ := srv.VerifyAccessToken(r.body["access_token"].(string)); c["scp"] != "access_as_user" {
		t.Errorf("scp after consent = %v", c["scp"])
	}
	wantAADSTS(t, refresh("api://resource/read"), 400, 65001, "invalid_grant")
}

// TestAppRoles: an app-only token carries the app roles assigned to the
// client that the resource defines, and no scp; without assignments, no
// roles claim.
func TestAppRoles(t *testing.T) {
	cfg := strictConfig()
	cfg.Tenants[0].Apps[0].Permissions = append(cfg.Tenants[0].Apps[0].Permissions,
		emulator.Permission{Resource: resourceID, Roles: []string{"Data.Read", "Undefined.Role"}},
		emulator.Permission{Resource: "https://graph.microsoft.com", Roles: []string{"User.Read.All"}})
	srv := emulatortest.Start(t, cfg)
	for resource, want := range map[string]string{"api://resource": "Data.Read", "https://graph.microsoft.com": "User.Read.All"} {
		r := postToken(t, srv, tenantID, ccForm(resource))
		c, err := srv.VerifyAccessToken(r.body["access_token"].(string))
		roles, _ := c["roles"].([]any)
		if err != nil || len(roles) != 1 || roles[0] != want || c["scp"] != nil {
			t.Errorf("%s: claims %v, err %v", resource, c, err)
		}
	}
	r := postToken(t, srv, tenantID, ccForm("https://vault.azure.net"))
	if c, err := srv.VerifyAccessToken(r.body["access_token"].(string)); err != nil || c["roles"] != nil {
		t.Errorf("vault: claims %v, err %v", c, err)
	}
}

// TestAllowPublicClientFlows: a confidential app asking for ROPC or a
// device code without its credential is AADSTS7000218, unless it allows
// public client flows; client credentials still need the credential.
func TestAllowPublicClientFlows(t *testing.T) {
	form := func(grant, client string) url.Values {
		f := ropcForm("https://graph.microsoft.com/User.Read")
		f.Set("client_id", client)
		f.Set("grant_type", grant)
		return f
	}
	const fallback = "66666666-6666-4666-8666-666666666666"
	cfg := testConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: fallback, Name: "fallback", Secrets: []string{"s"},
		AllowPublicClientFlows: true})
	srv := emulatortest.Start(t, cfg)
	wantAADSTS(t, postToken(t, srv, tenantID, form("password", clientID)), 401, 7000218, "invalid_client")
	if r := postToken(t, srv, tenantID, form("password", fallback)); r.status != 200 {
		t.Errorf("ROPC with public client fallback: %s", r.raw)
	}
	f := form("client_credentials", fallback)
	f.Set("scope", "https://graph.microsoft.com/.default")
	wantAADSTS(t, postToken(t, srv, tenantID, f), 401, 7000218, "invalid_client")
}
