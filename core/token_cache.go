package core

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenKeyPrefix starts the Store keys of cached access tokens.
const TokenKeyPrefix = "token|"

// TokenCache is the host's L1 cache of access tokens: a hit with enough
// lifetime left is answered without starting any plugin. Entries live in
// memory and, when a Store is given, in the Store too, so a new process
// (the CLI) gets hits from the file or Redis.
//
// It is safe for concurrent use.
type TokenCache struct {
	store       Store // may be nil: memory only
	minLifetime time.Duration
	now         func() time.Time

	mu  sync.RWMutex
	mem map[uint64]*tokenEntry
}

// TokenCacheOptions tunes a TokenCache; nil means defaults.
type TokenCacheOptions struct {
	// MinLifetime is the lifetime a token must have left to be served;
	// default 5 minutes.
	MinLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewTokenCache returns a TokenCache over store (nil: memory only).
func NewTokenCache(store Store, opts *TokenCacheOptions) *TokenCache {
	c := &TokenCache{store: store, minLifetime: 5 * time.Minute, now: time.Now, mem: map[uint64]*tokenEntry{}}
	if opts != nil {
		if opts.MinLifetime > 0 {
			c.minLifetime = opts.MinLifetime
		}
		if opts.Now != nil {
			c.now = opts.Now
		}
	}
	return c
}

// TokenKey identifies a cached token: the fixed part of a profile plus
// the request's scopes, tenant and account hint.
type TokenKey struct {
	Profile, Authority, ClientID string
	// Chain names the profile's flows ("iwa,devicecode"). A token is
	// only served to the chain that could have produced it: when a
	// profile moves from an app flow to a user flow, its cached app
	// tokens must not answer for the user.
	Chain string
}

// tokenEntry is what the cache keeps; it also is the Store format.
type tokenEntry struct {
	Profile   string   `json:"profile"`
	Authority string   `json:"authority"`
	ClientID  string   `json:"client_id"`
	Chain     string   `json:"chain,omitempty"`
	Scopes    []string `json:"scopes"` // normalized
	Tenant    string   `json:"tenant,omitempty"`
	AccountIn string   `json:"account_hint,omitempty"`
	// Assertion is the SHA-256 (hex) of the caller's token for
	// on-behalf-of: a downstream token belongs to the user whose token
	// was exchanged, never to another caller. The token itself is never
	// stored.
	Assertion string      `json:"assertion_sha256,omitempty"`
	Token     storedToken `json:"token"`

	tok Token // decoded once
}

type storedToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresOn   time.Time `json:"expires_on"`
	RefreshOn   time.Time `json:"refresh_on,omitzero"`
	HomeAccount string    `json:"home_account_id,omitempty"`
	Username    string    `json:"username,omitempty"`
	TenantID    string    `json:"tenant_id,omitempty"`
	Flow        string    `json:"flow"`
}

var seed = maphash.MakeSeed()

// memKey hashes a request without allocating. Scopes are combined
// order-independently; matches are verified field by field, so a hash
// collision can only cause a miss, never a wrong token.
func memKey(k *TokenKey, req *TokenRequest) uint64 {
	var sum uint64
	for _, s := range req.Scopes {
		if s = strings.TrimSpace(s); s != "" {
			sum += maphash.String(seed, s)
		}
	}
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(k.Profile)
	h.WriteByte(0)
	h.WriteString(k.Authority)
	h.WriteByte(0)
	h.WriteString(k.ClientID)
	h.WriteByte(0)
	h.WriteString(k.Chain)
	h.WriteByte(0)
	h.WriteString(req.TenantID)
	h.WriteByte(0)
	h.WriteString(req.Account)
	h.WriteByte(0)
	if !req.UserAssertion.IsZero() {
		h.WriteString(req.UserAssertion.Reveal())
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], sum)
	h.Write(b[:])
	return h.Sum64()
}

// StoreKey is the key of a token in the Store: stable across processes.
func StoreKey(k TokenKey, req TokenRequest) string {
	h := sha256.New()
	for _, part := range []string{k.Authority, k.ClientID, k.Chain, req.TenantID, req.Account, assertionHash(&req), strings.Join(req.NormalizedScopes(), " ")} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return TokenKeyPrefix + k.Profile + "|" + hex.EncodeToString(h.Sum(nil)[:16])
}

// assertionHash is the SHA-256 (hex) of req's user assertion, "" without
// one.
func assertionHash(req *TokenRequest) string {
	if req.UserAssertion.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte(req.UserAssertion.Reveal()))
	return hex.EncodeToString(sum[:])
}

func (e *tokenEntry) matches(k *TokenKey, req *TokenRequest) bool {
	if e.Profile != k.Profile || e.Authority != k.Authority || e.ClientID != k.ClientID || e.Chain != k.Chain || e.Tenant != req.TenantID || e.AccountIn != req.Account {
		return false
	}
	// Without an assertion this costs nothing (the hit path allocates
	// nothing); with one, the hash is compared.
	if (e.Assertion == "") != req.UserAssertion.IsZero() || (e.Assertion != "" && e.Assertion != assertionHash(req)) {
		return false
	}
	n := 0
	for _, s := range req.Scopes {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, ok := slices.BinarySearch(e.Scopes, s); !ok {
			return false
		}
		n++
	}
	// Every requested scope is in the entry; the entry must not hold
	// more (duplicates in the request only make this a miss).
	return n == len(e.Scopes)
}

func (c *TokenCache) fresh(t *Token) bool {
	now := c.now()
	if !t.RefreshOn.IsZero() && !now.Before(t.RefreshOn) {
		return false
	}
	// An entry beyond the lifetime cap (written before the cap existed,
	// or by a process whose clock runs far ahead) is not served: the
	// flow is asked again, and Put caps what it answers. The minute
	// absorbs clock differences between processes.
	if t.ExpiresOn.Sub(now) > MaxTokenLifetime+time.Minute {
		return false
	}
	return t.ExpiresOn.Sub(now) > c.minLifetime
}

// Lookup returns a cached token for req if one has enough lifetime left.
// Requests with claims or ForceRefresh never hit. A memory hit does not
// allocate.
func (c *TokenCache) Lookup(ctx context.Context, k *TokenKey, req *TokenRequest) (Token, bool) {
	if req.ForceRefresh || req.Claims != "" {
		return Token{}, false
	}
	mk := memKey(k, req)
	c.mu.RLock()
	e := c.mem[mk]
	c.mu.RUnlock()
	if e != nil && e.matches(k, req) && c.fresh(&e.tok) {
		return e.tok, true
	}
	if c.store == nil {
		return Token{}, false
	}
	b, err := c.store.Load(ctx, StoreKey(*k, *req))
	if err != nil || len(b.Data) == 0 {
		return Token{}, false
	}
	e = decodeEntry(b.Data)
	if e == nil || !e.matches(k, req) || !c.fresh(&e.tok) {
		return Token{}, false
	}
	c.mu.Lock()
	c.mem[mk] = e
	c.mu.Unlock()
	return e.tok, true
}

// Put caches tok for req, in memory and in the Store, for at most
// MaxTokenLifetime. A Store failure is returned but the memory entry
// stays: the token is good either way.
func (c *TokenCache) Put(ctx context.Context, k *TokenKey, req *TokenRequest, tok Token) error {
	tok = tok.CapLifetime(c.now())
	e := &tokenEntry{
		Profile: k.Profile, Authority: k.Authority, ClientID: k.ClientID, Chain: k.Chain,
		Scopes: req.NormalizedScopes(), Tenant: req.TenantID, AccountIn: req.Account, Assertion: assertionHash(req),
		Token: storedToken{
			AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType, ExpiresOn: tok.ExpiresOn.UTC(), RefreshOn: tok.RefreshOn.UTC(),
			HomeAccount: tok.Account.HomeAccountID, Username: tok.Account.Username, TenantID: tok.Account.TenantID, Flow: tok.Flow,
		},
		tok: tok,
	}
	if tok.RefreshOn.IsZero() {
		e.Token.RefreshOn = time.Time{}
	}
	c.mu.Lock()
	c.mem[memKey(k, req)] = e
	c.mu.Unlock()
	if c.store == nil {
		return nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	key := StoreKey(*k, *req)
	// Last writer wins: a newer token for the same key is as good as ours.
	for range 3 {
		cur, err := c.store.Load(ctx, key)
		if err != nil {
			return err
		}
		_, err = c.store.Save(ctx, key, Blob{Data: data, Version: cur.Version, ExpiresOn: tok.ExpiresOn})
		if err == nil || err != ErrCacheConflict {
			return err
		}
	}
	return nil
}

// Forget drops every cached token whose Store key starts with prefix
// (TokenKeyPrefix + profile + "|" for one profile), and the memory copies.
func (c *TokenCache) Forget(ctx context.Context, profile string) error {
	c.mu.Lock()
	for k, e := range c.mem {
		if profile == "" || e.Profile == profile {
			delete(c.mem, k)
		}
	}
	c.mu.Unlock()
	if c.store == nil {
		return nil
	}
	prefix := TokenKeyPrefix
	if profile != "" {
		prefix += profile + "|"
	}
	keys, err := c.store.Keys(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := c.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// CachedToken describes a cached token without its secret, for listings.
type CachedToken struct {
	Profile   string
	Scopes    []string
	Flow      string
	Account   Account
	ExpiresOn time.Time
}

// List returns what the Store holds (every profile if profile is "").
// Undecodable entries are skipped.
func (c *TokenCache) List(ctx context.Context, profile string) ([]CachedToken, error) {
	if c.store == nil {
		c.mu.RLock()
		defer c.mu.RUnlock()
		var out []CachedToken
		for _, e := range c.mem {
			if profile == "" || e.Profile == profile {
				out = append(out, e.describe())
			}
		}
		return out, nil
	}
	prefix := TokenKeyPrefix
	if profile != "" {
		prefix += profile + "|"
	}
	keys, err := c.store.Keys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []CachedToken
	for _, k := range keys {
		b, err := c.store.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		if e := decodeEntry(b.Data); e != nil {
			out = append(out, e.describe())
		}
	}
	return out, nil
}

func (e *tokenEntry) describe() CachedToken {
	return CachedToken{Profile: e.Profile, Scopes: e.Scopes, Flow: e.tok.Flow, Account: e.tok.Account, ExpiresOn: e.tok.ExpiresOn}
}

func decodeEntry(data []byte) *tokenEntry {
	var e tokenEntry
	if err := json.Unmarshal(data, &e); err != nil || e.Token.AccessToken == "" {
		return nil
	}
	slices.Sort(e.Scopes)
	e.tok = Token{
		AccessToken: NewSecret(e.Token.AccessToken), TokenType: e.Token.TokenType,
		ExpiresOn: e.Token.ExpiresOn, RefreshOn: e.Token.RefreshOn, Flow: e.Token.Flow,
		Account: Account{HomeAccountID: e.Token.HomeAccount, Username: e.Token.Username, TenantID: e.Token.TenantID},
	}
	return &e
}
