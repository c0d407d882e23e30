package emulator_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDiscoveryShape(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		tenant, pathTenant, issuerTenant string
	}{
		{tenantID, tenantID, tenantID},
		{strings.ToUpper(tenantID), tenantID, tenantID},
		{domain, tenantID, tenantID},
		{"organizations", "organizations", "{tenantid}"},
		{"common", "common", "{tenantid}"},
		{"consumers", "consumers", "{tenantid}"},
	} {
		t.Run(tc.tenant, func(t *testing.T) {
			r := get(t, srv, "/"+tc.tenant+"/v2.0/.well-known/openid-configuration")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			base := srv.URL() + "/" + tc.pathTenant
			want := map[string]string{
				"issuer":                        srv.URL() + "/" + tc.issuerTenant + "/v2.0",
				"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
				"token_endpoint":                base + "/oauth2/v2.0/token",
				"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
				"jwks_uri":                      base + "/discovery/v2.0/keys",
			}
			for k, v := range want {
				if r.body[k] != v {
					t.Errorf("%s = %v, want %s", k, r.body[k], v)
				}
			}
			// MSAL derives the device endpoint by replacing "token" in the
			// token endpoint: only the last segment may contain it.
			te := r.body["token_endpoint"].(string)
			if got := strings.Replace(te, "token", "devicecode", -1); got != want["device_authorization_endpoint"] {
				t.Errorf("token endpoint %q has \"token\" outside the last segment", te)
			}
		})
	}
}

func TestDiscoveryUsesRequestHost(t *testing.T) {
	srv := start(t)
	u, _ := url.Parse(srv.URL())
	req, _ := http.NewRequest(http.MethodGet, "https://localhost:"+u.Port()+"/"+tenantID+"/v2.0/.well-known/openid-configuration", nil)
	r := do(t, srv, req)
	if want := "https://localhost:" + u.Port() + "/" + tenantID + "/v2.0"; r.body["issuer"] != want {
		t.Fatalf("issuer = %v, want %s", r.body["issuer"], want)
	}
}

func TestDiscoveryUnknownTenant(t *testing.T) {
	srv := start(t)
	r := get(t, srv, "/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	wantAADSTS(t, r, http.StatusBadRequest, 90002, "invalid_tenant")
	desc, _ := r.body["error_description"].(string)
	if !strings.HasPrefix(desc, "AADSTS90002: Tenant 'fabrikam.onmicrosoft.com' not found.") {
		t.Errorf("error_description = %q", desc)
	}
	for _, k := range []string{"timestamp", "trace_id", "correlation_id", "error_uri"} {
		if s, _ := r.body[k].(string); s == "" {
			t.Errorf("%s missing: %s", k, r.raw)
		}
	}
	for _, part := range []string{"\r\nTrace ID: ", "\r\nCorrelation ID: ", "\r\nTimestamp: "} {
		if !strings.Contains(desc, part) {
			t.Errorf("error_description lacks %q: %q", part, desc)
		}
	}
}

func TestKeys(t *testing.T) {
	srv := start(t)
	for _, tenant := range []string{tenantID, domain, "common"} {
		r := get(t, srv, "/"+tenant+"/discovery/v2.0/keys")
		keys, _ := r.body["keys"].([]any)
		if r.status != http.StatusOK || len(keys) != 1 {
			t.Fatalf("%s: status %d: %s", tenant, r.status, r.raw)
		}
		k := keys[0].(map[string]any)
		for _, f := range []string{"kid", "x5t", "n", "e"} {
			if s, _ := k[f].(string); s == "" {
				t.Errorf("%s: key has no %s", tenant, f)
			}
		}
		if k["kty"] != "RSA" || k["kid"] != k["x5t"] {
			t.Errorf("%s: key = %v", tenant, k)
		}
		if e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string)); len(e) == 0 {
			t.Errorf("bad e %v", k["e"])
		}
	}
	wantAADSTS(t, get(t, srv, "/nope/discovery/v2.0/keys"), http.StatusBadRequest, 90002, "invalid_tenant")
}

func TestInstanceDiscovery(t *testing.T) {
	srv := start(t)
	ae := srv.URL() + "/" + tenantID + "/oauth2/v2.0/authorize"
	r := get(t, srv, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape(ae))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if want := srv.URL() + "/" + tenantID + "/v2.0/.well-known/openid-configuration"; r.body["tenant_discovery_endpoint"] != want {
		t.Errorf("tenant_discovery_endpoint = %v, want %s", r.body["tenant_discovery_endpoint"], want)
	}
	md := r.body["metadata"].([]any)[0].(map[string]any)
	if host := strings.TrimPrefix(srv.URL(), "https://"); md["preferred_network"] != host {
		t.Errorf("preferred_network = %v, want %s", md["preferred_network"], host)
	}
	r = get(t, srv, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape("https://evil.example/x/oauth2/v2.0/authorize"))
	wantAADSTS(t, r, http.StatusBadRequest, 50049, "invalid_instance")
}

func TestNotFoundAndMethod(t *testing.T) {
	srv := start(t)
	r := get(t, srv, "/no/such/path")
	if r.status != http.StatusNotFound || r.body["error"] != "not_found" {
		t.Errorf("unknown path: %d %s", r.status, r.raw)
	}
	r = get(t, srv, "/"+tenantID+"/oauth2/v2.0/token")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET token: %d %s", r.status, r.raw)
	}
}
