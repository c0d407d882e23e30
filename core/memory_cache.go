package core

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryCache is an in-process Store. It is safe for concurrent use; the
// zero value is ready.
type MemoryCache struct {
	mu sync.Mutex
	m  map[string]Blob
}

// Load implements Cache.
func (c *MemoryCache) Load(_ context.Context, key string) (Blob, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[key]
	return Blob{Data: append([]byte(nil), b.Data...), Version: b.Version, ExpiresOn: b.ExpiresOn}, nil
}

// Save implements Cache.
func (c *MemoryCache) Save(_ context.Context, key string, b Blob) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]Blob{}
	}
	if cur := c.m[key]; cur.Version != b.Version {
		return 0, ErrCacheConflict
	}
	v := b.Version + 1
	c.m[key] = Blob{Data: append([]byte(nil), b.Data...), Version: v, ExpiresOn: b.ExpiresOn}
	return v, nil
}

// Delete implements Store.
func (c *MemoryCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

// Keys implements Store.
func (c *MemoryCache) Keys(_ context.Context, prefix string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Close implements Store; it does nothing.
func (c *MemoryCache) Close() error { return nil }

// Len returns the number of entries.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// PrefixCache scopes a Cache to keys under a prefix, so each (profile,
// flow) partition only sees its own entries.
type PrefixCache struct {
	Prefix string
	Cache  Cache
}

// Load implements Cache.
func (p PrefixCache) Load(ctx context.Context, key string) (Blob, error) {
	return p.Cache.Load(ctx, p.Prefix+key)
}

// Save implements Cache.
func (p PrefixCache) Save(ctx context.Context, key string, b Blob) (uint64, error) {
	return p.Cache.Save(ctx, p.Prefix+key, b)
}

var (
	_ Store = (*MemoryCache)(nil)
	_ Cache = PrefixCache{}
)
