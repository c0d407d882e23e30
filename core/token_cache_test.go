package core

import (
	"context"
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := &MemoryCache{}
	c := NewTokenCache(store, &TokenCacheOptions{Now: clock})
	k := &TokenKey{Profile: "p", Authority: "https://login/t", ClientID: "c"}
	req := TokenRequest{Scopes: []string{"b", "a"}}
	tok := Token{AccessToken: NewSecret("at"), TokenType: "Bearer", ExpiresOn: now.Add(time.Hour), Flow: "clientcreds", Account: Account{Username: "u"}}

	if _, ok := c.Lookup(ctx, k, &req); ok {
		t.Fatal("hit on an empty cache")
	}
	if err := c.Put(ctx, k, &req, tok); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Lookup(ctx, k, &TokenRequest{Scopes: []string{" a", "b "}})
	if !ok || got.AccessToken.Reveal() != "at" || got.Flow != "clientcreds" || got.Account.Username != "u" {
		t.Fatalf("scope order or spacing changed the key: %v %v", got, ok)
	}
	misses := []TokenRequest{
		{Scopes: []string{"a"}},                     // fewer scopes
		{Scopes: []string{"a", "b", "c"}},           // more scopes
		{Scopes: []string{"a", "b"}, TenantID: "x"}, // other tenant
		{Scopes: []string{"a", "b"}, Account: "x"},  // other account hint
		{Scopes: []string{"a", "b"}, Claims: "{}"},  // claims bypass
		{Scopes: []string{"a", "b"}, ForceRefresh: true},
	}
	for _, m := range misses {
		if _, ok := c.Lookup(ctx, k, &m); ok {
			t.Errorf("hit for %+v", m)
		}
	}
	if _, ok := c.Lookup(ctx, &TokenKey{Profile: "q", Authority: k.Authority, ClientID: "c"}, &req); ok {
		t.Error("hit for another profile")
	}
	// On-behalf-of: a downstream token belongs to the caller whose token
	// was exchanged.
	alice := TokenRequest{Scopes: []string{"a", "b"}, UserAssertion: NewSecret("alice-assertion")}
	if err := c.Put(ctx, k, &alice, Token{AccessToken: NewSecret("at-alice"), ExpiresOn: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, cc := range []*TokenCache{c, NewTokenCache(store, &TokenCacheOptions{Now: clock})} {
		if got, ok := cc.Lookup(ctx, k, &alice); !ok || got.AccessToken.Reveal() != "at-alice" {
			t.Fatalf("alice's own downstream token: %v %v", got, ok)
		}
		bob := TokenRequest{Scopes: []string{"a", "b"}, UserAssertion: NewSecret("bob-assertion")}
		if got, ok := cc.Lookup(ctx, k, &bob); ok {
			t.Fatalf("bob got a cached token (%q) that was not his", got.AccessToken.Reveal())
		}
		if got, ok := cc.Lookup(ctx, k, &req); !ok || got.AccessToken.Reveal() != "at" {
			t.Fatalf("the request without an assertion: %v %v", got, ok)
		}
	}
	if StoreKey(*k, alice) == StoreKey(*k, req) {
		t.Fatal("the store key ignores the assertion")
	}
	for _, other := range []*TokenKey{
		{Profile: "p", Authority: k.Authority, ClientID: "c", Chain: "devicecode"}, // the profile's chain changed
		{Profile: "p", Authority: k.Authority, ClientID: "d"},
		{Profile: "p", Authority: "https://login/u", ClientID: "c"},
	} {
		if _, ok := c.Lookup(ctx, other, &req); ok {
			t.Errorf("hit for %+v", other)
		}
		if _, ok := NewTokenCache(store, &TokenCacheOptions{Now: clock}).Lookup(ctx, other, &req); ok {
			t.Errorf("store hit for %+v", other)
		}
	}

	// A new process (new cache, same store) hits from the store.
	c2 := NewTokenCache(store, &TokenCacheOptions{Now: clock})
	if got, ok := c2.Lookup(ctx, k, &req); !ok || got.AccessToken.Reveal() != "at" || !got.ExpiresOn.Equal(tok.ExpiresOn) {
		t.Fatalf("store hit: %v %v", got, ok)
	}

	// Less than MinLifetime left: a miss, so the flow refreshes.
	now = now.Add(56 * time.Minute)
	if _, ok := c.Lookup(ctx, k, &req); ok {
		t.Fatal("served a token with 4 minutes left (min lifetime 5)")
	}

	list, err := c.List(ctx, "p")
	flows := map[string]int{}
	for _, e := range list {
		flows[e.Flow] += len(e.Scopes)
	}
	if err != nil || len(list) != 2 || flows["clientcreds"] != 2 { // the app token and alice's
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := c.Forget(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatalf("Forget left %d entries", store.Len())
	}
}

func TestTokenCacheRefreshOn(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	c := NewTokenCache(nil, &TokenCacheOptions{Now: func() time.Time { return now }})
	k := &TokenKey{Profile: "p"}
	req := TokenRequest{Scopes: []string{"s"}}
	_ = c.Put(ctx, k, &req, Token{AccessToken: NewSecret("x"), ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(time.Minute)})
	if _, ok := c.Lookup(ctx, k, &req); !ok {
		t.Fatal("miss before refresh_on")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.Lookup(ctx, k, &req); ok {
		t.Fatal("hit after refresh_on: the flow should refresh proactively")
	}
}

func BenchmarkTokenCacheHit(b *testing.B) {
	ctx := context.Background()
	c := NewTokenCache(nil, nil)
	k := &TokenKey{Profile: "p", Authority: "https://login.microsoftonline.com/t", ClientID: "c"}
	req := TokenRequest{Scopes: []string{"https://graph.microsoft.com/.default"}}
	_ = c.Put(ctx, k, &req, Token{AccessToken: NewSecret("x"), ExpiresOn: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := c.Lookup(ctx, k, &req); !ok {
			b.Fatal("miss")
		}
	}
}
