package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// DefaultMinLifetime is how much lifetime a cached access token must have
// left to be answered from the cache.
const DefaultMinLifetime = 5 * time.Minute

// Cache is the [cache] table: which token store backend the host opens,
// that backend's [cache.<backend>] table, and the lifetime a cached
// token needs. The backends are those registered with core/store; what
// this package knows of their settings (paths, secrets, what a project
// file may set) comes from their tags, so a new backend needs no change
// here.
type Cache struct {
	// Origin is the position of the [cache] header; zero if absent.
	Origin Origin
	// Backend names a registered backend; unset is store.DefaultBackend.
	Backend Value
	// Backends holds each [cache.<backend>] table's settings by key.
	// Settings written directly in [cache] (path, url, key: the form
	// before backend tables) land in the selected backend's table.
	Backends map[string]map[string]Value
	// MinLifetime is the lifetime a cached token needs to be used.
	MinLifetime       time.Duration
	MinLifetimeOrigin Origin

	// flat holds a layer's settings written directly in [cache] while the
	// backend they belong to is unknown: a layer that does not name the
	// backend sets the settings of whichever backend the layers select.
	flat map[string]Value
}

// Name is the selected backend's name.
func (c *Cache) Name() string {
	if c.Backend.Raw == "" {
		return store.DefaultBackend
	}
	return c.Backend.Raw
}

// Settings is the selected backend's table.
func (c *Cache) Settings() map[string]Value { return c.Backends[c.Name()] }

func (c *Cache) set(backend, key string, v Value) {
	if c.Backends == nil {
		c.Backends = map[string]map[string]Value{}
	}
	if c.Backends[backend] == nil {
		c.Backends[backend] = map[string]Value{}
	}
	c.Backends[backend][key] = v
}

// backendsHint lists the registered backends for messages.
func backendsHint() string {
	names := store.Names()
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(names, ", ")
}

// settingOf describes key of backend, or, for a setting written directly
// in [cache] before its backend is known (backend ""), of the first
// backend that has one of that name.
func settingOf(backend, key string) (store.Setting, bool) {
	names := []string{backend}
	if backend == "" {
		names = store.Names()
	}
	for _, n := range names {
		if b, ok := store.Lookup(n); ok {
			if s, ok := b.Setting(key); ok {
				return s, true
			}
		}
	}
	return store.Setting{}, false
}

// cache decodes [cache].
func (d *decoder) cache(n *node) Cache {
	cc := Cache{Origin: n.pos, MinLifetime: DefaultMinLifetime}
	c := checker{probs: d.probs, table: []string{"cache"}}
	for _, k := range n.keys {
		v := n.fields[k]
		switch {
		case k == "backend":
			s, ok := c.str(k, v, backendsHint())
			if _, known := store.Lookup(s); ok && !known {
				d.probs.add(v.pos, c.key(k), "unknown backend %q: use %s", s, backendsHint())
			}
			cc.Backend = Value{Raw: s, Origin: v.pos}
		case k == "min_lifetime":
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
		case v.kind == kTable:
			b, ok := store.Lookup(k)
			if !ok {
				d.probs.add(v.pos, c.key(k), "unknown backend %q: [cache] takes a table per backend, for %s", k, backendsHint())
				continue
			}
			tc := checker{probs: d.probs, table: []string{"cache", k}}
			for _, sk := range v.keys {
				sv := v.fields[sk]
				if _, ok := b.Setting(sk); !ok {
					d.unknown(sv, []string{"cache", k, sk}, b.Keys(), fmt.Sprintf("[cache.%s] takes %s", k, strings.Join(b.Keys(), ", ")))
					continue
				}
				if val, ok := tc.scalar(sk, sv); ok {
					cc.set(k, sk, val)
				}
			}
		default:
			if _, ok := settingOf("", k); !ok {
				known := []string{"backend", "min_lifetime"}
				for _, name := range store.Names() {
					b, _ := store.Lookup(name)
					known = append(known, b.Keys()...)
				}
				d.unknown(v, []string{"cache", k}, known, fmt.Sprintf("[cache] takes backend, min_lifetime and a [cache.<backend>] table for %s", backendsHint()))
				continue
			}
			if val, ok := c.scalar(k, v); ok {
				if cc.flat == nil {
					cc.flat = map[string]Value{}
				}
				cc.flat[k] = val
			}
		}
	}
	if cc.Backend.IsSet() {
		cc.migrate(&cc, d.probs)
	}
	return cc
}

// scalar reads a backend setting: a string (a number or a boolean for the
// settings that are one), not empty.
func (c *checker) scalar(k string, v *node) (Value, bool) {
	switch v.kind {
	case kString:
		if v.text == "" {
			c.probs.add(v.pos, c.key(k), "is empty: set it, or remove the key")
			return Value{}, false
		}
	case kBool, kInteger:
	default:
		c.probs.add(v.pos, c.key(k), "expected a string, got %s", v.kind)
		return Value{}, false
	}
	return Value{Raw: v.text, Origin: v.pos}, true
}

// migrate moves the settings c holds directly in [cache] into dst's
// selected backend table, where they override what lower layers set. A
// setting the selected backend does not have is reported with the
// backends that do.
func (c *Cache) migrate(dst *Cache, probs *problems) {
	name := dst.Name()
	b, ok := store.Lookup(name)
	for _, k := range slices.Sorted(maps.Keys(c.flat)) {
		v := c.flat[k]
		if !ok {
			continue // the unknown backend is reported
		}
		if _, has := b.Setting(k); !has {
			var owners []string
			for _, n := range store.Names() {
				if o, _ := store.Lookup(n); o != nil {
					if _, has := o.Setting(k); has {
						owners = append(owners, fmt.Sprintf("backend = %q", n))
					}
				}
			}
			probs.add(v.Origin, dotted("cache", k), "%s is for %s, not %q: remove it, or set that backend", k, strings.Join(owners, " or "), name)
			continue
		}
		dst.set(name, k, v)
	}
	c.flat = nil
}

// checkCache reports [cache] settings that are missing or contradict
// each other, by the selected backend's tags. It runs once all layers
// are merged, since the backend and its settings may come from different
// files. A required setting that the environment may supply (env=) is
// checked when the store opens.
func checkCache(cc *Cache, probs *problems) {
	cc.migrate(cc, probs)
	name := cc.Name()
	b, ok := store.Lookup(name)
	if !ok {
		return
	}
	set := cc.Settings()
	for _, s := range b.Settings() {
		v, isSet := set[s.Key]
		switch {
		case !isSet && s.Required && s.Env == "":
			probs.add(cc.Origin, dotted("cache", name, s.Key), "the %s backend needs %s: set it in [cache.%s]", name, s.Key, name)
		case isSet && s.Excludes != "":
			if _, both := set[s.Excludes]; both {
				probs.add(v.Origin, dotted("cache", name, s.Key), "set %s or %s, not both", s.Excludes, s.Key)
			}
		}
	}
}

// StoreInput is the selected backend's table as store.Registered.Open and
// store.Decode take it: relative paths against the config file, secrets
// resolved like profile secrets (env:, file:, inline).
func (f *File) StoreInput(getenv Env) store.Input {
	set := f.Cache.Settings()
	in := store.Input{Backend: f.Cache.Name(), Values: map[string]store.Value{}, Dir: f.dir(), Getenv: getenv.get}
	for k, v := range set {
		in.Values[k] = store.Value{Raw: v.Raw, Origin: v.Origin.String()}
	}
	in.Resolve = func(key string) (core.Secret, error) {
		return ResolveSecret(set[key], getenv, f.dir())
	}
	return in
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
