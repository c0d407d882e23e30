package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// cachedCredential answers from the L1 token cache and sends misses to
// the profile's chain, one call per distinct request at a time.
type cachedCredential struct {
	key     core.TokenKey
	l1      *core.TokenCache
	next    core.Credential
	flights *flights
	signIn  core.SignInLocker // nil: the store is not shared by processes
	// outcomes shares a failure with the callers that were waiting for
	// it (outcome.go).
	outcomes *outcomes
	log      zerolog.Logger
}

// GetToken implements core.Credential.
func (c *cachedCredential) GetToken(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	if tok, ok := c.l1.Lookup(ctx, &c.key, &req); ok {
		return tok, nil
	}
	return c.miss(ctx, req)
}

// miss is apart from GetToken so that its closure's capture of req does
// not move req to the heap on the hit path (which allocates nothing).
func (c *cachedCredential) miss(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	fk := core.StoreKey(c.key, req) + "|" + strconv.FormatBool(req.ForceRefresh) + "|" + req.Claims
	if !req.AuthorizationCode.IsZero() {
		// Each code is a flight of its own: two sign-ins for the same
		// scopes must never share one redemption's result.
		sum := sha256.Sum256([]byte(req.AuthorizationCode.Code.Reveal()))
		fk += "|code:" + hex.EncodeToString(sum[:])
	}
	since := c.outcomes.now()
	return c.flights.do(ctx, fk, func(ctx context.Context) (core.Token, error) {
		// A flight that just ended may have filled the cache.
		if tok, ok := c.l1.Lookup(ctx, &c.key, &req); ok {
			return tok, nil
		}
		locked := false
		if c.signIn != nil {
			// Other processes may be getting the same token: wait for
			// them, then take theirs from the store.
			unlock, err := c.signIn.SignInLock(ctx, fk)
			if err != nil {
				if ctx.Err() != nil {
					return core.Token{}, &core.Error{Kind: core.KindFailed, Err: err,
						Hint: "another credhost process was signing in for the same profile; raise the timeout or finish that sign-in"}
				}
				c.log.Warn().Str("profile", c.key.Profile).Str("error", err.Error()).Msg("no sign-in lock; parallel processes may each ask the IdP")
			} else {
				defer unlock()
				locked = true
				if tok, ok := c.l1.Lookup(ctx, &c.key, &req); ok {
					return tok, nil
				}
				// The holder failed: take its answer rather than ask
				// the IdP once more per waiting process.
				if err := c.outcomes.lookup(ctx, fk, since); err != nil {
					return core.Token{}, err
				}
			}
		}
		tok, err := c.next.GetToken(ctx, req)
		if err != nil {
			if locked && shareable(ctx, err) {
				// For the processes waiting on the lock; goroutines of
				// this process share the flight's result already.
				c.outcomes.record(ctx, fk, err) // before the deferred unlock
			}
			return tok, err
		}
		// The caller gets what L1 keeps: never more than
		// core.MaxTokenLifetime, whatever the IdP's expires_in.
		tok = tok.CapLifetime(time.Now())
		if req.ForceRefresh && (!req.UserAssertion.IsZero() || !req.AuthorizationCode.IsZero()) {
			// A one-time exchange (an authorization code being redeemed)
			// or a forced on-behalf-of refresh: the flow keeps the result
			// in its own state. Kept out of L1 so that replaying the same
			// code can never be answered from the cache: it must reach
			// the IdP and fail there (AADSTS54005).
			return tok, nil
		}
		if err := c.l1.Put(ctx, &c.key, &req, tok); err != nil {
			c.log.Warn().Str("profile", c.key.Profile).Str("error", err.Error()).Msg("could not store the token in the cache; the next call will ask the flow again")
		}
		return tok, nil
	})
}

// cancelGrace bounds how long the last caller to leave a flight waits
// for the cancelled call to finish (see flights.do).
const cancelGrace = time.Second

// flights collapses concurrent identical requests into one call.
//
// golang.org/x/sync/singleflight would run the call under the first
// caller's context, so that caller's Ctrl-C would fail everyone else's
// wait. Here the call runs under a context that ends only when every
// waiter has gone (and then it is cancelled, so the plugin is stopped).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	tok     core.Token
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (f *flights) do(ctx context.Context, key string, fn func(context.Context) (core.Token, error)) (core.Token, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl := f.m[key]
	if fl == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		f.m[key] = fl
		go func() {
			tok, err := fn(fctx)
			f.mu.Lock()
			fl.tok, fl.err = tok, err
			delete(f.m, key)
			f.mu.Unlock()
			cancel()
			close(fl.done)
		}()
	}
	fl.waiters++
	f.mu.Unlock()

	select {
	case <-fl.done:
		return fl.tok, fl.err
	case <-ctx.Done():
		f.mu.Lock()
		fl.waiters--
		last := fl.waiters == 0
		if last {
			fl.cancel()
		}
		f.mu.Unlock()
		if last {
			// Let the cancelled call wind down before answering: it
			// kills a plugin that overran (member.GetToken), and a
			// caller that retried at once would otherwise reuse that
			// process just before the kill and lose its own call to
			// it. Every step honours the cancellation, so this takes
			// milliseconds; the bound keeps a stuck step from holding
			// the caller.
			t := time.NewTimer(cancelGrace)
			select {
			case <-fl.done:
			case <-t.C:
			}
			t.Stop()
		}
		return core.Token{}, &core.Error{Kind: core.KindFailed, Err: ctx.Err(),
			Hint: "the call was cancelled or ran out of time; raise the profile's timeout if the flow needs longer"}
	}
}

var _ core.Credential = (*cachedCredential)(nil)
