package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

const graph = "https://graph.microsoft.com/.default"

// TestOneRequestForManyCallers: 1000 goroutines asking for the same
// uncached token make one plugin call and one IdP request.
func TestOneRequestForManyCallers(t *testing.T) {
	srv, file, dir := benchSetup(t)
	c, err := client.New(t.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.ResetCounts()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{graph}})
			if err == nil && tok.AccessToken.IsZero() {
				t.Error("empty token")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count("token:client_credentials"); n != 1 {
		t.Fatalf("the emulator saw %d token requests for 1000 identical calls, want 1", n)
	}
}

// TestRestartedPluginHitsHostCache: clientcreds keeps no state in the
// host's cache partition, so what spares the IdP for a second process
// (its own host and plugin) is the host's token cache in the shared
// store: a hit with no token request, and no flow state in the store.
func TestRestartedPluginHitsHostCache(t *testing.T) {
	srv, file, dir := benchSetup(t)
	store := &sdk.MemoryCache{}
	open := func() *client.Client {
		c, err := client.New(t.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	first, err := open().GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{graph}})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	second := open()
	tok, err := second.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{graph}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken.Reveal() != first.AccessToken.Reveal() || srv.Count("token") != 0 {
		t.Errorf("second process: same token %v, %d token requests; want the cached token and none",
			tok.AccessToken.Reveal() == first.AccessToken.Reveal(), srv.Count("token"))
	}
	if _, err := second.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{graph}, ForceRefresh: true}); err != nil || srv.Count("token") != 1 {
		t.Errorf("force refresh: %v, %d token requests, want 1", err, srv.Count("token"))
	}
	keys, err := store.Keys(t.Context(), host.StateKeyPrefix)
	if err != nil || len(keys) != 0 {
		t.Errorf("flow state in the store: %q (%v), want none", keys, err)
	}
}

// BenchmarkL1Hit is a cached GetToken through the sdk, in process: no
// plugin is involved.
func BenchmarkL1Hit(b *testing.B) {
	_, file, dir := benchSetup(b)
	c, err := client.New(b.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	req := sdk.TokenRequest{Scopes: []string{graph}}
	if _, err := c.GetToken(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.GetToken(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAzidentityCachedHit is azidentity's ClientSecretCredential
// answering from its cache, against the same emulator, for comparison.
func BenchmarkAzidentityCachedHit(b *testing.B) {
	srv, _, _ := benchSetup(b)
	cred, err := azidentity.NewClientSecretCredential(benchTenant, benchClient, benchSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL() + "/"},
			Transport: srv.HTTPClient(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := policy.TokenRequestOptions{Scopes: []string{graph}}
	if _, err := cred.GetToken(ctx, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := cred.GetToken(ctx, opts); err != nil {
			b.Fatal(err)
		}
	}
}
