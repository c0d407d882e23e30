package redis

import (
	"context"
	"fmt"
	"net/url"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/internal/boundedio"
)

// Name is the Redis backend's name in [cache] backend.
const Name = "redis"

// maxCA bounds the CA file: a few PEM certificates.
const maxCA = 1 << 20

// Settings are the [cache.redis] table's. The password and the CA have
// settings of their own so that the URL in the file carries no secret.
type Settings struct {
	// URL is redis:// or rediss:// (TLS), with a user if the server has
	// ACLs, and the topology's parameters (see Open).
	URL string `toml:"url" store:"required"`
	// Key is the 32-byte encryption key every host of the farm shares;
	// $CREDHOST_CACHE_KEY overrides it.
	Key core.Secret `toml:"key" store:"secret,required,env=CREDHOST_CACHE_KEY"`
	// Password replaces the URL's.
	Password core.Secret `toml:"password" store:"secret"`
	// CAFile holds extra PEM roots for a rediss:// server with a
	// private CA.
	CAFile string `toml:"ca_file" store:"path"`
	// Prefix namespaces the keys per application; default DefaultPrefix.
	Prefix string `toml:"prefix"`
}

func init() {
	store.Register(store.Backend[Settings]{Name: Name, Open: openStore})
}

// openStore opens the store of s, with go-redis's own log lines (failed dials,
// pool errors) going to the host's log rather than to stderr.
func openStore(ctx context.Context, s Settings, o store.OpenOptions) (store.Opened, error) {
	RouteDriverLogs(o.Log)
	var ca []byte
	if s.CAFile != "" {
		var err error
		if ca, err = boundedio.ReadFile(s.CAFile, maxCA); err != nil {
			return store.Opened{}, &store.SettingError{Backend: Name, Key: "ca_file", Msg: "cannot read the CA certificates", Err: err}
		}
	}
	st, err := Open(ctx, s.URL, &Options{Key: s.Key, Password: s.Password, Prefix: s.Prefix, CA: ca, Log: o.Log})
	if err != nil {
		return store.Opened{}, err
	}
	return store.Opened{Store: st, Location: location(s.URL, s.Prefix)}, nil
}

// location is the URL without user info, and the key prefix.
func location(raw, prefix string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "redis (unparsable URL)"
	}
	u.User = nil
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return fmt.Sprintf("%s prefix %s", u.Redacted(), prefix)
}
