package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/sdk"
)

// hostileSecret is the client secret the hostile endpoints try to obtain
// or echo; the emulator's app does not know it (no token is expected).
const hostileSecret = "canary-hostile-secret-4b7d"

// listener is a loopback server that counts its requests.
type listener struct {
	*httptest.Server
	n atomic.Int64
}

func listen(t *testing.T, tlsOn bool, h http.HandlerFunc) *listener {
	t.Helper()
	l := &listener{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.n.Add(1); h(w, r) })
	if tlsOn {
		l.Server = httptest.NewTLSServer(wrapped)
	} else {
		l.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(l.Close)
	return l
}

// hostileDiscovery makes the emulator's discovery document name
// tokenEndpoint, then runs clientcreds with hostileSecret against it,
// trusting the emulator and extra's TLS certificate, and returns the
// classified error.
func hostileDiscovery(t *testing.T, tokenEndpoint string, extra *listener) error {
	t.Helper()
	p := startIdP(t)
	hc, err := httpclient.New(p.srv.CACertPEM())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(p.srv.Authority(emulator.DefaultTenantID) + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	doc["token_endpoint"] = tokenEndpoint
	b, _ := json.Marshal(doc)
	p.srv.InjectFault(emulator.Fault{Endpoint: "discovery", Body: string(b)})

	cfg := p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", hostileSecret))
	if extra != nil && extra.TLS != nil {
		cfg.CACertificates = append(append([]byte{}, cfg.CACertificates...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: extra.Certificate().Raw})...)
	}
	f := configured(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tok, err := getToken(ctx, f, &sdk.MemoryCache{}, sdk.TokenRequest{})
	if err == nil {
		t.Fatalf("GetToken() = token for %v, want an error", tok.ExpiresOn)
	}
	if strings.Contains(err.Error(), hostileSecret) {
		t.Fatalf("the error holds the client secret: %v", err)
	}
	return err
}

// TestDowngradeByDiscovery: an https authority whose discovery names an
// http:// token endpoint never gets the secret sent there.
func TestDowngradeByDiscovery(t *testing.T) {
	plain := listen(t, false, func(w http.ResponseWriter, r *http.Request) {})
	err := hostileDiscovery(t, plain.URL+"/oauth2/v2.0/token", nil)
	if !strings.Contains(err.Error(), "refused to send a request to "+plain.URL+"/oauth2/v2.0/token") || sdk.KindOf(err) != sdk.KindFailed {
		t.Errorf("GetToken() = %v, want a refusal naming the http URL", err)
	}
	if n := plain.n.Load(); n != 0 {
		t.Fatalf("the http token endpoint got %d requests, want 0", n)
	}
}

// TestDowngradeByRedirect: a token endpoint answering 307 to http://
// (or 308 to another https origin) never gets the secret re-sent.
func TestDowngradeByRedirect(t *testing.T) {
	plain := listen(t, false, func(w http.ResponseWriter, r *http.Request) {})
	other := listen(t, true, func(w http.ResponseWriter, r *http.Request) {})
	for target, want := range map[string]string{
		plain.URL + "/token": "a URL that is not https",
		other.URL + "/token": "to another origin would carry the request's credentials there",
	} {
		status := http.StatusTemporaryRedirect
		if strings.HasPrefix(target, "https") {
			status = http.StatusPermanentRedirect
		}
		redirector := listen(t, true, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, status) })
		err := hostileDiscovery(t, redirector.URL+"/token", redirector)
		if !strings.Contains(err.Error(), target) || !strings.Contains(err.Error(), want) {
			t.Errorf("GetToken() via a redirect to %s = %v, want %q", target, err, want)
		}
		if redirector.n.Load() == 0 {
			t.Errorf("the redirecting token endpoint got no request: the test tests nothing")
		}
	}
	if plain.n.Load() != 0 || other.n.Load() != 0 {
		t.Fatalf("redirect targets got requests: http %d, other origin %d; want 0", plain.n.Load(), other.n.Load())
	}
}

// TestEchoedSecretScrubbed: an error_description that echoes the client
// secret reaches the error with the secret redacted.
func TestEchoedSecretScrubbed(t *testing.T) {
	echo := listen(t, true, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_codes": []int{7000215},
			"error_description": "AADSTS7000215: Invalid client secret provided: " + r.PostForm.Get("client_secret")})
	})
	err := hostileDiscovery(t, echo.URL+"/token", echo)
	if echo.n.Load() == 0 || !strings.Contains(err.Error(), "Invalid client secret provided: "+httpclient.Redacted) {
		t.Fatalf("GetToken() = %v, want the echoed secret redacted", err)
	}
}

// TestHugeAnswers: a 2 GiB and an endless token answer end in a clear
// error naming the URL and the cap, without reading them whole.
func TestHugeAnswers(t *testing.T) {
	chunk := make([]byte, 64<<10)
	huge := listen(t, true, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/declared" {
			w.Header().Set("Content-Length", fmt.Sprint(int64(2)<<30))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	for _, path := range []string{"/declared", "/endless"} {
		started := time.Now()
		err := hostileDiscovery(t, huge.URL+path, huge)
		want := "the answer from " + huge.URL + path + " is larger than the 1 MiB limit"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("GetToken() = %v, want %q", err, want)
		}
		t.Logf("%s: failed after %v", path, time.Since(started).Round(time.Millisecond))
	}
}

// TestTenYearExpiresIn: a token answer with a ten-year expires_in is
// served from the flow's MSAL cache (no second request) with at most
// sdk.MaxTokenLifetime left: the cache the plugin keeps in memory is
// capped as well as the host's.
func TestTenYearExpiresIn(t *testing.T) {
	p := startIdP(t)
	p.srv.InjectFault(emulator.Fault{Endpoint: "token", Times: 1,
		Body: `{"token_type":"Bearer","expires_in":315360000,"ext_expires_in":315360000,"access_token":"ten-year-token"}`})
	f := configured(t, p.config(emulator.DefaultClientID, nil, secretsOf("client_secret", emulator.DefaultClientSecret)))
	for i := range 3 {
		tok, err := getToken(context.Background(), f, &sdk.MemoryCache{}, sdk.TokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken.Reveal() != "ten-year-token" {
			t.Fatalf("call %d: not the ten-year token", i)
		}
		if i > 0 && tok.ExpiresOn.After(time.Now().Add(sdk.MaxTokenLifetime+time.Minute)) {
			t.Errorf("call %d: cached token expires in %v, want at most %v", i, time.Until(tok.ExpiresOn).Round(time.Hour), sdk.MaxTokenLifetime)
		}
	}
	if n := p.srv.Count("token"); n != 1 {
		t.Errorf("token endpoint calls = %d, want 1 (the second answer from the cache)", n)
	}
}
