package identityendpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/identityendpoint"
	"github.com/credhost/credhost/internal/testkit/sdkclient"
)

// storage is Azure Storage's resource; the emulator issues v1.0 tokens
// for it, as Entra ID does and as Azurite requires.
const storage = "https://storage.azure.com"

// endpoint is a running identity endpoint in front of a clientcreds
// profile against the emulator (the plugin runs as a real process).
type endpoint struct {
	srv  *emulator.Server
	ep   *identityendpoint.Server
	base string // IDENTITY_ENDPOINT
}

func startEndpoint(t *testing.T, resources ...string) *endpoint {
	t.Helper()
	srv := emulatortest.StartOptions(t, emulator.Options{V1Resources: []string{storage}})
	client := sdkclient.ClientCreds(t, srv)
	ep, err := identityendpoint.Listen("127.0.0.1:0", identityendpoint.Options{
		Credential: client, Profile: "app", ClientID: emulator.DefaultClientID, Resources: resources,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ep.Serve() }()
	t.Cleanup(func() { _ = ep.Close() })
	return &endpoint{srv: srv, ep: ep, base: ep.Endpoint()}
}

// get sends a request the way App Service clients do, with header as the
// X-IDENTITY-HEADER ("" for none).
func (e *endpoint) get(t *testing.T, header string, params url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(identityendpoint.HeaderName, header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("status %d, body %q is not JSON", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// TestAzidentityManagedIdentityCredential: Go azidentity's own
// ManagedIdentityCredential, told only IDENTITY_ENDPOINT and
// IDENTITY_HEADER, gets a credhost token (issued by the emulator to the
// profile's app) through the endpoint, and so does DefaultAzureCredential.
func TestAzidentityManagedIdentityCredential(t *testing.T) {
	e := startEndpoint(t)
	t.Setenv(identityendpoint.EnvEndpoint, e.base)
	t.Setenv(identityendpoint.EnvHeader, e.ep.Secret().Reveal())
	for _, n := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "MSI_ENDPOINT", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT"} {
		t.Setenv(n, "")
		os.Unsetenv(n)
	}
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	// DefaultAzureCredential reaches managed identity once environment and
	// workload identity find nothing; "prod" keeps az out of it.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "prod")
	dac, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, cred := range map[string]azcore.TokenCredential{"ManagedIdentityCredential": mi, "DefaultAzureCredential": dac} {
		e.srv.ResetCounts()
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{storage + "/.default"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		claims, err := e.srv.VerifyAccessToken(tok.Token)
		if err != nil || claims["aud"] != storage || claims["appid"] != emulator.DefaultClientID {
			t.Fatalf("%s: claims %v, err %v", name, claims, err)
		}
		if tok.ExpiresOn.IsZero() {
			t.Errorf("%s: no expiry", name)
		}
	}
}

// TestRefusals: without the header, with a wrong one, for a resource not
// served, for another identity: refused with App Service's error body,
// and the emulator issues nothing.
func TestRefusals(t *testing.T) {
	e := startEndpoint(t, storage)
	ok := url.Values{"api-version": {identityendpoint.APIVersion}, "resource": {storage}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		q.Set(k, v)
		return q
	}
	secret := e.ep.Secret().Reveal()
	tests := []struct {
		name   string
		header string
		params url.Values
		status int
		msg    string
	}{
		{"no header", "", ok, http.StatusUnauthorized, "missing X-IDENTITY-HEADER"},
		{"wrong header", secret + "x", ok, http.StatusForbidden, "wrong X-IDENTITY-HEADER"},
		{"old api version", secret, with("api-version", "2017-09-01"), http.StatusBadRequest, "api-version"},
		{"no resource", secret, with("resource", ""), http.StatusBadRequest, "missing resource"},
		{"resource not served", secret, with("resource", "https://vault.azure.net"), http.StatusForbidden, `resource "https://vault.azure.net" is not served`},
		{"another client id", secret, with("client_id", "99999999-9999-4999-8999-999999999999"), http.StatusBadRequest, "client_id"},
		{"a principal id", secret, with("principal_id", "99999999-9999-4999-8999-999999999999"), http.StatusBadRequest, "principal_id"},
	}
	e.srv.ResetCounts()
	for _, tt := range tests {
		status, body := e.get(t, tt.header, tt.params)
		if status != tt.status || body["statusCode"] != float64(tt.status) || !strings.Contains(fmt.Sprint(body["message"]), tt.msg) || body["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %q", tt.name, status, body, tt.status, tt.msg)
		}
		if strings.Contains(fmt.Sprint(body), secret) {
			t.Errorf("%s: the answer holds the secret", tt.name)
		}
	}
	if n := e.srv.Count("token:client_credentials"); n != 0 {
		t.Fatalf("the emulator issued %d tokens for refused requests", n)
	}

	// The same request with the header: a token, in App Service's shape.
	status, body := e.get(t, secret, with("client_id", strings.ToUpper(emulator.DefaultClientID)))
	if status != http.StatusOK || body["resource"] != storage || body["token_type"] != "Bearer" || body["client_id"] != emulator.DefaultClientID {
		t.Fatalf("%d %v", status, body)
	}
	if exp, _ := body["expires_on"].(string); len(exp) < 10 || strings.Trim(exp, "0123456789") != "" {
		t.Errorf("expires_on %q is not epoch seconds as a string", exp)
	}
}

// TestListenLoopbackOnly: the endpoint refuses to listen anywhere else.
func TestListenLoopbackOnly(t *testing.T) {
	cred := core.CredentialFunc(func(context.Context, core.TokenRequest) (core.Token, error) {
		t.Error("a token was asked for")
		return core.Token{}, nil
	})
	for _, addr := range []string{"0.0.0.0:0", ":0", "localhost:0", "192.0.2.1:0"} {
		if s, err := identityendpoint.Listen(addr, identityendpoint.Options{Credential: cred}); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
}
