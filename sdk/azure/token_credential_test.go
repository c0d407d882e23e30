package azure_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/azure"
)

// TestGetTokenMapsRequestAndToken: scopes, tenant and claims reach the
// Credential, with the Account option, and the token's fields come back.
func TestGetTokenMapsRequestAndToken(t *testing.T) {
	expires, refresh := time.Unix(4102444800, 0), time.Unix(4102441200, 0)
	var got sdk.TokenRequest
	c := core.CredentialFunc(func(_ context.Context, req sdk.TokenRequest) (sdk.Token, error) {
		got = req
		return sdk.Token{AccessToken: sdk.NewSecret("tok"), TokenType: "Bearer", ExpiresOn: expires, RefreshOn: refresh}, nil
	})
	tc, err := azure.NewTokenCredential(c, &azure.Options{Account: "alice@contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"https://storage.azure.com/.default"}
	at, err := tc.GetToken(context.Background(), policy.TokenRequestOptions{
		Scopes: scopes, TenantID: "t2", Claims: `{"access_token":{"nbf":{"essential":true}}}`, EnableCAE: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := azcore.AccessToken{Token: "tok", ExpiresOn: expires, RefreshOn: refresh}
	if at != want {
		t.Errorf("AccessToken = %+v, want %+v", at, want)
	}
	if !slices.Equal(got.Scopes, scopes) || got.TenantID != "t2" || got.Claims == "" || got.Account != "alice@contoso.onmicrosoft.com" || got.ForceRefresh {
		t.Errorf("TokenRequest = %+v", got)
	}
	got.Scopes[0] = "changed"
	if scopes[0] != "https://storage.azure.com/.default" {
		t.Error("the credential shares the caller's scopes slice")
	}
}

// TestGetTokenErrors: every kind stays reachable with errors.As and
// KindOf; unavailable and interaction required also read as azidentity's
// "credential unavailable", so a ChainedTokenCredential moves on to its
// next source, and it stops on a failure.
func TestGetTokenErrors(t *testing.T) {
	next := core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret("next"), ExpiresOn: time.Unix(4102444800, 0)}, nil
	})
	for _, tt := range []struct {
		name     string
		err      error
		moveOn   bool
		wantKind sdk.Kind
	}{
		{"unavailable", sdk.Unavailable("devicecode", "no terminal"), true, sdk.KindUnavailable},
		{"interaction required", &sdk.Error{Kind: sdk.KindInteractionRequired, Flow: "clientcreds", Code: 50076}, true, sdk.KindInteractionRequired},
		{"failed", &sdk.Error{Kind: sdk.KindFailed, Flow: "clientcreds", Code: 7000215}, false, sdk.KindFailed},
		{"chain of unavailable", &sdk.ChainError{Profile: "p", Attempts: []core.Attempt{{Flow: "iwa", Err: sdk.Unavailable("iwa", "no ticket")}}}, true, sdk.KindUnavailable},
		{"unclassified", errors.New("boom"), false, sdk.KindFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fail := core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) { return sdk.Token{}, tt.err })
			tc, err := azure.NewTokenCredential(fail, nil)
			if err != nil {
				t.Fatal(err)
			}
			opts := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
			_, err = tc.GetToken(context.Background(), opts)
			if err == nil || !errors.Is(err, tt.err) || sdk.KindOf(err) != tt.wantKind {
				t.Fatalf("err = %v, kind %v; want it to wrap %v of kind %v", err, sdk.KindOf(err), tt.err, tt.wantKind)
			}
			var e *sdk.Error
			if _, plain := tt.err.(*sdk.Error); plain && !errors.As(err, &e) {
				t.Errorf("errors.As(*sdk.Error) fails on %v", err)
			}
			if !strings.HasPrefix(err.Error(), "azure: ") {
				t.Errorf("error text %q lacks the component prefix", err)
			}

			nextCred, _ := azure.NewTokenCredential(next, nil)
			chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{tc, nextCred}, nil)
			if err != nil {
				t.Fatal(err)
			}
			at, err := chain.GetToken(context.Background(), opts)
			if tt.moveOn && (err != nil || at.Token != "next") {
				t.Errorf("azidentity chain did not move on: token %q, err %v", at.Token, err)
			}
			if !tt.moveOn && err == nil {
				t.Error("azidentity chain moved on past a failure")
			}
		})
	}
}

func TestGetTokenRefuses(t *testing.T) {
	if _, err := azure.NewTokenCredential(nil, nil); err == nil {
		t.Error("NewTokenCredential(nil) succeeded")
	}
	calls := 0
	pop := core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		calls++
		return sdk.Token{AccessToken: sdk.NewSecret("canary-secret-value"), TokenType: "pop"}, nil
	})
	tc, _ := azure.NewTokenCredential(pop, nil)
	if _, err := tc.GetToken(context.Background(), policy.TokenRequestOptions{}); err == nil || calls != 0 {
		t.Errorf("no scopes: err %v after %d credential calls", err, calls)
	}
	_, err := tc.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://x/.default"}})
	if err == nil {
		t.Fatal("a pop token was handed to azcore as a bearer token")
	}
	if strings.Contains(err.Error(), "canary-secret-value") {
		t.Fatal("the error text contains the token")
	}
}
