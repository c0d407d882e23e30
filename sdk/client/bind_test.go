package client_test

// Bound token sources end to end: a real clientcreds plugin process and
// the emulator issuing 10-second tokens, with [cache] min_lifetime = 5s,
// so that a source refreshes 5 s after it got its token and serves it
// until 1 s before expiry. What is asserted is which token callers got and
// what the emulator saw; wall-clock bounds are only the token's own
// expiry.

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	xoauth2 "golang.org/x/oauth2"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/oauth2"
)

const grantCC = "token:client_credentials"

func boundClient(t testing.TB) (*emulator.Server, *client.Client) {
	t.Helper()
	srv, file, dir := setup(t, false, emulator.Options{TokenLifetime: 10 * time.Second}, "min_lifetime = \"5s\"\n")
	opts := &client.Options{PluginDirs: []string{dir}, Log: zerolog.Nop()}
	if _, ok := t.(*testing.T); ok {
		opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	c, err := client.New(t.Context(), file, "bench", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

func bind(t testing.TB, c *client.Client) *client.TokenSource {
	t.Helper()
	src, err := c.Bind(sdk.TokenRequest{Scopes: []string{graph}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// eventually polls cond every 20 ms until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after %s: %s", d, what)
		}
	}
}

// TestBoundSourceRefreshesBeforeExpiry: the source asks for the next
// token on its own, before the one it serves expires, and callers only
// ever see valid tokens.
func TestBoundSourceRefreshesBeforeExpiry(t *testing.T) {
	srv, c := boundClient(t)
	src := bind(t, c)
	srv.ResetCounts()
	tok1, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Count(grantCC); n != 1 {
		t.Fatalf("first Token: %d token requests, want 1", n)
	}
	var tok2 sdk.Token
	eventually(t, 30*time.Second, "no refresh", func() bool {
		tok, err := src.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != tok1.AccessToken {
			tok2 = tok
			return true
		}
		return false
	})
	if now := time.Now(); !now.Before(tok1.ExpiresOn) {
		t.Errorf("the new token was served at %s, after the old one expired (%s)", now.Format(time.StampMilli), tok1.ExpiresOn.Format(time.StampMilli))
	}
	if !tok2.ExpiresOn.After(tok1.ExpiresOn) {
		t.Errorf("refreshed token expires %s, not after the old one (%s)", tok2.ExpiresOn, tok1.ExpiresOn)
	}
	if n := srv.Count(grantCC); n != 2 {
		t.Errorf("%d token requests for one refresh, want 2 in all", n)
	}
}

// TestBoundSourceCallersDoNotWaitForRefresh: while the refresh's answer
// is stalled at the IdP, every caller gets the old, still valid token; the
// refresh then lands.
func TestBoundSourceCallersDoNotWaitForRefresh(t *testing.T) {
	srv, c := boundClient(t)
	src := bind(t, c)
	tok1, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	srv.InjectFault(emulator.Fault{Endpoint: "token", SlowBody: 3 * time.Second, Times: 1})
	eventually(t, 30*time.Second, "the refresh never reached the emulator", func() bool { return srv.Count(grantCC) > 0 })

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				tok, err := src.Token(t.Context())
				if err == nil && tok.AccessToken != tok1.AccessToken {
					err = errors.New("a caller got the new token: it waited for the refresh")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the stalled refresh never landed", func() bool {
		tok, err := src.Token(t.Context())
		return err == nil && tok.AccessToken != tok1.AccessToken
	})
	if n := srv.Count(grantCC); n != 1 {
		t.Errorf("%d token requests during the refresh, want 1", n)
	}
}

// TestBoundSourceFailingRefresh: refreshes that fail leave the valid token
// in service, are retried, and the error reaches callers once the token
// has expired; the source recovers when the IdP does.
func TestBoundSourceFailingRefresh(t *testing.T) {
	srv, c := boundClient(t)
	src := bind(t, c)
	tok1, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	srv.InjectFault(emulator.Fault{Endpoint: "token", Status: 400,
		Body: `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`})
	var failedAt time.Time
	triedBefore := 0
	eventually(t, 30*time.Second, "the source never reported the failure", func() bool {
		n := srv.Count(grantCC)
		tok, err := src.Token(t.Context())
		if err == nil {
			if tok.AccessToken != tok1.AccessToken {
				t.Fatal("a token was served although every refresh fails")
			}
			triedBefore = n
			return false
		}
		if !strings.Contains(err.Error(), "7000215") {
			t.Fatalf("error %q does not carry the IdP's answer", err)
		}
		failedAt = time.Now()
		return true
	})
	if triedBefore < 2 {
		t.Errorf("the emulator saw %d refresh attempts while the token was valid, want at least 2 (a retry)", triedBefore)
	}
	if failedAt.Before(tok1.ExpiresOn.Add(-2 * time.Second)) {
		t.Errorf("the error was reported at %s, with the token valid until %s", failedAt.Format(time.StampMilli), tok1.ExpiresOn.Format(time.StampMilli))
	}
	if sdk.KindOf(err) == sdk.KindUnavailable {
		t.Errorf("kind %v, want a failure", sdk.KindOf(err))
	}
	srv.ClearFaults()
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatalf("after the IdP recovered: %v", err)
	}
	if tok.AccessToken == tok1.AccessToken {
		t.Error("after recovery the expired token was served")
	}
}

// TestBoundSourceClose: closing a source, then the client, stops every
// refresher; the goroutine count returns to where it was.
func TestBoundSourceClose(t *testing.T) {
	srv, file, dir := setup(t, false, emulator.Options{TokenLifetime: 10 * time.Second}, "min_lifetime = \"5s\"\n")
	_ = srv
	before := runtime.NumGoroutine()
	c, err := client.New(t.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []*client.TokenSource
	for _, scope := range []string{graph, "api://a/.default", "api://b/.default"} {
		src, err := c.Bind(sdk.TokenRequest{Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	if err := srcs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srcs[0].Token(t.Context()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Token after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		if _, err := src.Token(t.Context()); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Token after the client's Close: %v, want ErrClosed", err)
		}
		_ = src.Close() // again: idempotent
	}
	if _, err := c.Bind(sdk.TokenRequest{Scopes: []string{graph}}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Bind after Close: %v, want ErrClosed", err)
	}
	eventually(t, 10*time.Second, "goroutines left after Close", func() bool { return runtime.NumGoroutine() <= before })
}

func TestBindRefusesOneOffRequests(t *testing.T) {
	_, c := boundClient(t)
	for _, req := range []sdk.TokenRequest{
		{},
		{Scopes: []string{" "}},
		{Scopes: []string{graph}, ForceRefresh: true},
		{Scopes: []string{graph}, Claims: `{"access_token":{}}`},
		{Scopes: []string{graph}, UserAssertion: sdk.NewSecret("x")},
	} {
		if _, err := c.Bind(req); err == nil {
			t.Errorf("Bind(%+v) succeeded", req)
		}
	}
}

// TestBoundSourceWaitHonoursContext: with no token yet, a cancelled
// caller leaves at once with a classified error.
func TestBoundSourceWaitHonoursContext(t *testing.T) {
	srv, c := boundClient(t)
	src := bind(t, c)
	srv.InjectFault(emulator.Fault{Endpoint: "token", SlowBody: 5 * time.Second, Times: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := src.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token under a short deadline: %v, want the deadline's error", err)
	}
	if _, err := src.Token(t.Context()); err != nil {
		t.Fatalf("the next caller: %v", err)
	}
}

// BenchmarkBoundHit is a bound source's Token with a valid token in hand.
func BenchmarkBoundHit(b *testing.B) {
	_, file, dir := benchSetup(b)
	c, err := client.New(b.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	src := bind(b, c)
	ctx := context.Background()
	if _, err := src.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoundOAuth2Hit is the same through the oauth2 adapter.
func BenchmarkBoundOAuth2Hit(b *testing.B) {
	_, file, dir := benchSetup(b)
	c, err := client.New(b.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ts := oauth2.Bound(context.Background(), bind(b, c))
	if _, err := ts.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := ts.Token(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReuseTokenSourceHit is golang.org/x/oauth2's cache in front of
// a static source, for comparison: a mutex and an expiry check.
func BenchmarkReuseTokenSourceHit(b *testing.B) {
	tok := &xoauth2.Token{AccessToken: "x", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	ts := xoauth2.ReuseTokenSource(nil, xoauth2.StaticTokenSource(tok))
	if _, err := ts.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := ts.Token(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimeNow is the floor under every hit above: each reads the
// wall clock once to check expiry (the monotonic clock stops while a
// laptop sleeps, so it alone cannot say a token expired). On VMs whose
// clock source is slow to read (kvm-clock here: about 60 ns) this is most
// of a hit.
func BenchmarkTimeNow(b *testing.B) {
	var last time.Time
	for range b.N {
		last = time.Now()
	}
	if last.IsZero() {
		b.Fatal("no time")
	}
}
