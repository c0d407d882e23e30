package emulator_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
)

// rawPost posts form to the token endpoint and returns status and body.
func rawPost(t *testing.T, srv *emulator.Server, form url.Values) (int, string) {
	t.Helper()
	resp, err := srv.HTTPClient().PostForm(tokenEndpoint(srv, tenantID), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFaultBody(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", Body: `{"access_token":"eyJ`, Times: 1})
	if status, body := rawPost(t, srv, secretForm(secret)); status != 200 || body != `{"access_token":"eyJ` {
		t.Fatalf("answer %d %q, want the malformed body with 200", status, body)
	}
	srv.InjectFault(emulator.Fault{Endpoint: "token", Body: "<html>bad gateway</html>", Status: 502, Times: 1})
	if status, body := rawPost(t, srv, secretForm(secret)); status != 502 || body != "<html>bad gateway</html>" {
		t.Fatalf("answer %d %q", status, body)
	}
	if r := postToken(t, srv, tenantID, secretForm(secret)); r.status != 200 || r.body["access_token"] == nil {
		t.Fatalf("after the faults: %d %s", r.status, r.raw)
	}
}

func TestFaultOmitFields(t *testing.T) {
	srv := start(t)
	omit := []string{"access_token", "expires_in"}
	srv.InjectFault(emulator.Fault{Endpoint: "token", OmitFields: omit, Times: 1})
	omit[0] = "token_type" // the emulator kept its own copy
	r := postToken(t, srv, tenantID, secretForm(secret))
	if r.status != 200 || r.body["access_token"] != nil || r.body["expires_in"] != nil || r.body["token_type"] == nil {
		t.Fatalf("answer %d %s, want a token response without access_token and expires_in", r.status, r.raw)
	}
	// An error answer loses the field too; a non-object is left alone.
	srv.InjectFault(emulator.Fault{Endpoint: "token", OmitFields: []string{"error_codes"}, Times: 1})
	r = postToken(t, srv, tenantID, url.Values{"grant_type": {"client_credentials"}})
	if r.status != 400 || r.body["error"] == nil || r.body["error_codes"] != nil {
		t.Fatalf("answer %d %s", r.status, r.raw)
	}
}

func TestFaultSlowBody(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", SlowBody: 100 * time.Millisecond, Times: 1})
	if r := postToken(t, srv, tenantID, secretForm(secret)); r.status != 200 || r.body["access_token"] == nil {
		t.Fatalf("slow answer %d %s, want the whole token response", r.status, r.raw)
	}
	// A client that gives up mid-body gets the headers and half a body.
	srv.InjectFault(emulator.Fault{Endpoint: "token", SlowBody: time.Hour, Times: 1})
	hc := *srv.HTTPClient()
	hc.Timeout = 500 * time.Millisecond
	resp, err := hc.PostForm(tokenEndpoint(srv, tenantID), secretForm(secret))
	if err != nil {
		t.Fatalf("headers did not arrive: %v", err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the stalled body was read to the end")
	}
	if srv.Count("token") != 2 {
		t.Errorf("token count = %d, want 2", srv.Count("token"))
	}
}

func TestFailTLSHandshakes(t *testing.T) {
	srv := start(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CACertPEM())
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	srv.FailTLSHandshakes(2)
	for i := range 2 {
		_, err := newClient().Get(srv.URL() + "/common/discovery/instance")
		var alert tls.AlertError
		if err == nil {
			t.Fatalf("handshake %d succeeded", i)
		}
		_ = errors.As(err, &alert) // the alert's type varies by Go version; failing is what counts
	}
	resp, err := newClient().Get(srv.URL() + "/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(srv.Authority(tenantID)+"/oauth2/v2.0/authorize"))
	if err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	resp.Body.Close()
	if srv.Count("tls_handshake_fault") != 2 || srv.Count("instance_discovery") != 1 {
		t.Errorf("tls_handshake_fault %d, instance_discovery %d; want 2 and 1", srv.Count("tls_handshake_fault"), srv.Count("instance_discovery"))
	}
}
