// Package readme holds the Go snippets of README.md as compiled code: the
// README shows them verbatim (readme_test.go checks every ```go block of
// README.md and docs/ against the repository's Go files), and the tests
// run them against the emulator, so a README that drifts fails `make test`.
package readme

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	xoauth2 "golang.org/x/oauth2"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/azure"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/oauth2"
)

// AzureAndOAuth2 is README "The Azure SDK and golang.org/x/oauth2".
func AzureAndOAuth2(ctx context.Context, url string) (*azblob.Client, *http.Client) {
	cred, _ := client.Open(ctx, "ci", nil)
	tc, _ := azure.NewTokenCredential(cred, nil) // azcore.TokenCredential
	blobs, _ := azblob.NewClient(url, tc, nil)

	src := oauth2.TokenSource(ctx, cred, "api://my-api/.default") // oauth2.TokenSource
	httpClient := xoauth2.NewClient(ctx, src)
	return blobs, httpClient
}

// Embedding is README "Embedding".
func Embedding(ctx context.Context) (sdk.Token, error) {
	cred, err := client.Open(ctx, "ci", nil) // the profile from the config file
	if err != nil {
		return sdk.Token{}, err
	}
	defer cred.Close()
	tok, err := cred.GetToken(ctx, sdk.TokenRequest{Scopes: []string{"https://graph.microsoft.com/.default"}})
	return tok, err
}

// Bound is README "Embedding": a source bound to one request.
func Bound(ctx context.Context, cred *client.Client, use func(sdk.Token, *http.Client) error) error {
	src, err := cred.Bind(sdk.TokenRequest{Scopes: []string{"api://my-api/.default"}})
	if err != nil {
		return err
	}
	defer src.Close()                                    // cred.Close() closes it too
	tok, err := src.Token(ctx)                           // waits only when no valid token is in hand
	hc := xoauth2.NewClient(ctx, oauth2.Bound(ctx, src)) // the same, for golang.org/x/oauth2
	if err != nil {
		return err
	}
	return use(tok, hc)
}
