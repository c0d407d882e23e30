package webapp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/webapp"
)

// credFunc is a Credential for tests.
type credFunc func(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error)

func (f credFunc) GetToken(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
	return f(ctx, req)
}

func request(auth ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name string
		auth []string
		want string
	}{
		{name: "bearer", auth: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "scheme is case-insensitive", auth: []string{"bearer  abc "}, want: "abc"},
		{name: "none"},
		{name: "basic", auth: []string{"Basic dXNlcjpwYXNz"}},
		{name: "empty token", auth: []string{"Bearer "}},
		{name: "two tokens", auth: []string{"Bearer a b"}},
		{name: "two headers", auth: []string{"Bearer a", "Bearer b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webapp.BearerToken(request(tt.auth...))
			if tt.want == "" {
				if !errors.Is(err, webapp.ErrNoBearer) {
					t.Fatalf("BearerToken() = %v, want ErrNoBearer", err)
				}
				return
			}
			if err != nil || got.Reveal() != tt.want {
				t.Fatalf("BearerToken() = %q, %v; want %q", got.Reveal(), err, tt.want)
			}
		})
	}
}

// TestOnBehalfOf: the bearer token travels as UserAssertion (the host
// keys its cache by the assertion's hash: see core's TestTokenCache and
// plugins/obo's TestProcessHostCacheKeysByAssertion).
func TestOnBehalfOf(t *testing.T) {
	var got []sdk.TokenRequest
	api := webapp.NewAPI(credFunc(func(_ context.Context, req sdk.TokenRequest) (sdk.Token, error) {
		got = append(got, req)
		return sdk.Token{AccessToken: sdk.NewSecret("downstream")}, nil
	}))
	for _, caller := range []string{"token-of-alice", "token-of-bob"} {
		if _, err := api.OnBehalfOf(request("Bearer "+caller), "https://graph.microsoft.com/User.Read"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0].UserAssertion.Reveal() != "token-of-alice" || got[0].Scopes[0] != "https://graph.microsoft.com/User.Read" {
		t.Fatalf("requests = %+v", got)
	}
	if got[1].UserAssertion.Reveal() != "token-of-bob" || got[0].Account != "" {
		t.Fatalf("requests = %+v", got)
	}
	if _, err := api.OnBehalfOf(request()); !errors.Is(err, webapp.ErrNoBearer) || len(got) != 2 {
		t.Errorf("without a bearer token: %v (credential called %d times)", err, len(got))
	}
}

const claimsJSON = `{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}`

func TestChallenge(t *testing.T) {
	ir := &sdk.Error{Kind: sdk.KindInteractionRequired, Flow: "obo", Code: 50076, Claims: claimsJSON}
	h, ok := webapp.Challenge(ir, &webapp.ChallengeOptions{Realm: "tenant", ClientID: "api-id"})
	want := `Bearer realm="tenant", client_id="api-id", error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(claimsJSON)) + `"`
	if !ok || h != want {
		t.Fatalf("Challenge() = %q, %v\nwant %q", h, ok, want)
	}
	for _, err := range []error{
		nil,
		errors.New("plain"),
		&sdk.Error{Kind: sdk.KindInteractionRequired}, // no claims: nothing to relay
		&sdk.Error{Kind: sdk.KindFailed, Claims: claimsJSON},
	} {
		if h, ok := webapp.Challenge(err, nil); ok {
			t.Errorf("Challenge(%v) = %q", err, h)
		}
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		header string // substring of WWW-Authenticate
	}{
		{name: "claims challenge", err: &sdk.Error{Kind: sdk.KindInteractionRequired, Claims: claimsJSON}, status: 401, header: `error="insufficient_claims", claims="`},
		{name: "no bearer", err: webapp.ErrNoBearer, status: 401, header: `Bearer realm=""`},
		{name: "expired caller token", err: &sdk.Error{Kind: sdk.KindFailed, Code: 500133}, status: 401, header: `error="invalid_token"`},
		{name: "wrong audience", err: &sdk.Error{Kind: sdk.KindFailed, Code: 500131}, status: 401, header: `error="invalid_token"`},
		{name: "upstream failure", err: &sdk.Error{Kind: sdk.KindFailed, Code: 7000215, Err: errors.New("secret-ish detail")}, status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			webapp.WriteError(w, tt.err, nil)
			h := w.Header().Get("WWW-Authenticate")
			if w.Code != tt.status || (tt.header == "" && h != "") || !strings.Contains(h, tt.header) {
				t.Errorf("status %d, WWW-Authenticate %q", w.Code, h)
			}
			if strings.Contains(w.Body.String(), "secret-ish") {
				t.Errorf("body shows the error text: %q", w.Body)
			}
		})
	}
}
