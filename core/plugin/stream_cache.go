package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
	"github.com/credhost/credhost/internal/blobmerge"
)

// Protocol 3 carries the flow's cache partition in the GetToken stream:
// the host sends the entries it expects the flow to read
// (GetTokenRequest.cache) and stores what the flow saved (the final
// event's cache_update). A call then makes no Load or Save round trip
// through the CacheService, which stays for the sub-keys the host did not
// send (a per-user or per-assertion key) and for Check.

// streamKeys are the sub-keys the host sends: the default partition,
// which is the one every flow but the per-user and per-assertion modes
// uses.
var streamKeys = []string{""}

// provisional marks the versions a streamCache returns from Save: they
// are never a store's version (stores count up from 1), so a flow that
// holds one compares unequal to anything the host sends.
const provisional = uint64(1) << 63

// streamCache is the plugin side of one protocol-3 call: a
// core.ConditionalCache over the entries the host sent, falling back to
// the CacheService for the others, that keeps the flow's saves for the
// final event.
type streamCache struct {
	sent     map[string]*pluginv1.CacheEntry
	fallback core.Cache // the CacheService; nil if the host offers none

	mu      sync.Mutex
	base    map[string]uint64    // the store version each key's change is based on
	updates map[string]core.Blob // with their provisional versions
	order   []string             // keys of updates, in first-save order
}

// saveCount numbers provisional versions across the process's calls.
var saveCount atomic.Uint64

func newStreamCache(entries []*pluginv1.CacheEntry, fallback core.Cache) *streamCache {
	c := &streamCache{sent: make(map[string]*pluginv1.CacheEntry, len(entries)), fallback: fallback,
		base: map[string]uint64{}, updates: map[string]core.Blob{}}
	for _, e := range entries {
		c.sent[e.GetKey()] = e
	}
	return c
}

// Load implements core.Cache.
func (c *streamCache) Load(ctx context.Context, key string) (core.Blob, error) {
	if b, ok := c.saved(key); ok {
		return b, nil
	}
	if e, ok := c.sent[key]; ok && !e.GetNotModified() {
		c.based(key, e.GetVersion())
		return core.Blob{Data: e.GetData(), Version: e.GetVersion()}, nil
	}
	if c.fallback == nil {
		return core.Blob{}, nil
	}
	b, err := c.fallback.Load(ctx, key)
	if err == nil {
		c.based(key, b.Version)
	}
	return b, err
}

// LoadIfChanged implements core.ConditionalCache. An entry the host marks
// not_modified is what this process last received or saved: unchanged.
func (c *streamCache) LoadIfChanged(ctx context.Context, key string, known uint64) (core.Blob, bool, error) {
	if b, ok := c.saved(key); ok {
		return b, b.Version != known, nil
	}
	e, ok := c.sent[key]
	switch {
	case ok && e.GetNotModified():
		c.based(key, e.GetVersion())
		return core.Blob{}, false, nil
	case ok && known == e.GetVersion():
		c.based(key, e.GetVersion())
		return core.Blob{}, false, nil
	case ok:
		c.based(key, e.GetVersion())
		return core.Blob{Data: e.GetData(), Version: e.GetVersion()}, true, nil
	}
	if cc, ok := c.fallback.(core.ConditionalCache); ok {
		b, changed, err := cc.LoadIfChanged(ctx, key, known)
		if err == nil && changed {
			c.based(key, b.Version)
		}
		return b, changed, err
	}
	b, err := c.Load(ctx, key)
	return b, true, err
}

// Save implements core.Cache: it keeps data for the final event and
// returns a provisional version. Conflicts are the host's to resolve
// when it stores the update (it merges with blobmerge, as msalcache does).
func (c *streamCache) Save(_ context.Context, key string, b core.Blob) (uint64, error) {
	if len(b.Data) > maxBlob {
		return 0, tooBig(key, len(b.Data))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.base[key]; !ok {
		if e, sent := c.sent[key]; sent {
			c.base[key] = e.GetVersion()
		} else if b.Version&provisional == 0 {
			c.base[key] = b.Version
		}
	}
	if _, ok := c.updates[key]; !ok {
		c.order = append(c.order, key)
	}
	v := provisional | saveCount.Add(1)
	c.updates[key] = core.Blob{Data: b.Data, Version: v}
	return v, nil
}

func (c *streamCache) saved(key string) (core.Blob, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.updates[key]
	return b, ok
}

func (c *streamCache) based(key string, v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.base[key]; !ok {
		c.base[key] = v
	}
}

// update is the final event's cache_update.
func (c *streamCache) update() []*pluginv1.CacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*pluginv1.CacheEntry, 0, len(c.order))
	for _, k := range c.order {
		out = append(out, &pluginv1.CacheEntry{Key: k, Data: c.updates[k].Data, Version: c.base[k]})
	}
	return out
}

// streamEntries is the host side: the entries of streamKeys to send,
// each left out (not_modified) when this plugin process already holds
// it. A store that cannot be read sends nothing: the flow then loads
// through the CacheService, which reports the error its own way.
func (c *Client) streamEntries(ctx context.Context) []*pluginv1.CacheEntry {
	out := make([]*pluginv1.CacheEntry, 0, len(streamKeys))
	for _, key := range streamKeys {
		b, err := c.cache.Load(ctx, key)
		if err != nil {
			c.log.Warn().Str("flow", c.name).Str("error", err.Error()).Msg("cannot read the flow's cache partition; the flow will load it itself")
			return nil
		}
		c.mu.Lock()
		held, ok := c.held[key]
		c.held[key] = b.Version
		c.mu.Unlock()
		if ok && b.Version != 0 && held == b.Version {
			out = append(out, &pluginv1.CacheEntry{Key: key, Version: b.Version, NotModified: true})
			continue
		}
		out = append(out, &pluginv1.CacheEntry{Key: key, Data: b.Data, Version: b.Version})
	}
	return out
}

// updateRetries bounds reload-and-merge rounds when a cache update lost a
// race with another process.
const updateRetries = 8

// applyUpdate stores the flow's cache_update. Like msalcache, a lost race
// reloads and merges (the flow's entries winning); persistence is best
// effort, so failures are logged and the token is still returned.
func (c *Client) applyUpdate(ctx context.Context, entries []*pluginv1.CacheEntry) {
	for _, e := range entries {
		if err := c.store(ctx, e); err != nil {
			c.log.Warn().Str("flow", c.name).Str("error", err.Error()).Msg("could not store the flow's cache update; its tokens stay in the plugin's memory only")
		}
	}
}

func (c *Client) store(ctx context.Context, e *pluginv1.CacheEntry) error {
	if len(e.GetData()) > maxBlob {
		return tooBig(e.GetKey(), len(e.GetData()))
	}
	data, version, merged := e.GetData(), e.GetVersion(), false
	for attempt := 0; ; attempt++ {
		v, err := c.cache.Save(ctx, e.GetKey(), core.Blob{Data: data, Version: version})
		if err == nil {
			c.mu.Lock()
			if merged {
				delete(c.held, e.GetKey()) // the plugin does not hold the merge
			} else {
				c.held[e.GetKey()] = v
			}
			c.mu.Unlock()
			return nil
		}
		if !errors.Is(err, core.ErrCacheConflict) {
			return fmt.Errorf("save: %w", err)
		}
		if attempt >= updateRetries {
			return fmt.Errorf("lost %d races: %w", attempt+1, err)
		}
		cur, err := c.cache.Load(ctx, e.GetKey())
		if err != nil {
			return fmt.Errorf("reload after a conflict: %w", err)
		}
		if data, err = blobmerge.Merge(cur.Data, e.GetData()); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		version, merged = cur.Version, true
	}
}

var _ core.ConditionalCache = (*streamCache)(nil)
