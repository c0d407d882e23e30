package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ChainMember is one flow in a chain.
type ChainMember struct {
	// Name is the flow id, used in the attempt list.
	Name       string
	Credential Credential
	// Interactive reports whether the member can talk to the user. It is
	// consulted only after an earlier member returned
	// KindInteractionRequired; nil means "not interactive".
	Interactive func(ctx context.Context) (bool, error)
	// Skipped, if set, says why the member cannot run here (a default
	// chain credential whose variables are not set): the chain lists it
	// in the attempts with this reason and never calls it. Credential may
	// then be nil.
	Skipped string
}

// ChainOptions tunes a Chain. The zero value is the default.
type ChainOptions struct {
	// RetrySources makes every call try the members from the start instead
	// of going straight to the member that worked last time.
	RetrySources bool
	// OnAttempt, if set, is called after each member that gave no token,
	// skipped members included, so a caller can log why the chain moved
	// on even when it succeeds.
	OnAttempt func(Attempt)
}

// Chain tries its members in order until one returns a token.
//
// A member that is Unavailable is skipped. After InteractionRequired, only
// interactive members are tried, with the claims challenge passed on. Any
// other error stops the chain. Once a member has succeeded, later calls
// start with it (unless RetrySources); if it becomes unavailable the chain
// starts over. Chain is safe for concurrent use.
type Chain struct {
	profile string
	members []ChainMember
	opts    ChainOptions

	mu     sync.Mutex
	winner int // index of the member that last worked, -1 if none
}

// NewChain returns a chain for profile over members, which it copies. It
// rejects an empty chain and nil members.
func NewChain(profile string, members []ChainMember, opts *ChainOptions) (*Chain, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("profile %q: chain is empty: list at least one flow in chain", profile)
	}
	c := &Chain{profile: profile, members: append([]ChainMember(nil), members...), winner: -1}
	for i, m := range c.members {
		if m.Credential == nil && m.Skipped == "" {
			return nil, fmt.Errorf("profile %q: chain member %d (%s) has no credential", profile, i+1, m.Name)
		}
	}
	if opts != nil {
		c.opts = *opts
	}
	return c, nil
}

// GetToken implements Credential.
func (c *Chain) GetToken(ctx context.Context, req TokenRequest) (Token, error) {
	c.mu.Lock()
	start := c.winner
	c.mu.Unlock()
	if start >= 0 && !c.opts.RetrySources {
		m := c.members[start]
		tok, err := m.Credential.GetToken(ctx, req)
		if err == nil {
			return tok, nil
		}
		if KindOf(err) == KindFailed {
			return Token{}, &ChainError{Profile: c.profile, Attempts: []Attempt{{Flow: m.Name, Err: err}}}
		}
		// The remembered member can no longer run here: start over.
		c.mu.Lock()
		c.winner = -1
		c.mu.Unlock()
	}
	return c.run(ctx, req)
}

func (c *Chain) run(ctx context.Context, req TokenRequest) (Token, error) {
	var attempts []Attempt
	// record keeps an attempt for the error and tells OnAttempt, skipped
	// members included, so that a chain that succeeds can still say why
	// the members before the winner gave nothing.
	record := func(a Attempt) {
		attempts = append(attempts, a)
		if c.opts.OnAttempt != nil {
			c.opts.OnAttempt(a)
		}
	}
	needInteraction := false
	for i, m := range c.members {
		if err := ctx.Err(); err != nil {
			attempts = append(attempts, Attempt{Flow: m.Name, Err: &Error{Kind: KindFailed, Flow: m.Name, Err: err}})
			return Token{}, &ChainError{Profile: c.profile, Attempts: attempts}
		}
		if m.Skipped != "" {
			record(Attempt{Flow: m.Name, Skipped: m.Skipped})
			continue
		}
		if needInteraction {
			ok, err := interactive(ctx, m)
			if err != nil {
				record(Attempt{Flow: m.Name, Err: err})
				if KindOf(err) == KindFailed {
					return Token{}, &ChainError{Profile: c.profile, Attempts: attempts}
				}
				continue
			}
			if !ok {
				record(Attempt{Flow: m.Name, Skipped: "cannot interact with the user, and an earlier flow needs interaction"})
				continue
			}
		}
		began := time.Now()
		tok, err := m.Credential.GetToken(ctx, req)
		if err == nil {
			c.mu.Lock()
			c.winner = i
			c.mu.Unlock()
			return tok, nil
		}
		record(Attempt{Flow: m.Name, Err: err, Duration: time.Since(began)})
		switch KindOf(err) {
		case KindUnavailable:
			continue
		case KindInteractionRequired:
			needInteraction = true
			var e *Error
			if errors.As(err, &e) && e.Claims != "" && req.Claims == "" {
				req.Claims = e.Claims
			}
			continue
		default:
			return Token{}, &ChainError{Profile: c.profile, Attempts: attempts}
		}
	}
	return Token{}, &ChainError{Profile: c.profile, Attempts: attempts}
}

func interactive(ctx context.Context, m ChainMember) (bool, error) {
	if m.Interactive == nil {
		return false, nil
	}
	return m.Interactive(ctx)
}

// Attempt is one member's turn in a chain.
type Attempt struct {
	Flow string
	// Err is why the member gave no token; nil if it was skipped.
	Err error
	// Skipped says why the member was not tried.
	Skipped  string
	Duration time.Duration
}

// ChainError lists every attempt of a chain that produced no token, in
// order.
type ChainError struct {
	Profile  string
	Attempts []Attempt
}

// Kind is the kind of the chain's outcome: KindFailed if any attempt
// failed; else KindInteractionRequired if any needed interaction; else
// KindUnavailable.
func (e *ChainError) Kind() Kind {
	k := KindUnavailable
	for _, a := range e.Attempts {
		if a.Err == nil {
			continue
		}
		switch KindOf(a.Err) {
		case KindFailed:
			return KindFailed
		case KindInteractionRequired:
			k = KindInteractionRequired
		}
	}
	return k
}

// Last returns the error of the last attempt that ran, or nil.
func (e *ChainError) Last() error {
	for i := len(e.Attempts) - 1; i >= 0; i-- {
		if e.Attempts[i].Err != nil {
			return e.Attempts[i].Err
		}
	}
	return nil
}

// Unwrap returns every attempt's error, so errors.As finds the *Error of
// any of them.
func (e *ChainError) Unwrap() []error {
	var errs []error
	for _, a := range e.Attempts {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	return errs
}

func (e *ChainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %q: no token (%s); attempts:", e.Profile, e.Kind())
	for i, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  %d. %s: ", i+1, a.Flow)
		if a.Err == nil {
			fmt.Fprintf(&b, "skipped: %s", a.Skipped)
			continue
		}
		msg := a.Err.Error()
		// Avoid "clientcreds: clientcreds: ..." when the error names its flow.
		msg = strings.TrimPrefix(msg, a.Flow+": ")
		b.WriteString(msg)
	}
	return b.String()
}
