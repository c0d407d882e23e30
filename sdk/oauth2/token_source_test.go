package oauth2_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/sdkclient"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/oauth2"
)

// api is the resource the test server stands for.
const api = "api://credhost-oauth2-test"

// TestTokenSourceWithOAuth2Client: an oauth2.NewClient built on a credhost
// source reaches an API that accepts only bearer tokens the emulator
// issued for it; the same request without credhost, or with any other
// token, is refused.
func TestTokenSourceWithOAuth2Client(t *testing.T) {
	srv, cred := newClient(t)
	ts := newAPI(t, srv)

	plain := ts.Client()
	if got := get(t, plain, ts.URL, ""); got != http.StatusUnauthorized {
		t.Fatalf("without a token: status %d, want 401", got)
	}
	if got := get(t, plain, ts.URL, "Bearer not-a-token"); got != http.StatusUnauthorized {
		t.Fatalf("with a bogus token: status %d, want 401", got)
	}

	// oauth2.NewClient takes its base transport from the context; it must
	// trust the test server's certificate.
	ctx := context.WithValue(context.Background(), xoauth2.HTTPClient, plain)
	src := oauth2.TokenSource(ctx, cred, api+"/.default")
	hc := xoauth2.NewClient(ctx, src)
	srv.ResetCounts()
	for range 3 {
		if got := get(t, hc, ts.URL, ""); got != http.StatusOK {
			t.Fatalf("with credhost: status %d, want 200", got)
		}
	}
	if n := srv.Count("token:client_credentials"); n != 1 {
		t.Errorf("the emulator saw %d token requests for 3 calls, want 1", n)
	}

	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.VerifyAccessToken(tok.AccessToken)
	if err != nil {
		t.Fatalf("Token() returned a token the emulator does not verify: %v", err)
	}
	exp, _ := claims["exp"].(float64)
	if tok.TokenType != "Bearer" || tok.Expiry.Unix() != int64(exp) || tok.RefreshToken != "" || !tok.Valid() {
		t.Errorf("token: type %q, expiry %v (exp claim %v), refresh token set %t, valid %t",
			tok.TokenType, tok.Expiry, int64(exp), tok.RefreshToken != "", tok.Valid())
	}
}

// TestBoundWithOAuth2Client: an oauth2 client over a bound source reaches
// the API with one token request; while the source holds the same token,
// Token returns the same *oauth2.Token; once the sdk client is closed,
// Token fails with client.ErrClosed.
func TestBoundWithOAuth2Client(t *testing.T) {
	srv, cred := newClient(t)
	ts := newAPI(t, srv)
	bound, err := cred.Bind(sdk.TokenRequest{Scopes: []string{api + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), xoauth2.HTTPClient, ts.Client())
	src := oauth2.Bound(ctx, bound)
	hc := xoauth2.NewClient(ctx, src)
	srv.ResetCounts()
	for range 3 {
		if got := get(t, hc, ts.URL, ""); got != http.StatusOK {
			t.Fatalf("with a bound source: status %d, want 200", got)
		}
	}
	if n := srv.Count("token:client_credentials"); n != 1 {
		t.Errorf("the emulator saw %d token requests for 3 calls, want 1", n)
	}
	t1, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	t2, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if t1 != t2 || t1.TokenType != "Bearer" || !t1.Valid() {
		t.Errorf("two hits: same token %t, type %q, valid %t", t1 == t2, t1.TokenType, t1.Valid())
	}
	if err := cred.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Token after the client closed: %v, want client.ErrClosed", err)
	}
}

// TestTokenSourceErrors: the Credential's error stays reachable, with its
// kind, through the oauth2 transport's error.
func TestTokenSourceErrors(t *testing.T) {
	cause := sdk.Unavailable("clientcreds", "not configured for this profile")
	fail := core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) { return sdk.Token{}, cause })
	src := oauth2.TokenSource(context.Background(), fail, api+"/.default")
	_, err := src.Token()
	var e *sdk.Error
	if !errors.As(err, &e) || e != cause || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("Token() error %v does not unwrap to the credential's", err)
	}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a request reached the server without a token")
	}))
	defer ts.Close()
	ctx := context.WithValue(context.Background(), xoauth2.HTTPClient, ts.Client())
	_, err = xoauth2.NewClient(ctx, src).Get(ts.URL)
	if !errors.As(err, &e) || e != cause {
		t.Fatalf("client error %v does not unwrap to the credential's", err)
	}
}

// TestTokenSourceRequest: every Token call asks for exactly the source's
// scopes in a slice of its own, so neither the caller changing its slice
// after TokenSource nor a credential changing the request changes later
// calls.
func TestTokenSourceRequest(t *testing.T) {
	var mu sync.Mutex
	var got []string
	expires := time.Unix(4102444800, 0)
	c := core.CredentialFunc(func(_ context.Context, req sdk.TokenRequest) (sdk.Token, error) {
		mu.Lock()
		got = append(got, strings.Join(req.Scopes, " "))
		mu.Unlock()
		req.Scopes[0] = "changed by the credential"
		return sdk.Token{AccessToken: sdk.NewSecret("t"), ExpiresOn: expires}, nil
	})
	scopes := []string{"api://a/.default", "b"}
	src := oauth2.TokenSource(context.Background(), c, scopes...)
	scopes[0] = "changed by the caller"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tok, err := src.Token()
			if err != nil {
				t.Errorf("Token(): %v", err)
				return
			}
			if tok.AccessToken != "t" || tok.TokenType != "Bearer" || !tok.Expiry.Equal(expires) {
				t.Errorf("Token(): type %q, expiry %v, access token as given %t", tok.TokenType, tok.Expiry, tok.AccessToken == "t")
			}
		})
	}
	wg.Wait()
	for _, s := range got {
		if s != "api://a/.default b" {
			t.Errorf("requested scopes %q, want %q", s, "api://a/.default b")
		}
	}
}

// newAPI serves an API that answers 200 only to a bearer token that the
// emulator verifies and that was issued for api.
func newAPI(t *testing.T, srv *emulator.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		claims, err := srv.VerifyAccessToken(raw)
		if err != nil || claims["aud"] != api {
			// The reason, not the token, goes to the client.
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, "hello", claims["appid"])
	}))
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, c *http.Client, url, auth string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newClient returns an emulator and an sdk client whose profile gets
// tokens from it with the clientcreds plugin, run as a real process.
func newClient(t *testing.T) (*emulator.Server, *client.Client) {
	t.Helper()
	srv := emulatortest.Start(t, emulator.DefaultConfig())
	return srv, sdkclient.ClientCreds(t, srv)
}
