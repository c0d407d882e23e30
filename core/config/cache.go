package config

import (
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/credhost/credhost/core"
)

// Cache backends.
const (
	CacheFile   = "file"   // encrypted file (default)
	CacheRedis  = "redis"  // Redis, for web farms
	CacheMemory = "memory" // nothing persists: every process starts cold
)

// DefaultMinLifetime is how much lifetime a cached access token must have
// left to be answered from the cache.
const DefaultMinLifetime = 5 * time.Minute

// Cache is the [cache] table: where the host keeps tokens and flow state.
type Cache struct {
	// Origin is the position of the [cache] header; zero if absent.
	Origin Origin
	// Backend is file (default), redis or memory.
	Backend Value
	// Path is the cache file (file backend); default in the user's cache
	// directory.
	Path Value
	// KeyFile holds the encryption key (file backend); created 0600 on
	// first use; default beside Path.
	KeyFile Value
	// Key is the 32-byte encryption key, a secret (inline, env:, file:).
	// For the file backend it overrides KeyFile; Redis requires it.
	Key Value
	// Passphrase derives the key with Argon2id (file backend), a secret.
	Passphrase Value
	// URL is the Redis URL (redis:// or rediss:// for TLS), with a user
	// if the server has ACLs. Put the password in Password, not here.
	URL Value
	// Password is the Redis password, a secret (inline, env:, file:).
	Password Value
	// CAFile holds extra PEM roots for a rediss:// server with a private
	// CA.
	CAFile Value
	// Prefix namespaces Redis keys per application.
	Prefix Value
	// MinLifetime is the lifetime a cached token needs to be used.
	MinLifetime       time.Duration
	MinLifetimeOrigin Origin
}

var cacheKeys = []string{"backend", "path", "key_file", "key", "passphrase", "url", "password", "ca_file", "prefix", "min_lifetime"}

// cache decodes [cache].
func (d *decoder) cache(n *node) Cache {
	cc := Cache{Origin: n.pos, MinLifetime: DefaultMinLifetime}
	c := checker{probs: d.probs, table: []string{"cache"}}
	for _, k := range n.keys {
		v := n.fields[k]
		switch k {
		case "backend":
			s, ok := c.str(k, v, `"file", "redis" or "memory"`)
			if ok && !slices.Contains([]string{CacheFile, CacheRedis, CacheMemory}, s) {
				d.probs.add(v.pos, c.key(k), `unknown backend %q: use "file", "redis" or "memory"`, s)
			}
			cc.Backend = Value{Raw: s, Origin: v.pos}
		case "min_lifetime":
			cc.MinLifetimeOrigin = v.pos
			s, ok := c.str(k, v, `a duration like "5m"`)
			if !ok {
				continue
			}
			dur, err := time.ParseDuration(s)
			if err != nil || dur < 0 {
				d.probs.add(v.pos, c.key(k), `invalid duration %q: write a number and a unit, like "5m"`, s)
				continue
			}
			cc.MinLifetime = dur
		case "path", "key_file", "key", "passphrase", "url", "password", "ca_file", "prefix":
			s, ok := c.str(k, v, "a string")
			if ok && s == "" {
				d.probs.add(v.pos, c.key(k), "is empty: set it, or remove the key")
			}
			val := Value{Raw: s, Origin: v.pos}
			switch k {
			case "path":
				cc.Path = val
			case "key_file":
				cc.KeyFile = val
			case "key":
				cc.Key = val
			case "passphrase":
				cc.Passphrase = val
			case "url":
				cc.URL = val
			case "password":
				cc.Password = val
			case "ca_file":
				cc.CAFile = val
			case "prefix":
				cc.Prefix = val
			}
		default:
			d.unknown(v, []string{"cache", k}, cacheKeys, "[cache] takes "+strings.Join(cacheKeys, ", "))
		}
	}
	return cc
}

// checkCache reports [cache] settings that contradict each other. It runs
// once all layers are merged, since the backend and its settings may come
// from different files.
func checkCache(cc *Cache, probs *problems) {
	switch cc.Backend.Raw {
	case CacheRedis:
		if !cc.URL.IsSet() {
			probs.add(cc.Origin, "cache.url", `the redis backend needs url = "redis://host:6379/0" (or rediss:// for TLS)`)
		}
		if !cc.Key.IsSet() {
			probs.add(cc.Origin, "cache.key", `the redis backend needs an encryption key: key = "env:CREDHOST_CACHE_KEY" (32 bytes, base64)`)
		}
		for _, v := range []struct {
			key string
			val Value
		}{{"path", cc.Path}, {"key_file", cc.KeyFile}, {"passphrase", cc.Passphrase}} {
			if v.val.IsSet() {
				probs.add(v.val.Origin, "cache."+v.key, `%s is for backend = "file"; Redis entries are sealed with key`, v.key)
			}
		}
	case "", CacheFile:
		for _, v := range []struct {
			key string
			val Value
		}{{"url", cc.URL}, {"password", cc.Password}, {"ca_file", cc.CAFile}, {"prefix", cc.Prefix}} {
			if v.val.IsSet() {
				probs.add(v.val.Origin, "cache."+v.key, `%s is for backend = "redis"`, v.key)
			}
		}
		if cc.Key.IsSet() && cc.Passphrase.IsSet() {
			probs.add(cc.Passphrase.Origin, "cache.passphrase", "set key or passphrase, not both")
		}
	}
}

// FileCache is the file backend's settings with the secrets resolved, as
// the host and the CLI's fast path open the cache file.
type FileCache struct {
	// Path and KeyFile are "" for their defaults.
	Path, KeyFile   string
	Key, Passphrase core.Secret
}

// ResolveCacheKey returns the cache encryption key: $CREDHOST_CACHE_KEY,
// else [cache] key resolved (env:, file:, inline), else none.
func (f *File) ResolveCacheKey(getenv Env) (core.Secret, error) {
	if k := getenv.get(EnvCacheKey); k != "" {
		return core.NewSecret(k), nil
	}
	return f.cacheSecret(f.Cache.Key, getenv)
}

// ResolveFileCache resolves the file backend's settings. A passphrase
// gives way to a key from $CREDHOST_CACHE_KEY, as a key file does.
func (f *File) ResolveFileCache(getenv Env) (FileCache, error) {
	key, err := f.ResolveCacheKey(getenv)
	if err != nil {
		return FileCache{}, err
	}
	pass, err := f.cacheSecret(f.Cache.Passphrase, getenv)
	if err != nil {
		return FileCache{}, err
	}
	if !key.IsZero() {
		pass = core.Secret{}
	}
	return FileCache{Path: f.relative(f.Cache.Path.Raw), KeyFile: f.relative(f.Cache.KeyFile.Raw), Key: key, Passphrase: pass}, nil
}

func (f *File) cacheSecret(v Value, getenv Env) (core.Secret, error) {
	if !v.IsSet() {
		return core.Secret{}, nil
	}
	return ResolveSecret(v, getenv, f.dir())
}

// dir is the config file's directory, which relative paths of a single
// file config are relative to ("" when it came from no file). Layered
// configs have their paths made absolute already.
func (f *File) dir() string {
	if f.Path == "" {
		return ""
	}
	return filepath.Dir(f.Path)
}

func (f *File) relative(p string) string {
	if p == "" || filepath.IsAbs(p) || f.dir() == "" {
		return p
	}
	return filepath.Join(f.dir(), p)
}
