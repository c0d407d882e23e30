package emulator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// checkAppToken verifies an app-only token from the emulator.
func checkAppToken(t *testing.T, srv *emulator.Server, tok, client, azpacr string) map[string]any {
	t.Helper()
	claims, err := srv.VerifyAccessToken(tok)
	if err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	want := map[string]any{
		"aud": resourceID, "iss": srv.Issuer(tenantID), "tid": tenantID, "azp": client,
		"azpacr": azpacr, "ver": "2.0", "idtyp": "app",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if claims["oid"] == "" || claims["oid"] != claims["sub"] {
		t.Errorf("oid %v, sub %v", claims["oid"], claims["sub"])
	}
	return claims
}

func TestMSALClientSecret(t *testing.T) {
	srv := start(t)
	for _, tenant := range []string{tenantID, domain} {
		t.Run(tenant, func(t *testing.T) {
			app := newConfidential(t, srv, tenant, clientID, secretCred(t, secret))
			res, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			claims := checkAppToken(t, srv, res.AccessToken, clientID, "1")
			if _, ok := claims["roles"]; ok {
				t.Errorf("roles present without app roles: %v", claims["roles"])
			}
			// The second call is answered from MSAL's cache.
			before := srv.Count("token")
			if _, err := app.AcquireTokenByCredential(t.Context(), []string{scope}); err != nil {
				t.Fatal(err)
			}
			if srv.Count("token") != before {
				t.Error("MSAL did not cache the token")
			}
		})
	}
}

func TestMSALCertificate(t *testing.T) {
	srv := start(t)
	c, _ := certs(t)
	const id = "22222222-2222-4222-8222-222222222222"
	if err := srv.AddApp(tenantID, emulator.App{ClientID: id, Name: "cert-app", Certificates: []string{c.pem},
		Permissions: []emulator.Permission{{Resource: "api://resource", Roles: []string{"Data.Read", "Not.Defined"}}}}); err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{c.cert}, c.key)
	if err != nil {
		t.Fatal(err)
	}
	app := newConfidential(t, srv, tenantID, id, cred)
	res, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	claims := checkAppToken(t, srv, res.AccessToken, id, "2")
	if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "Data.Read" {
		t.Errorf("roles = %v", claims["roles"])
	}
}

func TestMSALFederatedAssertion(t *testing.T) {
	srv := start(t)
	const id = "33333333-3333-4333-8333-333333333333"
	const subject = "system:serviceaccount:default:workload"
	err := srv.AddApp(domain, emulator.App{ClientID: id, FederatedCredentials: []emulator.FederatedCredential{
		{Issuer: srv.FederationIssuer(), Subject: subject},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cred := confidential.NewCredFromAssertionCallback(func(_ context.Context, o confidential.AssertionRequestOptions) (string, error) {
		if o.ClientID != id {
			t.Errorf("callback client id %q", o.ClientID)
		}
		return srv.IssueFederatedToken(subject, "", 0)
	})
	app := newConfidential(t, srv, tenantID, id, cred)
	res, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	checkAppToken(t, srv, res.AccessToken, id, "2")
}

func TestMSALErrors(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		name, client, secret, scope, want string
	}{
		{"wrong secret", clientID, "not-the-secret", scope, "AADSTS7000215"},
		{"unknown client", "99999999-9999-4999-8999-999999999999", secret, scope, "AADSTS700016"},
		{"bad scope", clientID, secret, "api://resource/read", "AADSTS70011"},
		{"two resources", clientID, secret, "api://a/.default api://b/.default", "AADSTS70011"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newConfidential(t, srv, tenantID, tc.client, secretCred(t, tc.secret))
			scopes := strings.Fields(tc.scope)
			_, err := app.AcquireTokenByCredential(t.Context(), scopes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestMSALInstanceDiscoveryOn routes every host to the emulator, as an
// embedder could, and leaves MSAL's instance discovery on.
func TestMSALInstanceDiscoveryOn(t *testing.T) {
	srv := emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), Hostnames: []string{"login.microsoftonline.com", "idp.credhost.test"}})
	addr := strings.TrimPrefix(srv.URL(), "https://")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CACertPEM())
	var d net.Dialer
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
	app, err := confidential.New("https://idp.credhost.test/"+tenantID, clientID, secretCred(t, secret), confidential.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	if srv.Count("instance_discovery") == 0 {
		t.Errorf("instance discovery count = %d", srv.Count("instance_discovery"))
	}
	claims, err := srv.VerifyAccessToken(res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://idp.credhost.test/" + tenantID + "/v2.0"; claims["iss"] != want {
		t.Errorf("iss = %v, want %s", claims["iss"], want)
	}
}
