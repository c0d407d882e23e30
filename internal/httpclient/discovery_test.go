package httpclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiscoveryTransport: off until seeded; then a seeded answer is
// served without a request, a fetched one is kept and handed back once by
// Drain, and stale answers, other paths and requests with credentials
// always reach the server.
func TestDiscoveryTransport(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, `{"from":"server"}`)
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &Discovery{now: func() time.Time { return now }}
	c := &http.Client{Transport: &discoveryTransport{next: http.DefaultTransport, d: d}}
	get := func(path string, header ...string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	const oidc = "/tenant/v2.0/.well-known/openid-configuration"
	if get(oidc); hits.Load() != 1 || len(d.Drain()) != 0 {
		t.Fatalf("off: %d requests, want 1 and nothing kept", hits.Load())
	}
	d.Seed([]DiscoveryEntry{
		{URL: srv.URL + oidc, Body: []byte(`{"from":"host"}`), FetchedOn: now.Add(-time.Hour)},
		{URL: srv.URL + "/common/discovery/instance", Body: []byte(`{"stale":true}`), FetchedOn: now.Add(-25 * time.Hour)},
	})
	if got := get(oidc); got != `{"from":"host"}` || hits.Load() != 1 {
		t.Fatalf("seeded: %q after %d requests", got, hits.Load())
	}
	if got := get(oidc, "Authorization", "Bearer x"); got != `{"from":"server"}` || hits.Load() != 2 {
		t.Fatalf("with credentials: %q after %d requests", got, hits.Load())
	}
	if got := get("/common/discovery/instance"); got != `{"from":"server"}` || hits.Load() != 3 {
		t.Fatalf("stale: %q after %d requests", got, hits.Load())
	}
	if get("/tenant/oauth2/v2.0/token"); hits.Load() != 4 {
		t.Fatalf("token endpoint: %d requests, want 4", hits.Load())
	}
	fresh := d.Drain()
	if len(fresh) != 1 || fresh[0].URL != srv.URL+"/common/discovery/instance" || string(fresh[0].Body) != `{"from":"server"}` || !fresh[0].FetchedOn.Equal(now) {
		t.Fatalf("drained %+v, want the refetched instance discovery", fresh)
	}
	if again := d.Drain(); len(again) != 0 {
		t.Fatalf("second drain %+v", again)
	}
	if got := get("/common/discovery/instance"); got != `{"from":"server"}` || hits.Load() != 4 {
		t.Fatalf("kept answer: %q after %d requests", got, hits.Load())
	}
}
