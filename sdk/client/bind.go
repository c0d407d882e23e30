package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credhost/credhost/sdk"
)

// ErrClosed is what TokenSource.Token returns after the source, or its
// Client, was closed.
var ErrClosed = errors.New("credhost: the token source is closed")

const (
	// expiryMargin is how long before its expiry a token stops being
	// served, so that it is still valid when the request reaches the
	// server (oauth2.Token.Valid uses the same 10 seconds). A token that
	// lives less than ten times this gets a tenth of its lifetime.
	expiryMargin = 10 * time.Second
	// Failed background refreshes are retried after retryMin, doubling
	// up to retryMax, while the token in hand is valid.
	retryMin = time.Second
	retryMax = time.Minute
)

// TokenSource is a token handle bound to one Client (one profile) and one
// request: Token answers from the token it holds with an atomic load and
// an expiry check, and a goroutine of its own gets the next token before
// this one expires. Callers wait only when the source holds no valid token
// (the first call, or after refreshes failed until expiry).
//
// Get one with Client.Bind; it is safe for concurrent use. Close it when
// done (Client.Close closes every source of the client).
type TokenSource struct {
	cur atomic.Pointer[bound] // nil: no token yet, or closed

	client *Client
	req    sdk.TokenRequest
	minLT  time.Duration   // the client's cache min lifetime
	kickCh chan struct{}   // wakes the refresher; buffered, never blocks
	ctx    context.Context // of the refresher's requests; ends at Close
	stop   context.CancelFunc
	exited chan struct{} // closed when the refresher returns

	mu      sync.Mutex
	waiters chan struct{} // closed when the next attempt ends; nil: nobody waits
	err     error         // of the last attempt
	closed  bool
}

// bound is a token with the times the source acts on, computed once.
type bound struct {
	tok        sdk.Token
	validUntil time.Time // served before this
	refreshAt  time.Time // refreshed from this on
	kicked     atomic.Bool
}

// Bind returns a TokenSource for req. req must name scopes; requests that
// cannot be reused (ForceRefresh, Claims, a UserAssertion) are refused.
// The source gets its first token on the first Token call, then keeps a
// valid one until it is closed: it refreshes at the token's refresh time
// or when the client's cache would stop serving it (the [cache]
// min_lifetime before expiry), but never before half its lifetime has
// passed.
func (c *Client) Bind(req sdk.TokenRequest) (*TokenSource, error) {
	switch {
	case len(req.NormalizedScopes()) == 0:
		return nil, errors.New("credhost: Bind: the request names no scopes")
	case req.ForceRefresh || req.Claims != "" || !req.UserAssertion.IsZero():
		return nil, errors.New("credhost: Bind: a request with ForceRefresh, Claims or a UserAssertion is one-off; call GetToken instead")
	}
	req.Scopes = slices.Clone(req.Scopes)
	ctx, stop := context.WithCancel(context.Background())
	s := &TokenSource{client: c, req: req, minLT: c.minLifetime, ctx: ctx, stop: stop,
		kickCh: make(chan struct{}, 1), exited: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		stop()
		return nil, ErrClosed
	}
	c.sources[s] = struct{}{}
	c.mu.Unlock()
	go s.refresher()
	return s, nil
}

// Token returns the source's token. A hit allocates nothing. ctx bounds
// only the wait when there is no valid token; the request that wait
// started goes on for other callers.
func (s *TokenSource) Token(ctx context.Context) (sdk.Token, error) {
	now := time.Now()
	if b := s.cur.Load(); b != nil && now.Before(b.validUntil) {
		if !now.Before(b.refreshAt) && !b.kicked.Load() && b.kicked.CompareAndSwap(false, true) {
			// The refresher's timer runs on the monotonic clock, which
			// stops while the machine sleeps; this catches it up. Once:
			// after that the refresher keeps its own retry times.
			s.kick()
		}
		return b.tok, nil
	}
	return s.wait(ctx)
}

// Close stops the refresher and waits for it. Token then returns
// ErrClosed. Close is idempotent.
func (s *TokenSource) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cur.Store(nil)
		s.stop()
	}
	s.mu.Unlock()
	<-s.exited
	s.client.mu.Lock()
	delete(s.client.sources, s)
	s.client.mu.Unlock()
	return nil
}

func (s *TokenSource) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// wait asks the refresher for a token now and waits for its answer.
// Callers that come while a request is under way share its answer.
func (s *TokenSource) wait(ctx context.Context) (sdk.Token, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return sdk.Token{}, ErrClosed
		}
		if b := s.cur.Load(); b != nil && time.Now().Before(b.validUntil) {
			s.mu.Unlock()
			return b.tok, nil
		}
		if s.waiters == nil {
			s.waiters = make(chan struct{})
		}
		ch := s.waiters
		s.mu.Unlock()
		s.kick()
		select {
		case <-ch:
		case <-s.ctx.Done():
			return sdk.Token{}, ErrClosed
		case <-ctx.Done():
			return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Err: ctx.Err(),
				Hint: "the call was cancelled or ran out of time while the token source got a token; raise the profile's timeout if the flow needs longer"}
		}
		s.mu.Lock()
		err, closed := s.err, s.closed
		s.mu.Unlock()
		if b := s.cur.Load(); err != nil && !closed && (b == nil || !time.Now().Before(b.validUntil)) {
			return sdk.Token{}, err
		}
		// A token (or Close) came; or the answer expired in between
		// and the loop asks again.
	}
}

// refresher gets tokens: at once for waiting callers, ahead of expiry
// otherwise, one request at a time.
func (s *TokenSource) refresher() {
	defer close(s.exited)
	ctx := s.ctx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var retryAt time.Time // after a failure: not before this
	backoff := retryMin
	for {
		s.mu.Lock()
		waiting := s.waiters != nil
		s.mu.Unlock()
		b := s.cur.Load()
		due := time.Time{} // zero: nothing to do until kicked
		switch {
		case waiting:
			due = time.Now()
		case b != nil && time.Now().Before(b.validUntil):
			due = b.refreshAt
			if retryAt.After(due) {
				due = retryAt
			}
		}
		if due.IsZero() || time.Now().Before(due) {
			var tc <-chan time.Time
			if !due.IsZero() {
				timer.Reset(time.Until(due))
				tc = timer.C
			}
			select {
			case <-ctx.Done():
				return
			case <-s.kickCh:
			case <-tc:
			}
			timer.Stop()
			continue
		}
		newer, err := s.attempt(ctx, b)
		s.mu.Lock()
		s.err = err
		if s.waiters != nil {
			close(s.waiters) // those who came during the attempt too
			s.waiters = nil
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil || !newer {
			retryAt = time.Now().Add(backoff)
			backoff = min(2*backoff, retryMax)
		} else {
			retryAt, backoff = time.Time{}, retryMin
		}
	}
}

// attempt gets a token and, if it is newer than old, publishes it and
// reports true. A refresh answered with the token in hand (a cache in the
// flow that still serves it) is asked again with ForceRefresh.
func (s *TokenSource) attempt(ctx context.Context, old *bound) (bool, error) {
	tok, err := s.client.GetToken(ctx, s.req)
	if err == nil && old != nil && !tok.ExpiresOn.After(old.tok.ExpiresOn) {
		req := s.req
		req.ForceRefresh = true
		tok, err = s.client.GetToken(ctx, req)
	}
	if err != nil {
		return false, err
	}
	now := time.Now()
	b := newBound(tok, now, s.minLT)
	if !now.Before(b.validUntil) {
		return false, &sdk.Error{Kind: sdk.KindFailed, Flow: tok.Flow, Err: fmt.Errorf("the flow returned a token that expires at %s", tok.ExpiresOn.Format(time.RFC3339)),
			Hint: "check the clocks of this machine and the identity provider"}
	}
	if old != nil && !tok.ExpiresOn.After(old.tok.ExpiresOn) {
		return false, nil // no newer token yet; the in-hand one stays
	}
	s.mu.Lock()
	if !s.closed {
		s.cur.Store(b)
	}
	s.mu.Unlock()
	return true, nil
}

func newBound(tok sdk.Token, now time.Time, minLifetime time.Duration) *bound {
	life := tok.ExpiresOn.Sub(now)
	margin := min(expiryMargin, life/10)
	refreshAt := tok.ExpiresOn.Add(-minLifetime)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(refreshAt) {
		refreshAt = tok.RefreshOn
	}
	// A token shorter-lived than the min lifetime would be refreshed at
	// once, and again, and again.
	if half := now.Add(life / 2); refreshAt.Before(half) {
		refreshAt = half
	}
	return &bound{tok: tok, validUntil: tok.ExpiresOn.Add(-margin), refreshAt: refreshAt}
}
