package httpclient

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	tests := []struct {
		name    string
		extra   []byte
		wantErr string // from New
		getErr  bool   // from the request
	}{
		{name: "system roots only do not trust the test server", extra: nil, getErr: true},
		{name: "extra root is trusted", extra: caPEM},
		{name: "extra root among other blocks", extra: append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), caPEM...)},
		{name: "no certificate block", extra: []byte("not pem at all"), wantErr: "no PEM CERTIFICATE block"},
		{name: "certificate block that does not parse", extra: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantErr: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if c.Timeout != 0 {
				t.Errorf("client Timeout = %v, want 0 (contexts bound calls)", c.Timeout)
			}
			tr, ok := BaseTransport(c)
			g, guarded := c.Transport.(*guardTransport)
			if !guarded {
				t.Fatalf("transport %T: want the guard over discovery over retries over an *http.Transport", c.Transport)
			}
			d, disc := g.next.(*discoveryTransport)
			if !disc || d.d != SharedDiscovery {
				t.Fatalf("transport %T: want the guard over the shared discovery over retries over an *http.Transport", g.next)
			}
			if _, retries := d.next.(*retryTransport); !ok || !retries {
				t.Fatalf("transport %T: want the guard over discovery over retries over an *http.Transport", d.next)
			}
			if tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 30*time.Second || !tr.ForceAttemptHTTP2 || tr.Proxy == nil {
				t.Errorf("transport settings = handshake %v, header %v, h2 %v, proxy set %v", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout, tr.ForceAttemptHTTP2, tr.Proxy != nil)
			}
			resp, err := c.Get(srv.URL)
			if tt.getErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("GET succeeded, want a certificate error")
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != "HTTP/2.0" {
				t.Errorf("protocol = %q, want HTTP/2.0", body)
			}
		})
	}
}
