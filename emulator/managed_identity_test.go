package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/credhost/credhost/emulator"
)

// imdsClient is an HTTP client that sends MSAL's requests for the
// link-local IMDS address to the emulator, which is how a client points
// MSAL at another IMDS: MSAL has no setting for it.
func imdsClient(srv *emulator.Server) *http.Client {
	target, _ := url.Parse(srv.IMDSEndpoint())
	base := srv.HTTPClient().Transport
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = target.Scheme, target.Host, ""
		return base.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// noMSISource clears the variables MSAL reads to pick a source, so that it
// picks IMDS whatever the machine running the test has.
func noMSISource(t *testing.T) {
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
	}
}

// TestManagedIdentityMSAL gets tokens with the unmodified MSAL
// managedidentity client from both sources and every kind of identity.
// MSAL caches managed identity tokens process-wide by identity and
// resource, so each case asks for a resource of its own.
func TestManagedIdentityMSAL(t *testing.T) {
	srv := start(t)
	sys := verifyMI(t, srv, "imds", managedidentity.SystemAssigned(), "api://mi-system")
	if sys["appid"] != emulator.SystemAssignedClientID || sys["xms_mirid"] != emulator.SystemAssignedResourceID {
		t.Errorf("system-assigned claims = %v", sys)
	}
	byClient := verifyMI(t, srv, "imds", managedidentity.UserAssignedClientID(clientID), "api://mi-client")
	oid, _ := byClient["oid"].(string)
	if byClient["appid"] != clientID || oid == "" {
		t.Fatalf("user-assigned claims = %v", byClient)
	}
	for name, id := range map[string]managedidentity.ID{
		"object id":   managedidentity.UserAssignedObjectID(oid),
		"resource id": managedidentity.UserAssignedResourceID(emulator.UserAssignedResourceID("credhost-demo")),
	} {
		for _, source := range []string{"imds", "appservice"} {
			c := verifyMI(t, srv, source, id, "api://mi-"+source+"-"+strings.ReplaceAll(name, " ", "-"))
			if c["appid"] != clientID || c["oid"] != oid {
				t.Errorf("%s by %s: claims = %v", source, name, c)
			}
		}
	}
	verifyMI(t, srv, "appservice", managedidentity.SystemAssigned(), "api://mi-appservice-system")
	if srv.Count("imds") != 4 || srv.Count("appservice") != 3 {
		t.Errorf("counts imds=%d appservice=%d, want 4 and 3", srv.Count("imds"), srv.Count("appservice"))
	}
}

// verifyMI gets a token from source and returns its verified claims.
func verifyMI(t *testing.T, srv *emulator.Server, source string, id managedidentity.ID, resource string) map[string]any {
	t.Helper()
	c := miClient(t, srv, source, id)
	res, err := c.AcquireToken(context.Background(), resource)
	if err != nil {
		t.Fatalf("%s: AcquireToken(%s): %v", source, resource, err)
	}
	if time.Until(res.ExpiresOn) < 30*time.Minute {
		t.Errorf("%s: expires on %v, want about an hour from now", source, res.ExpiresOn)
	}
	claims, err := srv.VerifyAccessToken(res.AccessToken)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	if claims["aud"] != resource || claims["tid"] != tenantID || claims["idtyp"] != "app" {
		t.Errorf("%s: claims = %v", source, claims)
	}
	return claims
}

func miClient(t *testing.T, srv *emulator.Server, source string, id managedidentity.ID, opts ...managedidentity.ClientOption) managedidentity.Client {
	t.Helper()
	noMSISource(t)
	hc := imdsClient(srv)
	if source == "appservice" {
		t.Setenv("IDENTITY_ENDPOINT", srv.IdentityEndpoint())
		t.Setenv("IDENTITY_HEADER", emulator.IdentityHeader)
		hc = srv.HTTPClient()
	}
	c, err := managedidentity.New(id, append([]managedidentity.ClientOption{managedidentity.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestManagedIdentityErrors(t *testing.T) {
	srv := start(t)
	t.Run("unknown identity", func(t *testing.T) {
		for _, source := range []string{"imds", "appservice"} {
			c := miClient(t, srv, source, managedidentity.UserAssignedClientID("00000000-0000-4000-8000-00000000dead"))
			_, err := c.AcquireToken(context.Background(), "api://mi-unknown-"+source)
			if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "Identity not found") {
				t.Errorf("%s: err = %v, want 400 Identity not found", source, err)
			}
		}
	})
	t.Run("wrong identity header", func(t *testing.T) {
		c := miClient(t, srv, "appservice", managedidentity.SystemAssigned())
		t.Setenv("IDENTITY_HEADER", "canary-wrong-header")
		_, err := c.AcquireToken(context.Background(), "api://mi-wrong-header")
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "canary-wrong-header") {
			t.Errorf("err = %v, want a 401 that does not echo the header", err)
		}
	})

	get := func(t *testing.T, endpoint string, header http.Header) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
		req.Header = header
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	meta := http.Header{"Metadata": {"true"}}
	tests := []struct {
		name     string
		endpoint string
		header   http.Header
		status   int
		want     string
	}{
		{"imds without Metadata header", srv.IMDSEndpoint() + "?api-version=2018-02-01&resource=api://x", nil, 400, "metadata header"},
		{"imds without api-version", srv.IMDSEndpoint() + "?resource=api://x", meta, 400, "api-version"},
		{"imds without resource", srv.IMDSEndpoint() + "?api-version=2018-02-01", meta, 400, "audience"},
		{"imds with two selectors", srv.IMDSEndpoint() + "?api-version=2018-02-01&resource=api://x&client_id=" + clientID + "&object_id=x", meta, 400, "Only one"},
		{"appservice without header", srv.IdentityEndpoint() + "?api-version=2019-08-01&resource=api://x", nil, 401, "X-IDENTITY-HEADER"},
		{"appservice old api-version", srv.IdentityEndpoint() + "?api-version=2017-09-01&resource=api://x", http.Header{"X-Identity-Header": {emulator.IdentityHeader}}, 400, "api-version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, tt.endpoint, tt.header)
			text, _ := json.Marshal(body)
			if status != tt.status || !strings.Contains(string(text), tt.want) {
				t.Errorf("status %d body %s, want %d containing %q", status, text, tt.status, tt.want)
			}
		})
	}
}

// TestManagedIdentityFault: the identity endpoints take faults like every
// endpoint, and MSAL retries IMDS's 503.
func TestManagedIdentityFault(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "imds", Status: http.StatusServiceUnavailable, Times: 1})
	verifyMI(t, srv, "imds", managedidentity.SystemAssigned(), "api://mi-fault")
	if n := srv.Count("imds"); n != 2 {
		t.Errorf("imds count = %d, want 2 (a 503, then the retry)", n)
	}
}
