package host

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store/file"
)

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
	switch f.Cache.Backend.Raw {
	case config.CacheMemory:
		return &Store{Store: &core.MemoryCache{}, Backend: config.CacheMemory, Location: "memory (nothing persists)"}, nil
	case config.CacheRedis:
		key, err := f.ResolveCacheKey(config.Env(getenv))
		if err != nil {
			return nil, err
		}
		secret := func(v config.Value) (core.Secret, error) {
			if !v.IsSet() {
				return core.Secret{}, nil
			}
			return config.ResolveSecret(v, config.Env(getenv), configDir(f))
		}
		return openRedis(ctx, f.Cache, key, configDir(f), secret, log)
	}
	fc, err := f.ResolveFileCache(config.Env(getenv))
	if err != nil {
		return nil, err
	}
	s, err := file.OpenVerified(ctx, fc.Path, &file.Options{Key: fc.Key, Passphrase: fc.Passphrase, KeyFile: fc.KeyFile, Log: log})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Store{Store: s, Backend: config.CacheFile, Location: s.Path()}, nil
}

// configDir is the directory relative references of f resolve against.
func configDir(f *config.File) string {
	if f.Path == "" {
		return ""
	}
	return filepath.Dir(f.Path)
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
