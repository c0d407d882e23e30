package emulator_test

import (
	"net/url"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// TestV1Resources: tokens for a resource listed in Options.V1Resources
// are v1.0 tokens with the public cloud's v1 issuer, as Entra ID issues for
// Azure Storage; other resources keep v2.0 tokens, and VerifyAccessToken
// accepts both.
func TestV1Resources(t *testing.T) {
	const storage = "https://storage.azure.com"
	// Listed with other case and a trailing slash: Entra ID matches
	// identifier URIs that way.
	srv := emulatortest.StartOptions(t, emulator.Options{V1Resources: []string{"https://Storage.azure.com/"}})
	form := secretForm(secret)
	form.Set("scope", storage+"/.default")
	r := postToken(t, srv, tenantID, form)
	if r.status != 200 {
		t.Fatalf("token: %s", r.raw)
	}
	c, err := srv.VerifyAccessToken(r.body["access_token"].(string))
	if err != nil {
		t.Fatalf("VerifyAccessToken of a v1 token: %v", err)
	}
	v1iss := "https://sts.windows.net/" + tenantID + "/"
	for claim, want := range map[string]any{
		"iss": v1iss, "idp": v1iss, "ver": "1.0", "aud": storage, "tid": tenantID,
		"appid": clientID, "appidacr": "1", "idtyp": "app",
	} {
		if c[claim] != want {
			t.Errorf("%s = %v, want %v", claim, c[claim], want)
		}
	}
	for _, claim := range []string{"azp", "azpacr"} {
		if _, ok := c[claim]; ok {
			t.Errorf("v1 token has the v2 claim %s", claim)
		}
	}

	// Another resource on the same server: v2.0 as before.
	r = postToken(t, srv, tenantID, secretForm(secret))
	c, err = srv.VerifyAccessToken(r.body["access_token"].(string))
	if err != nil || c["iss"] != srv.Issuer(tenantID) || c["ver"] != "2.0" {
		t.Errorf("v2 token: claims %v, err %v", c, err)
	}

	// A user token for the resource is v1.0 too.
	dc := deviceCode(t, srv, tenantID, publicID)
	_ = srv.ApproveDeviceCode(dc.body["user_code"].(string), emulator.DefaultUsername)
	tok := poll(t, srv, dc.body["device_code"].(string), "device_code")
	rr := postToken(t, srv, tenantID, url.Values{"grant_type": {"refresh_token"}, "client_id": {publicID},
		"refresh_token": {tok.body["refresh_token"].(string)}, "scope": {storage + "/user_impersonation"}})
	c, err = srv.VerifyAccessToken(rr.body["access_token"].(string))
	if err != nil || c["iss"] != v1iss || c["ver"] != "1.0" || c["unique_name"] != emulator.DefaultUsername || c["preferred_username"] != nil {
		t.Errorf("v1 user token: claims %v, err %v", c, err)
	}

	// Without the option the same request gets a v2.0 token.
	plain := start(t)
	r = postToken(t, plain, tenantID, form)
	if c, err := plain.VerifyAccessToken(r.body["access_token"].(string)); err != nil || c["ver"] != "2.0" || c["iss"] != plain.Issuer(tenantID) {
		t.Errorf("default server: claims %v, err %v", c, err)
	}
}
