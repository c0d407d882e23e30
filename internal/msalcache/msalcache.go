// Package msalcache stores an MSAL token cache in the host's cache service
// (core.Cache), one blob per partition key, with optimistic concurrency:
// a save that lost a race reloads the stored blob, merges it with ours and
// tries again.
//
// MSAL's own partition-key hints are unreliable (MSAL Go issues #423 and
// #424), so they are ignored: the flow chooses the key.
package msalcache

import (
	"context"
	"errors"
	"fmt"
	"github.com/credhost/credhost/internal/blobmerge"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// DefaultTimeout bounds a Load or Save whose context has no deadline, as
// cache.ExportReplace requires.
const DefaultTimeout = 30 * time.Second

// DefaultMaxRetries is how many times Export reloads and merges after a
// conflict before giving up on this save.
const DefaultMaxRetries = 8

// Options tunes an Adapter. The zero value (or nil) means the defaults.
type Options struct {
	// MaxRetries bounds reload-and-merge rounds after ErrCacheConflict;
	// 0 means DefaultMaxRetries.
	MaxRetries int
	// Logger receives warnings (a corrupt blob, a save given up). Nil
	// means the logger of each call's context (zerolog.Ctx).
	Logger *zerolog.Logger
}

// Adapter is a cache.ExportReplace over one key of a core.Cache. It
// remembers the version of the blob it last loaded and saves against it.
// One Adapter belongs to one MSAL client; it is safe for the concurrent use
// that MSAL makes of it.
//
// The store used by a call is the one put in its context with WithStore,
// else the one given to New. With neither, tokens are cached in MSAL's
// memory for the life of the process only, and Replace touches that memory
// only to honour WithoutAccessTokens and to trim it (see Trim).
//
// Persistence is best effort: a token the IdP has issued is never lost
// because the cache could not be read or written. Store failures and
// conflicts that outlast MaxRetries are logged as warnings and MSAL goes
// on with its in-memory cache; only context cancellation is returned.
type Adapter struct {
	store      core.Cache
	key        string
	maxRetries int
	log        *zerolog.Logger

	mu      sync.Mutex
	version uint64 // version of the blob last loaded into MSAL

	// Without a store (see memory.go):
	trimEvery int  // saves between trims
	maxMemory int  // access tokens kept by a trim
	saves     int  // since the last scheduled trim
	trimDue   bool // the next Replace trims MSAL's in-memory cache
}

// New returns an Adapter over key in store. store may be nil when every
// call brings its own through WithStore; opts may be nil.
func New(store core.Cache, key string, opts *Options) *Adapter {
	a := &Adapter{store: store, key: key, maxRetries: DefaultMaxRetries,
		trimEvery: trimEvery, maxMemory: maxMemoryTokens}
	if opts != nil {
		if opts.MaxRetries > 0 {
			a.maxRetries = opts.MaxRetries
		}
		a.log = opts.Logger
	}
	return a
}

func (a *Adapter) logger(ctx context.Context) *zerolog.Logger {
	if a.log != nil {
		return a.log
	}
	return zerolog.Ctx(ctx)
}

// Replace implements cache.ExportReplace: it loads the blob into MSAL and
// remembers its version. An absent blob empties MSAL's cache. A blob that
// is not MSAL cache JSON is treated as empty (and overwritten by the next
// Export) rather than breaking every acquisition. If the store cannot be
// read, MSAL keeps its in-memory cache. The hints are ignored.
func (a *Adapter) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	store := a.storeFor(ctx)
	if store == nil {
		return a.filterInMemory(ctx, u)
	}
	drop := dropFrom(ctx)
	var blob core.Blob
	var err error
	if cc, ok := store.(core.ConditionalCache); ok && a.version != 0 && drop == nil {
		// MSAL already holds version a.version (we loaded or saved it):
		// skip the transfer and the JSON decoding if it is still current.
		var changed bool
		blob, changed, err = cc.LoadIfChanged(ctx, a.key, a.version)
		if err == nil && !changed {
			return nil
		}
	} else {
		blob, err = store.Load(ctx, a.key)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		a.logger(ctx).Warn().Str("cache", a.key).Str("error", err.Error()).Msg("msalcache: cannot load the token cache; using the in-memory copy")
		return a.filterInMemory(ctx, u)
	}
	data := blob.Data
	if len(data) == 0 {
		data = []byte("{}")
	}
	if drop != nil {
		if filtered, err := dropAccessTokens(data, drop); err == nil {
			data = filtered
		}
	}
	data = capAccessTokens(data, time.Now())
	if err := u.Unmarshal(data); err != nil {
		a.logger(ctx).Warn().Str("cache", a.key).Msg("msalcache: stored token cache is not MSAL cache JSON; starting empty")
		if err := u.Unmarshal([]byte("{}")); err != nil {
			return fmt.Errorf("msalcache: reset: %w", err)
		}
	}
	a.version = blob.Version
	return nil
}

// Export implements cache.ExportReplace: it saves MSAL's cache against the
// version last loaded. On core.ErrCacheConflict it reloads, merges (our
// entries win) and retries, at most MaxRetries times with a short jittered
// pause. The hints are ignored.
func (a *Adapter) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	store := a.storeFor(ctx)
	if store == nil {
		a.noteSave()
		return nil
	}
	ours, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("msalcache: marshal: %w", err)
	}
	giveUp := func(msg string, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		a.logger(ctx).Warn().Str("cache", a.key).Str("error", err.Error()).Msg(msg)
		return nil
	}
	data, version := ours, a.version
	for attempt := 0; ; attempt++ {
		v, err := store.Save(ctx, a.key, core.Blob{Data: data, Version: version})
		if err == nil {
			a.version = v
			return nil
		}
		if !errors.Is(err, core.ErrCacheConflict) {
			return giveUp("msalcache: cannot save the token cache; tokens stay in memory only", err)
		}
		if attempt >= a.maxRetries {
			return giveUp(fmt.Sprintf("msalcache: token cache save lost %d races; not saved this time", attempt+1), err)
		}
		if err := pause(ctx, attempt); err != nil {
			return err
		}
		cur, err := store.Load(ctx, a.key)
		if err != nil {
			return giveUp("msalcache: cannot reload the token cache after a conflict; not saved this time", err)
		}
		merged, err := blobmerge.Merge(cur.Data, ours)
		if err != nil {
			return fmt.Errorf("msalcache: merge: %w", err)
		}
		data, version = merged, cur.Version
	}
}

// pause waits a few jittered milliseconds, longer after each conflict, so
// that racing writers interleave instead of colliding again.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(attempt+1) * int64(2*time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type storeKey struct{}

// WithStore returns a context whose Replace and Export calls use store.
// Flows put the core.Services.Cache of each GetToken call there, since the
// host may hand every call its own connection to the same storage. A nil
// store means "the Adapter's own".
func WithStore(ctx context.Context, store core.Cache) context.Context {
	if store == nil {
		return ctx
	}
	return context.WithValue(ctx, storeKey{}, store)
}

func (a *Adapter) storeFor(ctx context.Context) core.Cache {
	if s, ok := ctx.Value(storeKey{}).(core.Cache); ok && s != nil {
		return s
	}
	return a.store
}

// filterInMemory applies a WithoutAccessTokens filter, and a trim when
// one is due, to MSAL's in-memory cache when there is no store to reload
// from. Otherwise it leaves MSAL alone: no marshalling on a plain call.
// a.mu is held.
func (a *Adapter) filterInMemory(ctx context.Context, u cache.Unmarshaler) error {
	drop := dropFrom(ctx)
	m, ok := u.(cache.Marshaler)
	if (drop == nil && !a.trimDue) || !ok {
		return nil
	}
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("msalcache: marshal: %w", err)
	}
	if drop != nil {
		if data, err = dropAccessTokens(data, drop); err != nil {
			return nil
		}
	}
	if a.trimDue {
		a.trimDue = false
		trimmed, err := trimAccessTokens(data, time.Now(), a.maxMemory)
		if err != nil {
			a.logger(ctx).Warn().Str("cache", a.key).Str("error", err.Error()).Msg("msalcache: cannot trim the in-memory token cache")
		} else {
			data = trimmed
		}
	}
	return u.Unmarshal(data)
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

var _ cache.ExportReplace = (*Adapter)(nil)
