package emulator_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// TestRoutesAsEntra: paths are case-insensitive (MSAL Python's lower-case
// user realm path finds the federated user), the v1.0 discovery document
// answers for a tenant given by domain, instance discovery keeps the
// authority's port, and AD FS discovery and the workload issuer's
// discovery answer with JWKS that hold the signing key.
func TestRoutesAsEntra(t *testing.T) {
	cfg := fedConfig()
	srv := emulatortest.Start(t, cfg)

	// User realm, as MSAL Go and MSAL Python spell it.
	for _, p := range []string{"/common/UserRealm/", "/common/userrealm/", "/COMMON/USERREALM/"} {
		r := get(t, srv, p+url.PathEscape(fedUser)+"?api-version=1.0")
		if r.status != 200 || r.body["account_type"] != "Federated" {
			t.Errorf("%s: %d %s", p, r.status, r.raw)
		}
	}
	// Token endpoint in other case.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/"+strings.ToUpper(domain)+"/OAuth2/V2.0/Token", strings.NewReader(ccForm("api://resource").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, srv, req); r.status != 200 {
		t.Errorf("upper-case token path: %d %s", r.status, r.raw)
	}
	if r := get(t, srv, "/no/such/endpoint"); r.status != 404 {
		t.Errorf("unknown path: %d", r.status)
	}

	// v1.0 discovery by domain: the v1 issuer, and JWKS with the key.
	r := get(t, srv, "/"+domain+"/.well-known/openid-configuration")
	if r.status != 200 || r.body["issuer"] != "https://sts.windows.net/"+tenantID+"/" ||
		!strings.HasSuffix(r.body["token_endpoint"].(string), "/"+tenantID+"/oauth2/token") {
		t.Fatalf("v1 discovery: %d %s", r.status, r.raw)
	}
	v2 := get(t, srv, "/"+domain+"/v2.0/.well-known/openid-configuration")
	if v2.body["issuer"] != srv.Issuer(tenantID) {
		t.Errorf("v2 discovery issuer %v", v2.body["issuer"])
	}
	kid := func(jwksURI string) any {
		t.Helper()
		var keys struct{ Keys []struct{ Kid string } }
		getJSON(t, srv, jwksURI, &keys)
		if len(keys.Keys) != 1 {
			t.Fatalf("%s: %d keys", jwksURI, len(keys.Keys))
		}
		return keys.Keys[0].Kid
	}
	want := kid(v2.body["jwks_uri"].(string))
	if got := kid(r.body["jwks_uri"].(string)); got != want {
		t.Errorf("v1 JWKS kid %v, v2 %v", got, want)
	}

	// AD FS and workload issuer discovery.
	for _, p := range []string{"/adfs/.well-known/openid-configuration", "/federation/.well-known/openid-configuration"} {
		d := get(t, srv, p)
		iss, _ := d.body["issuer"].(string)
		if d.status != 200 || !strings.HasSuffix(iss, strings.TrimSuffix(p, "/.well-known/openid-configuration")) {
			t.Fatalf("%s: %d %s", p, d.status, d.raw)
		}
		if got := kid(d.body["jwks_uri"].(string)); got != want {
			t.Errorf("%s: JWKS kid %v, want %v", p, got, want)
		}
	}
	if d := get(t, srv, "/federation/.well-known/openid-configuration"); d.body["issuer"] != srv.FederationIssuer() {
		t.Errorf("workload issuer %v, want %s", d.body["issuer"], srv.FederationIssuer())
	}

	// Instance discovery keeps the port of the authority.
	host := strings.TrimPrefix(srv.URL(), "https://")
	_, port, _ := strings.Cut(host, ":")
	ae := "https://localhost:" + port + "/" + tenantID + "/oauth2/v2.0/authorize"
	d := get(t, srv, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape(ae))
	if d.status != 200 || d.body["tenant_discovery_endpoint"] != "https://localhost:"+port+"/"+tenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery: %d %s", d.status, d.raw)
	}
}

// TestFederationTokenEndpoint: POST /federation/token mints a workload
// token a federated credential with an empty issuer trusts.
func TestFederationTokenEndpoint(t *testing.T) {
	const id, subject = "77777777-7777-4777-8777-777777777777", "system:serviceaccount:ns:name"
	cfg := testConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: id, Name: "wl",
		FederatedCredentials: []emulator.FederatedCredential{{Subject: subject}}})
	srv := emulatortest.Start(t, cfg)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+emulator.FederationTokenPath, strings.NewReader("subject="+url.QueryEscape(subject)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(t, srv, req)
	tok, _ := r.body["token"].(string)
	if r.status != 200 || tok == "" {
		t.Fatalf("federation token: %d %s", r.status, r.raw)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "scope": {"api://resource/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tok}}
	if r := postToken(t, srv, tenantID, form); r.status != 200 {
		t.Errorf("client credentials with the workload token: %s", r.raw)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL()+emulator.FederationTokenPath, strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantAADSTS(t, do(t, srv, req), 400, 900144, "invalid_request")
}

// lowerUserRealm sends the user realm request with a lower-case path, as
// MSAL Python and the Azure CLI do, and counts such requests.
type lowerUserRealm struct {
	next http.RoundTripper
	n    *int
}

func (l lowerUserRealm) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/common/UserRealm/") {
		r = r.Clone(r.Context())
		r.URL.Path = strings.ToLower(r.URL.Path)
		r.URL.RawPath = ""
		*l.n++
	}
	return l.next.RoundTrip(r)
}

// TestFederatedSignInLowerCaseUserRealm: a federated user signs in
// (user realm, MEX, WS-Trust, SAML bearer) with MSAL Go whose user realm
// requests go out in lower case.
func TestFederatedSignInLowerCaseUserRealm(t *testing.T) {
	srv, hc := startFed(t)
	n := 0
	hc = &http.Client{Transport: lowerUserRealm{next: hc.Transport, n: &n}}
	app, err := public.New(emulator.DefaultPublicClientID, public.WithAuthority(srv.Authority(tenantID)),
		public.WithHTTPClient(hc), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByUsernamePassword(t.Context(), []string{"api://resource/access_as_user"}, fedUser, fedPassword) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	if c, err := srv.VerifyAccessToken(res.AccessToken); err != nil || c["preferred_username"] != fedUser || n == 0 {
		t.Errorf("claims %v, err %v, lower-case user realm requests %d", c, err, n)
	}
}
