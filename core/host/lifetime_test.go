package host

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// tenYears answers every request with a token whose expires_in said ten
// years, as a broken or hostile IdP might.
type tenYears struct{ calls int }

func (c *tenYears) GetToken(context.Context, core.TokenRequest) (core.Token, error) {
	c.calls++
	return core.Token{AccessToken: core.NewSecret("at"), ExpiresOn: time.Now().Add(10 * 365 * 24 * time.Hour)}, nil
}

// TestTokenLifetimeCapped: a ten-year token is returned, kept in L1 and
// written to the store with at most core.MaxTokenLifetime left; a
// store entry beyond the cap (from before it) is not served.
func TestTokenLifetimeCapped(t *testing.T) {
	ctx := context.Background()
	store := &core.MemoryCache{}
	next := &tenYears{}
	cred := &cachedCredential{key: core.TokenKey{Profile: "p", Authority: "https://login.example/t", ClientID: "c", Chain: "x"},
		l1: core.NewTokenCache(store, nil), next: next, flights: &flights{}, outcomes: &outcomes{store: store, now: time.Now}, log: zerolog.Nop()}
	req := core.TokenRequest{Scopes: []string{"s"}}
	limit := time.Now().Add(core.MaxTokenLifetime)

	tok, err := cred.GetToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresOn.After(limit.Add(time.Second)) {
		t.Fatalf("returned token expires %v, want at most 24 h from now", tok.ExpiresOn)
	}
	hit, err := cred.GetToken(ctx, req)
	if err != nil || next.calls != 1 || hit.ExpiresOn.After(limit.Add(time.Second)) {
		t.Fatalf("L1 hit expires %v (%v, %d calls), want at most 24 h from now and one call", hit.ExpiresOn, err, next.calls)
	}
	// A new process reads the store.
	fresh := core.NewTokenCache(store, nil)
	stored, ok := fresh.Lookup(ctx, &cred.key, &req)
	if !ok || stored.ExpiresOn.After(limit.Add(time.Second)) {
		t.Fatalf("stored token: %v, expires %v; want a hit within 24 h", ok, stored.ExpiresOn)
	}
	// An entry with ten years left in the store (written before the cap,
	// or by a process whose clock is far ahead) is a miss.
	ten := core.Token{AccessToken: core.NewSecret("old"), ExpiresOn: time.Now().Add(10 * 365 * 24 * time.Hour)}
	if err := core.NewTokenCache(store, &core.TokenCacheOptions{Now: func() time.Time { return ten.ExpiresOn.Add(-time.Hour) }}).Put(ctx, &cred.key, &req, ten); err != nil {
		t.Fatal(err)
	}
	if got, ok := core.NewTokenCache(store, nil).Lookup(ctx, &cred.key, &req); ok {
		t.Fatalf("an entry %v ahead was served", time.Until(got.ExpiresOn).Round(time.Hour))
	}
}
