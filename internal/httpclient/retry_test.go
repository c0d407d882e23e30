package httpclient

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// answer is what the test server does for one request.
type answer struct {
	status     int
	retryAfter string
	body       string
	reset      bool // close the connection without an answer
}

// script is a test server that answers requests in order from its
// answers (the last one repeats) and counts requests and dials.
type script struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	n       int
	dials   atomic.Int32
}

func newScript(t *testing.T, answers ...answer) *script {
	t.Helper()
	s := &script{answers: answers}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		s.mu.Lock()
		a := s.answers[min(s.n, len(s.answers)-1)]
		s.n++
		s.mu.Unlock()
		if a.reset {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := conn.(*tls.Conn); ok {
					if nc, ok := tc.NetConn().(*net.TCPConn); ok {
						_ = nc.SetLinger(0) // RST, not FIN
					}
				}
				_ = conn.Close()
			}
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// fakeTime is a clock that only sleeps move.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return ctx.Err()
}

// client returns an HTTP client to s (HTTP/1, so that a reset closes the
// connection) with retries by policy, a fake clock, and jitter that
// always draws the top of its range.
func (s *script) client(t *testing.T, policy *RetryPolicy, clock *fakeTime) *http.Client {
	t.Helper()
	c, err := New(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := BaseTransport(c)
	base = base.Clone()
	base.ForceAttemptHTTP2 = false
	base.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		s.dials.Add(1)
		return dial(ctx, network, addr)
	}
	rt := NewRetryTransport(base, policy).(*retryTransport)
	rt.now, rt.sleep = clock.Now, clock.sleep
	rt.jitter = func(n int64) int64 { return n - 1 }
	return &http.Client{Transport: rt}
}

func form(grant string) url.Values {
	return url.Values{"grant_type": {grant}, "client_id": {"c"}, "scope": {"s"}}
}

// testStart is the fake clock's start: now, to the second (HTTP dates
// have whole seconds), as the context deadlines use the real clock.
var testStart = time.Now().Truncate(time.Second)

func TestRetryRules(t *testing.T) {
	ok := answer{status: 200, body: `{"access_token":"x"}`}
	busy := answer{status: 503, body: `{"error":"temporarily_unavailable"}`}
	tests := []struct {
		name     string
		answers  []answer
		grant    string // "" means a GET
		ctxLimit time.Duration
		policy   *RetryPolicy
		status   int // final status; 0 means a transport error
		requests int // as counted by the server
		sleeps   []time.Duration
	}{
		{name: "503 then ok", answers: []answer{busy, ok}, grant: "client_credentials", status: 200, requests: 2, sleeps: []time.Duration{250 * time.Millisecond}},
		{name: "500 502 504 then ok, backoff doubles", answers: []answer{{status: 500}, {status: 502}, {status: 504}, ok}, grant: "refresh_token", status: 200, requests: 4,
			sleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}},
		{name: "always 503: bounded attempts", answers: []answer{busy}, grant: "client_credentials", status: 503, requests: 4,
			sleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}},
		{name: "429 Retry-After seconds", answers: []answer{{status: 429, retryAfter: "3"}, ok}, grant: "client_credentials", status: 200, requests: 2, sleeps: []time.Duration{3 * time.Second}},
		{name: "429 Retry-After HTTP date", answers: []answer{{status: 429, retryAfter: testStart.Add(7 * time.Second).UTC().Format(http.TimeFormat)}, ok}, grant: "client_credentials", status: 200, requests: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "Retry-After beyond the cap is not waited for", answers: []answer{{status: 429, retryAfter: "3600"}, ok}, grant: "client_credentials", status: 429, requests: 1},
		{name: "wait past the context deadline is not started", answers: []answer{{status: 429, retryAfter: "20"}, ok}, grant: "client_credentials", ctxLimit: 10 * time.Second, status: 429, requests: 1},
		{name: "total time bounded", answers: []answer{{status: 503, retryAfter: "20"}}, grant: "client_credentials", status: 503, requests: 2, sleeps: []time.Duration{20 * time.Second}},
		{name: "GET discovery retried", answers: []answer{busy, ok}, status: 200, requests: 2, sleeps: []time.Duration{250 * time.Millisecond}},
		{name: "connection reset retried", answers: []answer{{reset: true}, ok}, grant: "client_credentials", status: 200, requests: 2, sleeps: []time.Duration{250 * time.Millisecond}},
		{name: "400 invalid_grant is final", answers: []answer{{status: 400, body: `{"error":"invalid_grant","error_codes":[70000]}`}, ok}, grant: "refresh_token", status: 400, requests: 1},
		{name: "401 invalid_client is final", answers: []answer{{status: 401, body: `{"error":"invalid_client"}`}, ok}, grant: "client_credentials", status: 401, requests: 1},
		{name: "authorization code redeemed once", answers: []answer{busy, ok}, grant: "authorization_code", status: 503, requests: 1},
		{name: "authorization code not replayed after a reset", answers: []answer{{reset: true}, ok}, grant: "authorization_code", status: 0, requests: 1},
		{name: "device code poll left to the flow's loop", answers: []answer{busy, ok}, grant: "urn:ietf:params:oauth:grant-type:device_code", status: 503, requests: 1},
		{name: "device code poll, short name", answers: []answer{busy, ok}, grant: "device_code", status: 503, requests: 1},
		{name: "policy: two attempts", answers: []answer{busy}, grant: "client_credentials", policy: &RetryPolicy{MaxAttempts: 2}, status: 503, requests: 2, sleeps: []time.Duration{250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScript(t, tt.answers...)
			clock := &fakeTime{now: testStart}
			policy := tt.policy
			if tt.name == "total time bounded" {
				policy = &RetryPolicy{MaxElapsed: 30 * time.Second}
			}
			hc := s.client(t, policy, clock)
			ctx := context.Background()
			if tt.ctxLimit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxLimit)
				defer cancel()
			}
			var req *http.Request
			if tt.grant == "" {
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/t/v2.0/.well-known/openid-configuration", nil)
			} else {
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL+"/t/oauth2/v2.0/token", strings.NewReader(form(tt.grant).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			}
			resp, err := hc.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				_, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if status != tt.status {
				t.Errorf("status = %d (err %v), want %d", status, err, tt.status)
			}
			if got := s.requests(); got != tt.requests {
				t.Errorf("server saw %d requests, want %d", got, tt.requests)
			}
			if !equalDurations(clock.sleeps, tt.sleeps) {
				t.Errorf("waits = %v, want %v", clock.sleeps, tt.sleeps)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRetryNeverReplaysWhatItCannot: a body without GetBody, a WS-Trust
// request (AD FS answers a wrong password with a SOAP fault and HTTP 500;
// each retry would count towards lockout) and a Kerberos authenticator
// (one-shot) are sent once.
func TestRetryNeverReplaysWhatItCannot(t *testing.T) {
	tests := []struct {
		name string
		make func(url string) *http.Request
	}{
		{"body without GetBody", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u, io.NopCloser(strings.NewReader(form("client_credentials").Encode())))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
		{"ws-trust", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("<s:Envelope/>"))
			r.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="x"`)
			return r
		}},
		{"kerberos", func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("<s:Envelope/>"))
			r.Header.Set("Authorization", "Negotiate YIIabc")
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScript(t, answer{status: 500}, answer{status: 200})
			clock := &fakeTime{now: time.Unix(1_700_000_000, 0)}
			resp, err := s.client(t, nil, clock).Do(tt.make(s.srv.URL + "/adfs/services/trust/13/usernamemixed"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 500 || s.requests() != 1 || len(clock.sleeps) != 0 {
				t.Fatalf("status %d after %d requests, waits %v; want the 500 after one", resp.StatusCode, s.requests(), clock.sleeps)
			}
		})
	}
}

// TestRetryNotOnCertificateFailure: an untrusted certificate is final; one
// dial, no request reaches the server.
func TestRetryNotOnCertificateFailure(t *testing.T) {
	s := newScript(t, answer{status: 200})
	c, err := New(nil) // the system roots do not include the test server's
	if err != nil {
		t.Fatal(err)
	}
	base, _ := BaseTransport(c)
	base = base.Clone()
	var dials atomic.Int32
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	clock := &fakeTime{now: time.Unix(1_700_000_000, 0)}
	rt := NewRetryTransport(base, nil).(*retryTransport)
	rt.now, rt.sleep = clock.Now, clock.sleep
	_, err = (&http.Client{Transport: rt}).Get(s.srv.URL)
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
	if dials.Load() != 1 || s.requests() != 0 || len(clock.sleeps) != 0 {
		t.Fatalf("%d dials, %d requests, waits %v: want one dial and no retry", dials.Load(), s.requests(), clock.sleeps)
	}
}

// TestRetryStopsWhenContextEnds: a cancellation during the wait ends the
// call with the context's error and no further request.
func TestRetryStopsWhenContextEnds(t *testing.T) {
	s := newScript(t, answer{status: 503}, answer{status: 200})
	clock := &fakeTime{now: time.Unix(1_700_000_000, 0)}
	hc := s.client(t, nil, clock)
	ctx, cancel := context.WithCancel(context.Background())
	rt := hc.Transport.(*retryTransport)
	rt.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return clock.sleep(ctx, d)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL, nil)
	_, err := hc.Do(req)
	if !errors.Is(err, context.Canceled) || s.requests() != 1 {
		t.Fatalf("err = %v after %d requests; want context.Canceled after 1", err, s.requests())
	}
}

// TestRetryJitterWithinBackoff: full jitter draws from [0, backoff].
func TestRetryJitterWithinBackoff(t *testing.T) {
	rt := NewRetryTransport(nil, nil).(*retryTransport)
	rt.now = func() time.Time { return time.Unix(0, 0) }
	for attempt := 1; attempt <= 8; attempt++ {
		ceiling := min(DefaultRetryPolicy.BaseDelay<<(attempt-1), DefaultRetryPolicy.MaxDelay)
		for range 50 {
			d, ok := rt.wait(nil, attempt)
			if !ok || d < 0 || d > ceiling {
				t.Fatalf("attempt %d: wait %v, want within [0, %v]", attempt, d, ceiling)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999999999999", 0, false},
		{"9999999999", 1 << 31 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseRetryAfter: any header value gives a non-negative wait and no
// panic.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", " 7 ", "Mon, 02 Jan 2006 15:04:05 MST"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
