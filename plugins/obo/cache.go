package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/jwtpeek"
)

// The flow caches downstream tokens per assertion: the host Cache sub-key
// is the SHA-256 of the assertion (never the assertion itself), and its
// blob lists the tokens obtained with it, by scopes and tenant. Every
// instance of a web farm sharing the host store (Redis) thus exchanges a
// given caller token once per downstream resource.

// minLifetime is the lifetime a cached token needs to be served; it
// matches MSAL's own expiry margin, so a served token outlives the call
// that uses it.
const minLifetime = 5 * time.Minute

// saveRetries bounds reload-and-merge rounds after a Save conflict.
const saveRetries = 4

// cachedToken is one downstream token in an assertion's blob.
type cachedToken struct {
	Scopes        []string  `json:"scopes"` // normalized
	Tenant        string    `json:"tenant,omitempty"`
	AccessToken   string    `json:"access_token"`
	ExpiresOn     time.Time `json:"expires_on"`
	RefreshOn     time.Time `json:"refresh_on,omitzero"`
	HomeAccountID string    `json:"home_account_id,omitempty"`
	Username      string    `json:"username,omitempty"`
	TenantID      string    `json:"tenant_id,omitempty"`
}

// cacheBlob is the stored value of one assertion.
type cacheBlob struct {
	Tokens []cachedToken `json:"tokens"`
}

// assertionKey is the cache sub-key of an assertion.
func assertionKey(assertion string) string {
	sum := sha256.Sum256([]byte(assertion))
	return hex.EncodeToString(sum[:])
}

// assertionExpired reports whether the assertion's exp claim is past. The
// claim is read without verifying the signature: it only ever turns a
// cache hit into a call to the IdP, which verifies everything.
func assertionExpired(assertion string, now time.Time) bool {
	exp, ok := jwtpeek.Expiry(assertion)
	return ok && !now.Before(exp)
}

// lookup returns the cached token for scopes and tenant under key if it
// has enough lifetime left. A store that fails or holds junk is a miss.
func lookup(ctx context.Context, store sdk.Cache, key string, scopes []string, tenant string, now time.Time) (sdk.Token, bool) {
	b, err := store.Load(ctx, key)
	if err != nil {
		return sdk.Token{}, false
	}
	for _, t := range decodeBlob(b.Data).Tokens {
		if !t.matches(scopes, tenant) || !t.fresh(now) {
			continue
		}
		return sdk.Token{
			AccessToken: sdk.NewSecret(t.AccessToken),
			TokenType:   "Bearer",
			ExpiresOn:   t.ExpiresOn,
			RefreshOn:   t.RefreshOn,
			Account:     sdk.Account{HomeAccountID: t.HomeAccountID, Username: t.Username, TenantID: t.TenantID},
			Flow:        flowName,
		}, true
	}
	return sdk.Token{}, false
}

// save adds tok to key's blob, replacing the token of the same scopes and
// tenant and dropping expired ones. A conflicting writer (another process
// of the farm) is merged with, not overwritten.
func save(ctx context.Context, store sdk.Cache, key string, scopes []string, tenant string, tok sdk.Token, now time.Time) error {
	entry := cachedToken{
		Scopes: scopes, Tenant: tenant, AccessToken: tok.AccessToken.Reveal(),
		ExpiresOn: tok.ExpiresOn.UTC(), HomeAccountID: tok.Account.HomeAccountID, Username: tok.Account.Username, TenantID: tok.Account.TenantID,
	}
	if !tok.RefreshOn.IsZero() {
		entry.RefreshOn = tok.RefreshOn.UTC()
	}
	for attempt := 0; ; attempt++ {
		cur, err := store.Load(ctx, key)
		if err != nil {
			return err
		}
		blob := cacheBlob{Tokens: []cachedToken{entry}}
		expires := entry.ExpiresOn
		for _, t := range decodeBlob(cur.Data).Tokens {
			if t.matches(scopes, tenant) || !t.ExpiresOn.After(now) {
				continue
			}
			blob.Tokens = append(blob.Tokens, t)
			if t.ExpiresOn.After(expires) {
				expires = t.ExpiresOn
			}
		}
		data, err := json.Marshal(blob)
		if err != nil {
			return err
		}
		_, err = store.Save(ctx, key, sdk.Blob{Data: data, Version: cur.Version, ExpiresOn: expires})
		if !errors.Is(err, sdk.ErrCacheConflict) || attempt >= saveRetries {
			return err
		}
	}
}

// decodeBlob reads a stored blob; anything unreadable counts as empty and
// is overwritten by the next save.
func decodeBlob(data []byte) cacheBlob {
	var b cacheBlob
	if len(data) == 0 || json.Unmarshal(data, &b) != nil {
		return cacheBlob{}
	}
	return b
}

func (t cachedToken) matches(scopes []string, tenant string) bool {
	return t.Tenant == tenant && slices.Equal(t.Scopes, scopes) && t.AccessToken != ""
}

func (t cachedToken) fresh(now time.Time) bool {
	if !t.RefreshOn.IsZero() && !now.Before(t.RefreshOn) {
		return false
	}
	return t.ExpiresOn.Sub(now) > minLifetime
}

// memCache is the flow's cache when the host keeps no state: in memory,
// dropping expired entries as it goes, since a long-running API sees an
// unbounded stream of assertions. It is safe for concurrent use.
type memCache struct {
	mu sync.Mutex
	m  map[string]sdk.Blob
	n  uint64 // last version handed out
}

func (c *memCache) Load(_ context.Context, key string) (sdk.Blob, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[key]
	return sdk.Blob{Data: slices.Clone(b.Data), Version: b.Version, ExpiresOn: b.ExpiresOn}, nil
}

func (c *memCache) Save(_ context.Context, key string, b sdk.Blob) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]sdk.Blob{}
	}
	if c.m[key].Version != b.Version {
		return 0, sdk.ErrCacheConflict
	}
	if c.n%256 == 0 {
		// Every so often, not on every save: the sweep is linear.
		now := time.Now()
		for k, old := range c.m {
			if !old.ExpiresOn.IsZero() && old.ExpiresOn.Before(now) {
				delete(c.m, k)
			}
		}
	}
	c.n++
	c.m[key] = sdk.Blob{Data: slices.Clone(b.Data), Version: c.n, ExpiresOn: b.ExpiresOn}
	return c.n, nil
}

var _ sdk.Cache = (*memCache)(nil)
