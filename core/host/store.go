package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/core/store/file"
)

// EnvCacheKey holds the cache encryption key (32 bytes: base64, hex or
// raw). It overrides [cache] key and the key file.
const EnvCacheKey = "CREDHOST_CACHE_KEY"

// Store is the token store a config file asks for, with what `credhost
// cache info` shows about it.
type Store struct {
	core.Store
	// Backend is config.CacheFile, config.CacheRedis or config.CacheMemory.
	Backend string
	// Location is the cache file's path or the Redis address; never a
	// password.
	Location string
}

// OpenStore opens the store of f's [cache] table: the encrypted file by
// default, Redis, or memory. Secrets (key, passphrase) are resolved like
// profile secrets, relative to the config file; $CREDHOST_CACHE_KEY
// overrides the key. Nothing here touches the network except a Redis
// connection check bounded by the store's dial timeout.
func OpenStore(ctx context.Context, f *config.File, getenv func(string) string, log zerolog.Logger) (*Store, error) {
	c := f.Cache
	base := ""
	if f.Path != "" {
		base = filepath.Dir(f.Path)
	}
	secret := func(v config.Value) (core.Secret, error) {
		if !v.IsSet() {
			return core.Secret{}, nil
		}
		return config.ResolveSecret(v, config.Env(getenv), base)
	}
	key, err := secret(c.Key)
	if err != nil {
		return nil, err
	}
	if k := getenv(EnvCacheKey); k != "" {
		key = core.NewSecret(k)
	}
	switch c.Backend.Raw {
	case config.CacheMemory:
		return &Store{Store: &core.MemoryCache{}, Backend: config.CacheMemory, Location: "memory (nothing persists)"}, nil
	case config.CacheRedis:
		return openRedis(ctx, c, key, base, secret, log)
	}
	pass, err := secret(c.Passphrase)
	if err != nil {
		return nil, err
	}
	if !key.IsZero() && !pass.IsZero() {
		// [cache] passphrase with CREDHOST_CACHE_KEY: the variable wins,
		// as it does over a key file.
		pass = core.Secret{}
	}
	path := relTo(base, c.Path.Raw)
	if path == "" {
		if path, err = file.DefaultPath(); err != nil {
			return nil, err
		}
	}
	s, err := file.Open(path, &file.Options{Key: key, Passphrase: pass, KeyFile: relTo(base, c.KeyFile.Raw), Log: log})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	// Read the file's index now: a cache written with another key must
	// stop the call with a clear error rather than send every call to
	// the IdP (and every interactive flow to the user) with warnings.
	// The index stays decoded for the lookups that follow, so this costs
	// nothing extra.
	if _, err := s.Load(ctx, ""); errors.Is(err, store.ErrWrongKey) {
		_ = s.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Store{Store: s, Backend: config.CacheFile, Location: s.Path()}, nil
}

// relTo makes a relative path from the config file relative to its
// directory; "" stays "".
func relTo(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// signInLocker returns the store's cross-process sign-in lock, if it has
// one (the file store does).
func signInLocker(s core.Store) core.SignInLocker {
	if hs, ok := s.(*Store); ok {
		s = hs.Store
	}
	l, _ := s.(core.SignInLocker)
	return l
}
