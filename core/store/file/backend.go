package file

import (
	"context"

	"github.com/credhost/credhost/core"

	"github.com/credhost/credhost/core/store"
)

// Name is the file backend's name in [cache] backend, the default.
const Name = "file"

// Settings are the [cache.file] table's.
type Settings struct {
	// Path is the cache file; default DefaultPath.
	Path string `toml:"path" store:"path"`
	// KeyFile holds the key when neither Key nor Passphrase is set;
	// default cache.key beside Path.
	KeyFile string `toml:"key_file" store:"path"`
	// Key is the 32-byte encryption key; $CREDHOST_CACHE_KEY overrides
	// it (and the passphrase and key file).
	Key core.Secret `toml:"key" store:"secret,env=CREDHOST_CACHE_KEY"`
	// Passphrase derives the key with Argon2id.
	Passphrase core.Secret `toml:"passphrase" store:"secret,excludes=key"`
}

func init() {
	store.Register(store.Backend[Settings]{Name: Name, Open: func(ctx context.Context, s Settings, o store.OpenOptions) (store.Opened, error) {
		st, err := OpenVerified(ctx, s.Path, &Options{Key: s.Key, Passphrase: s.Passphrase, KeyFile: s.KeyFile, Log: o.Log})
		if err != nil {
			return store.Opened{}, err
		}
		return store.Opened{Store: st, Location: st.Path()}, nil
	}})
}
