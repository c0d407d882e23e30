package host

import (
	"context"
	"fmt"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store/redis"
)

// openRedis opens the Redis store of c. The key is required (config
// validation says so); the password and CA come from their own settings
// so that the URL in the file carries no secret.
func openRedis(ctx context.Context, c config.Cache, key core.Secret, base string, secret func(config.Value) (core.Secret, error), log zerolog.Logger) (*Store, error) {
	if key.IsZero() {
		return nil, &config.Error{Origin: c.Origin, Key: "cache.key", Msg: `the redis backend needs an encryption key: key = "env:CREDHOST_CACHE_KEY" (32 bytes, base64), or set ` + config.EnvCacheKey}
	}
	pass, err := secret(c.Password)
	if err != nil {
		return nil, err
	}
	var ca []byte
	if c.CAFile.IsSet() {
		if ca, err = config.ResolveBytes(config.Value{Raw: "file:" + c.CAFile.Raw, Origin: c.CAFile.Origin}, nil, base); err != nil {
			return nil, err
		}
	}
	s, err := redis.Open(ctx, c.URL.Raw, &redis.Options{Key: key, Password: pass, Prefix: c.Prefix.Raw, CA: ca, Log: log})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Store{Store: s, Backend: config.CacheRedis, Location: redisLocation(c.URL.Raw, c.Prefix.Raw)}, nil
}

// redisLocation is the URL without user info, and the key prefix.
func redisLocation(raw, prefix string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "redis (unparsable URL)"
	}
	u.User = nil
	if prefix == "" {
		prefix = redis.DefaultPrefix
	}
	return u.Redacted() + " prefix " + prefix
}
