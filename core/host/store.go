package host

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store"
	// The built-in backends (file, redis, memory) register themselves.
	_ "github.com/credhost/credhost/core/store/stores"
)

// Store is the token store a config file asks for, with what `credhost
// cache info` shows about it.
type Store struct {
	core.Store
	// Backend is the backend's registered name: "file", "redis",
	// "memory", or one an embedder registered.
	Backend string
	// Location is the cache file's path or the Redis address; never a
	// password.
	Location string
}

// OpenStore opens the store f's [cache] table selects (the encrypted
// file by default) with its [cache.<backend>] settings: whatever backend
// is registered under that name (core/store.Register) opens it. Secrets
// are resolved like profile secrets, relative to the config file;
// $CREDHOST_CACHE_KEY overrides the file and Redis keys. Nothing here
// touches the network except a connection check of a network store,
// bounded by ctx and the store's dial timeout.
func OpenStore(ctx context.Context, f *config.File, getenv func(string) string, log zerolog.Logger) (*Store, error) {
	name := f.Cache.Name()
	b, ok := store.Lookup(name)
	if !ok {
		return nil, &config.Error{Origin: f.Cache.Backend.Origin, Key: "cache.backend", Msg: fmt.Sprintf("unknown backend %q: this program has %v", name, store.Names())}
	}
	opened, err := b.Open(ctx, f.StoreInput(config.Env(getenv)), store.OpenOptions{Log: log})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Store{Store: opened.Store, Backend: name, Location: opened.Location}, nil
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
