package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// Load implements core.Cache. An absent or expired entry gives a zero
// Blob. An entry sealed with another key is an error matching
// store.ErrWrongKey and is left in place. A damaged entry is deleted,
// logged once as a warning (see Options.Log), and reads as absent.
func (s *Store) Load(ctx context.Context, key string) (core.Blob, error) {
	rkey := s.entries + key
	vals, err := s.c.HMGet(ctx, rkey, "v", "d").Result()
	if goredis.HasErrorPrefix(err, "WRONGTYPE") {
		return core.Blob{}, s.discard(ctx, rkey, nil, errors.New("not a hash"))
	}
	if err != nil {
		return core.Blob{}, s.fail("load", err)
	}
	if vals[0] == nil && vals[1] == nil {
		return core.Blob{}, nil
	}
	v, _ := vals[0].(string)
	d, _ := vals[1].(string)
	b, err := s.openEntry(rkey, v, d)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, store.ErrWrongKey):
		return core.Blob{}, &wrongKeyError{prefix: s.prefix}
	}
	return core.Blob{}, s.discard(ctx, rkey, []string{v, d}, err)
}

// discard deletes the damaged entry rkey if it still holds what the reader
// saw (fields v and d; nil: a value that is not a hash), and warns if it
// did, so that concurrent readers warn once between them.
func (s *Store) discard(ctx context.Context, rkey string, fields []string, reason error) error {
	args := []any{"1", "", ""}
	if fields != nil {
		args = []any{"0", fields[0], fields[1]}
	}
	n, err := discardScript.Run(ctx, s.c, []string{rkey}, args...).Int()
	if err != nil {
		return s.fail("delete damaged entry", err)
	}
	if n == 1 {
		s.log.Warn().Str("cache", "redis").Str("addr", s.addr).Str("prefix", s.prefix).
			Str("reason", reason.Error()).Msg("deleted a damaged cache entry; it reads as absent")
	}
	return nil
}

// Save implements core.Cache: it stores blob under key if the stored
// version (0 when absent, expired or damaged) equals blob.Version, and
// returns the new version; otherwise it returns core.ErrCacheConflict. The
// entry expires in Redis at blob.ExpiresOn, or never when that is zero.
//
// It takes two round trips: one reserves the version, which the payload
// must carry before it is sealed; the other compares and sets.
func (s *Store) Save(ctx context.Context, key string, blob core.Blob) (uint64, error) {
	rkey := s.entries + key
	res, err := reserveScript.Run(ctx, s.c, []string{rkey}).Text()
	if err != nil {
		return 0, s.fail("save", err)
	}
	version, err := strconv.ParseUint(res, 10, 64)
	if err != nil || version == 0 {
		return 0, fmt.Errorf("redis: save: the server returned an unusable version %q", res)
	}
	sealed, err := s.cipher.Seal(encodePayload(version, blob.ExpiresOn, blob.Data), []byte(rkey))
	if err != nil {
		return 0, fmt.Errorf("redis: save: %w", err)
	}
	var expireAt int64
	if !blob.ExpiresOn.IsZero() {
		expireAt = max(blob.ExpiresOn.UnixMilli(), 1) // 0 means no expiry
	}
	args := []any{blob.Version, version, sealed, expireAt}
	if s.replicas == 0 {
		stored, err := saveScript.Run(ctx, s.c, []string{rkey}, args...).Int()
		if err != nil {
			return 0, s.fail("save", err)
		}
		if stored == 0 {
			return 0, core.ErrCacheConflict
		}
		return version, nil
	}
	// WAIT counts the replicas that have this connection's writes, so it
	// goes in one pipeline (one connection) with the save.
	var (
		save *goredis.Cmd
		wait *goredis.Cmd
	)
	if _, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		save = saveScript.Eval(ctx, p, []string{rkey}, args...)
		wait = p.Do(ctx, "WAIT", s.replicas, s.waitTimeout.Milliseconds())
		return nil
	}); err != nil {
		return 0, s.fail("save", err)
	}
	if stored, _ := save.Int(); stored == 0 {
		return 0, core.ErrCacheConflict
	}
	if n, _ := wait.Int64(); n < int64(s.replicas) {
		return 0, fmt.Errorf("redis: save: the entry reached %d of %d replicas (min_replicas) within %s; it could be lost in a failover, so it does not count as saved", n, s.replicas, s.waitTimeout)
	}
	return version, nil
}

// Delete implements core.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.entries+key).Err(); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// Keys implements core.Store. It walks the keyspace with SCAN (never KEYS,
// which blocks the server), on every master of a cluster, so it costs time
// in proportion to the whole database; Redis leaves expired entries out.
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, globEscape(s.entries+prefix)+"*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, strings.TrimPrefix(it.Val(), s.entries))
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.c.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return nil, s.fail("list keys", err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil // SCAN may return a key twice
}
