package httpclient

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/boundedio"
)

// counted is a loopback server that counts the requests it got.
type counted struct {
	*httptest.Server
	n atomic.Int64
}

func serve(t *testing.T, tlsOn bool, h http.HandlerFunc) *counted {
	t.Helper()
	c := &counted{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.n.Add(1); h(w, r) })
	if tlsOn {
		c.Server = httptest.NewTLSServer(wrapped)
	} else {
		c.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(c.Close)
	return c
}

func clientFor(t *testing.T, managedIdentity bool, srvs ...*counted) *http.Client {
	t.Helper()
	var roots []byte
	for _, s := range srvs {
		if s.TLS != nil {
			roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})...)
		}
	}
	newc := New
	if managedIdentity {
		newc = NewManagedIdentity
	}
	c, err := newc(roots)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func postSecret(c *http.Client, target, secret string) (*http.Response, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}}
	return c.PostForm(target, form)
}

const secretValue = "s3cr3t/value+with=chars"

// TestPlainHTTPRefused: nothing is sent over plain HTTP, and the error
// names the URL; the managed identity client may reach loopback over
// HTTP, never another host.
func TestPlainHTTPRefused(t *testing.T) {
	plain := serve(t, false, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "{}") })
	_, err := postSecret(clientFor(t, false), plain.URL+"/token?x=1", secretValue)
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Error(), plain.URL+"/token") || strings.Contains(refused.Error(), "x=1") {
		t.Fatalf("POST over http = %v, want a RefusedError naming the URL", err)
	}
	if n := plain.n.Load(); n != 0 {
		t.Fatalf("the plain listener got %d requests, want 0", n)
	}

	mi := clientFor(t, true)
	resp, err := mi.Get(plain.URL + "/metadata/identity/oauth2/token")
	if err != nil {
		t.Fatalf("managed identity client to loopback over http: %v", err)
	}
	resp.Body.Close()
	for _, host := range []string{"http://example.com/", "http://10.0.0.1/", "ftp://127.0.0.1/"} {
		if _, err := mi.Get(host); !errors.As(err, &refused) {
			t.Errorf("managed identity client GET %s = %v, want refused", host, err)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "169.254.169.254": true, "fe80::1": true,
		"10.0.0.1": false, "example.com": false, "169.254.169.254.nip.io": false} {
		if isLocal(host) != want {
			t.Errorf("isLocal(%s) = %v", host, !want)
		}
	}
}

// TestRedirectRules: a redirect to http, and a 307/308 of a request with
// credentials to another origin, are refused before the target sees a
// request; a same-origin redirect and a cross-origin GET without
// credentials are followed.
func TestRedirectRules(t *testing.T) {
	plain := serve(t, false, func(w http.ResponseWriter, r *http.Request) {})
	other := serve(t, true, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "other") })
	var idp *counted
	idp = serve(t, true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, plain.URL+"/token", http.StatusTemporaryRedirect)
		case "/to-other":
			http.Redirect(w, r, other.URL+"/token", http.StatusPermanentRedirect)
		case "/same":
			http.Redirect(w, r, idp.URL+"/final", http.StatusTemporaryRedirect)
		case "/final":
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
		}
	})
	c := clientFor(t, false, idp, other)

	_, err := postSecret(c, idp.URL+"/to-http", secretValue)
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), plain.URL+"/token") || !strings.Contains(err.Error(), idp.URL+"/to-http") {
		t.Errorf("307 to http = %v, want refused naming both URLs", err)
	}
	_, err = postSecret(c, idp.URL+"/to-other", secretValue)
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), other.URL+"/token") || !strings.Contains(err.Error(), "another origin") {
		t.Errorf("308 to another origin = %v, want refused", err)
	}
	req, _ := http.NewRequest(http.MethodGet, idp.URL+"/to-other", nil)
	req.Header.Set("Authorization", "Bearer "+secretValue)
	if _, err := c.Do(req); !errors.As(err, &refused) {
		t.Errorf("GET with Authorization redirected to another origin = %v, want refused", err)
	}
	if plain.n.Load() != 0 || other.n.Load() != 0 {
		t.Fatalf("requests reached the redirect targets: http %d, other origin %d", plain.n.Load(), other.n.Load())
	}

	resp, err := postSecret(c, idp.URL+"/same", secretValue)
	if err != nil {
		t.Fatalf("same-origin 307: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "client_secret=") {
		t.Errorf("same-origin 307 lost the body: %q", b)
	}
	resp, err = c.Get(idp.URL + "/to-other")
	if err != nil {
		t.Fatalf("cross-origin GET without credentials: %v", err)
	}
	resp.Body.Close()
}

// TestAnswersCapped: a 2 GiB answer (declared or not) and an endless
// chunked one end in an error naming the URL and the cap, after reading
// little more than the cap.
func TestAnswersCapped(t *testing.T) {
	chunk := make([]byte, 64<<10)
	stream := func(w http.ResponseWriter, r *http.Request, total int64) {
		for sent := int64(0); total < 0 || sent < total; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return // the client gave up: the point
			}
		}
	}
	srv := serve(t, true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/declared":
			w.Header().Set("Content-Length", fmt.Sprint(int64(2)<<30))
			stream(w, r, 2<<30)
		case "/undeclared":
			w.(http.Flusher).Flush() // chunked, no length
			stream(w, r, 2<<30)
		case "/endless":
			w.(http.Flusher).Flush()
			stream(w, r, -1)
		case "/error":
			w.WriteHeader(http.StatusBadRequest)
			stream(w, r, -1)
		}
	})
	c := clientFor(t, false, srv)
	for _, path := range []string{"/declared", "/undeclared", "/endless", "/error"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader("client_secret="+url.QueryEscape(secretValue)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cancel()
		runtime.ReadMemStats(&after)
		want := "the answer from " + srv.URL + path + " is larger than the 1 MiB limit"
		if !errors.Is(err, boundedio.ErrTooLarge) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: allocated %d MiB for a capped answer", path, alloc>>20)
		}
	}
}

// TestErrorAnswersScrubbed: an error answer that echoes a secret the
// request carried, raw or encoded, reaches the caller with it redacted.
func TestErrorAnswersScrubbed(t *testing.T) {
	srv := serve(t, true, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s := r.PostForm.Get("client_secret")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: %s (%s) [%s]; auth %s"}`,
			s, url.QueryEscape(s), strings.ReplaceAll(s, "/", `\/`), r.Header.Get("Authorization"))
	})
	c := clientFor(t, false, srv)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(url.Values{"client_secret": {secretValue}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "basic-pass-9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, leak := range []string{secretValue, url.QueryEscape(secretValue), "basic-pass-9", "YXBwOmJhc2ljLXBhc3MtOQ"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("the answer still holds %q: %s", leak, b)
		}
	}
	if strings.Count(string(b), Redacted) < 4 || !strings.Contains(string(b), "AADSTS7000215") {
		t.Errorf("answer = %s, want the secret redacted and the rest kept", b)
	}
}
