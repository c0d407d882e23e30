package azure_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/azuritetest"
	"github.com/credhost/credhost/internal/testkit/sdkclient"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/azure"
	"github.com/credhost/credhost/sdk/client"
)

// storage is the Azure Storage resource; azblob asks for storage+"/.default".
const storage = "https://storage.azure.com"

// TestAzblobOnAzurite: the real azblob client creates and lists containers
// on Azurite, whose OAuth mode checks the token's issuer, audience and
// lifetime, with a token from the clientcreds plugin against the emulator,
// through sdk/azure. Tokens Azurite must refuse (v2.0 ones, which Entra ID
// never issues for storage, and garbage) are refused, so the test fails if
// Azurite stops checking.
func TestAzblobOnAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	// Storage accepts v1.0 tokens only, and Entra ID (and the emulator)
	// issues it those.
	srv := emulatortest.Start(t, emulator.DefaultConfig())
	client := newSDKClient(t, srv)
	cred, err := azure.NewTokenCredential(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	blobs := newBlobClient(t, az, cred)

	srv.ResetCounts()
	const name = "credhost-azure-test"
	if _, err := blobs.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("CreateContainer with a credhost token: %v", err)
	}
	var names []string
	pager := blobs.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListContainers with a credhost token: %v", err)
		}
		for _, c := range page.ContainerItems {
			names = append(names, *c.Name)
		}
	}
	if !slices.Contains(names, name) {
		t.Fatalf("containers %q lack %q", names, name)
	}
	// azcore keeps the token between requests and credhost caches it: the
	// IdP was asked once.
	if n := srv.Count("token:client_credentials"); n != 1 {
		t.Errorf("the emulator saw %d token requests, want 1", n)
	}

	// What the adapter handed azblob is an emulator token for storage.
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storage + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.VerifyAccessToken(at.Token)
	if err != nil || claims["aud"] != storage || claims["ver"] != "1.0" {
		t.Fatalf("token claims %v, err %v", claims, err)
	}

	// The same client with tokens Azurite must refuse.
	plain := emulatortest.StartOptions(t, emulator.Options{V2Resources: []string{storage}}) // issues v2.0 tokens for storage
	for reason, c := range map[string]sdk.Credential{
		"v2.0 token":  newSDKClient(t, plain),
		"not a token": staticToken("not-a-jwt"),
	} {
		cred, _ := azure.NewTokenCredential(c, nil)
		_, err := newBlobClient(t, az, cred).CreateContainer(ctx, "refused", nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !bloberror.HasCode(err, bloberror.AuthenticationFailed) {
			t.Errorf("%s: err = %v, want 403 AuthenticationFailed", reason, err)
		}
	}
}

func newBlobClient(t *testing.T, az *azuritetest.Server, cred azcore.TokenCredential) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClient(az.URL, cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: az.HTTPClient,
		// One try: a refused token is refused again.
		Retry: policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func staticToken(raw string) sdk.Credential {
	return core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret(raw), TokenType: "Bearer"}, nil
	})
}

// newSDKClient returns an sdk client whose profile gets tokens from srv
// with the clientcreds plugin, run as a real process.
func newSDKClient(t *testing.T, srv *emulator.Server) *client.Client {
	t.Helper()
	return sdkclient.ClientCreds(t, srv)
}
