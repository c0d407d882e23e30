package oauth2_test

import (
	"context"
	"fmt"
	"log"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/oauth2"
)

// An HTTP client that sends a credhost token for a web API with every
// request.
func ExampleTokenSource() {
	ctx := context.Background()
	cred, err := client.Open(ctx, "ci", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close()
	hc := xoauth2.NewClient(ctx, oauth2.TokenSource(ctx, cred, "api://my-api/.default"))
	resp, err := hc.Get("https://api.example.com/items")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// What Token returns: the access token, its type and its expiry, never a
// refresh token (credhost keeps those to itself).
func ExampleTokenSource_token() {
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cred := sdk.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret("eyJ..."), ExpiresOn: expires}, nil
	})
	tok, err := oauth2.TokenSource(context.Background(), cred, "api://my-api/.default").Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.TokenType, tok.Expiry.Format(time.RFC3339), tok.RefreshToken == "")
	// Output: Bearer 2030-01-01T00:00:00Z true
}

// A source bound to one scope: hits are an atomic load, and the token is
// refreshed in the background before it expires.
func ExampleBound() {
	ctx := context.Background()
	cred, err := client.Open(ctx, "ci", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cred.Close() // closes src too
	src, err := cred.Bind(sdk.TokenRequest{Scopes: []string{"api://my-api/.default"}})
	if err != nil {
		log.Fatal(err)
	}
	hc := xoauth2.NewClient(ctx, oauth2.Bound(ctx, src))
	resp, err := hc.Get("https://api.example.com/items")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
