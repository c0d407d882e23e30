package emulator_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/emulator"
)

func TestFault503ThenSuccess(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", Status: http.StatusServiceUnavailable, Times: 1})
	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	_, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("first call: err = %v, want a 503", err)
	}
	if _, err := app.AcquireTokenByCredential(t.Context(), []string{scope}); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if got := srv.Count("token:client_credentials"); got != 2 {
		t.Errorf("token:client_credentials = %d, want 2 (faulted request included)", got)
	}
}

func TestFault429RetryAfter(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, RetryAfter: "3", Times: 1})
	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	_, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
	var callErr msalerrors.CallErr
	if !errors.As(err, &callErr) {
		t.Fatalf("err = %v, want a CallErr", err)
	}
	if callErr.Resp.StatusCode != http.StatusTooManyRequests || callErr.Resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("status %d, Retry-After %q", callErr.Resp.StatusCode, callErr.Resp.Header.Get("Retry-After"))
	}
	// The fault applied once.
	r := postToken(t, srv, tenantID, secretForm(secret))
	if r.status != 200 {
		t.Fatalf("fault outlived Times: %d %s", r.status, r.raw)
	}
}

func TestFaultDrop(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", Drop: true, Times: 1})
	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	if _, err := app.AcquireTokenByCredential(t.Context(), []string{scope}); err == nil {
		t.Fatal("dropped request succeeded")
	}
	if _, err := app.AcquireTokenByCredential(t.Context(), []string{scope}); err != nil {
		t.Fatalf("after drop: %v", err)
	}
}

// TestFaultDropHTTP1 checks the hijack path with a client that does not
// speak HTTP/2.
func TestFaultDropHTTP1(t *testing.T) {
	srv := start(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CACertPEM())
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	srv.InjectFault(emulator.Fault{Endpoint: "token", Drop: true, Times: 1})
	resp, err := hc.PostForm(tokenEndpoint(srv, tenantID), secretForm(secret))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d", resp.StatusCode)
	}
	resp, err = hc.PostForm(tokenEndpoint(srv, tenantID), secretForm(secret))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("after drop: %s %d", resp.Proto, resp.StatusCode)
	}
}

func TestFaultMatchingAndTimes(t *testing.T) {
	srv := start(t)
	discovery := "/" + tenantID + "/v2.0/.well-known/openid-configuration"
	srv.InjectFault(emulator.Fault{Endpoint: "discovery", Status: 500, Times: 2})
	srv.InjectFault(emulator.Fault{Endpoint: "token", Status: 503, Times: 1})
	if r := postToken(t, srv, tenantID, secretForm(secret)); r.status != 503 || aadstsCode(r) != 90033 || r.body["error"] != "temporarily_unavailable" {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	if r := postToken(t, srv, tenantID, secretForm(secret)); r.status != 200 {
		t.Fatalf("token after fault: %d %s", r.status, r.raw)
	}
	for i := 0; i < 2; i++ {
		if r := get(t, srv, discovery); r.status != 500 || r.body["error"] != "server_error" {
			t.Fatalf("discovery %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := get(t, srv, discovery); r.status != 200 {
		t.Fatalf("discovery after faults: %d", r.status)
	}
	if srv.Count("discovery") != 3 {
		t.Errorf("discovery count = %d, want 3", srv.Count("discovery"))
	}

	// Times 0 lasts until cleared; "" matches every endpoint.
	srv.InjectFault(emulator.Fault{Status: 503})
	for i := 0; i < 3; i++ {
		if r := get(t, srv, "/"+tenantID+"/discovery/v2.0/keys"); r.status != 503 {
			t.Fatalf("keys %d: %d", i, r.status)
		}
	}
	srv.ClearFaults()
	if r := get(t, srv, "/"+tenantID+"/discovery/v2.0/keys"); r.status != 200 {
		t.Fatalf("after ClearFaults: %d", r.status)
	}
}

func TestFaultLatency(t *testing.T) {
	srv := start(t)
	srv.InjectFault(emulator.Fault{Endpoint: "token", Latency: 200 * time.Millisecond, Times: 1})
	began := time.Now()
	r := postToken(t, srv, tenantID, secretForm(secret))
	if r.status != 200 {
		t.Fatalf("latency-only fault changed the answer: %d %s", r.status, r.raw)
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	// A latency fault gives way to the client's deadline.
	srv.InjectFault(emulator.Fault{Endpoint: "token", Latency: time.Hour, Times: 1})
	hc := *srv.HTTPClient()
	hc.Timeout = 100 * time.Millisecond
	if _, err := hc.PostForm(tokenEndpoint(srv, tenantID), url.Values{}); err == nil {
		t.Fatal("no timeout")
	}
}
