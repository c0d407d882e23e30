package azure_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/azure"
	"github.com/credhost/credhost/sdk/client"
)

// An Azure SDK client authenticated by a credhost profile: the profile's
// chain decides how the token is obtained, and its cache keeps it.
func ExampleNewTokenCredential() {
	c, err := client.Open(context.Background(), "ci", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cred, err := azure.NewTokenCredential(c, nil)
	if err != nil {
		log.Fatal(err)
	}
	blobs, err := azblob.NewClient("https://myaccount.blob.core.windows.net/", cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	pager := blobs.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		for _, c := range page.ContainerItems {
			fmt.Println(*c.Name)
		}
	}
}

// A credhost credential in an azidentity chain: when credhost cannot run
// here (an Unavailable error, such as a profile whose flows need a
// terminal), the chain moves on to its next credential, as it would past
// one of azidentity's own.
func ExampleNewTokenCredential_chain() {
	notHere := core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{}, sdk.Unavailable("devicecode", "no terminal to show the code on")
	})
	first, err := azure.NewTokenCredential(notHere, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Stands for any other credential, e.g. azidentity.NewManagedIdentityCredential.
	fallback, _ := azure.NewTokenCredential(core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret("from the fallback"), ExpiresOn: time.Now().Add(time.Hour)}, nil
	}), nil)
	chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{first, fallback}, nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := chain.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Token)
	// Output: from the fallback
}
