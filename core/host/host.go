// Package host runs profiles: it turns a config profile into a chain of
// flows, each served by a lazily started plugin process, and owns all
// token state those flows keep.
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/plugin"
)

// DefaultTimeout bounds one chain member's call when the profile sets none.
const DefaultTimeout = 2 * time.Minute

// Options tunes a Host. The zero value is usable.
type Options struct {
	// Log receives host and plugin logs; default zerolog.Nop().
	Log zerolog.Logger
	// Getenv resolves env: references; default os.Getenv.
	Getenv func(string) string
	// PluginDirs are searched for plugins first (see PluginDirs).
	PluginDirs []string
	// Store keeps access tokens (the L1 cache) and the flows' state;
	// default in memory. The host does not close it.
	Store core.Store
	// MinLifetime is the lifetime a cached token needs to be served;
	// default 5 minutes.
	MinLifetime time.Duration
	// UI shows prompts. Nil means nobody is watching: a flow that needs
	// to prompt is Unavailable.
	UI core.UI
}

// Host runs the profiles of one config file. It is safe for concurrent
// use. Host.Close stops every plugin it started.
type Host struct {
	file *config.File
	opts Options

	l1      *core.TokenCache
	flights flights

	mu     sync.Mutex
	chains map[string]core.Credential
	procs  []*plugin.Process
	closed bool
}

// New returns a Host for file. It starts nothing.
func New(file *config.File, opts *Options) *Host {
	h := &Host{file: file, chains: map[string]core.Credential{}}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Getenv == nil {
		h.opts.Getenv = os.Getenv
	}
	if h.opts.Store == nil {
		h.opts.Store = &core.MemoryCache{}
	}
	h.l1 = core.NewTokenCache(h.opts.Store, &core.TokenCacheOptions{MinLifetime: h.opts.MinLifetime})
	return h
}

// Credential returns the named profile's credential: the L1 token cache
// in front of the profile's chain. Plugins start only when a call misses
// the cache and reaches them.
func (h *Host) Credential(profile string) (core.Credential, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("host: closed")
	}
	if c, ok := h.chains[profile]; ok {
		return c, nil
	}
	p, err := h.file.Profile(profile)
	if err != nil {
		return nil, err
	}
	members := make([]core.ChainMember, 0, len(p.Chain))
	for _, e := range chainEntries(p) {
		if e.Skipped != "" {
			members = append(members, core.ChainMember{Name: e.Name(), Skipped: e.Skipped})
			continue
		}
		m := h.member(p, e.Flow)
		members = append(members, core.ChainMember{Name: e.Flow, Credential: m, Interactive: m.interactive})
	}
	c, err := core.NewChain(p.Name, members, &core.ChainOptions{
		RetrySources: !p.RememberWinner,
		OnAttempt: func(a core.Attempt) {
			if a.Skipped != "" {
				h.opts.Log.Info().Str("profile", p.Name).Str("flow", a.Flow).Str("skipped", a.Skipped).
					Msg("flow skipped; the chain moves on")
				return
			}
			h.opts.Log.Info().Str("profile", p.Name).Str("flow", a.Flow).Str("kind", core.KindOf(a.Err).String()).
				Err(a.Err).Msg("flow gave no token; the chain decides what next")
		},
	})
	if err != nil {
		return nil, err
	}
	cred := guardTenants(p, h.opts.Getenv, &cachedCredential{
		key:      p.TokenKey(),
		l1:       h.l1,
		next:     c,
		flights:  &h.flights,
		signIn:   signInLocker(h.opts.Store),
		outcomes: &outcomes{store: h.opts.Store, now: time.Now},
		log:      h.opts.Log,
	})
	h.chains[profile] = cred
	return cred, nil
}

// Validate starts the profile's plugins just far enough to describe and
// configure them (no network call to the IdP) and returns each chain
// member's problem, in chain order; nil entries are members that are fine.
// Problems with settings name file:line:key. An Unavailable problem (a
// plugin not installed, a flow not set up for this profile) is for the
// caller to show as a warning: the chain would move on.
func (h *Host) Validate(ctx context.Context, profile string) ([]error, error) {
	p, err := h.file.Profile(profile)
	if err != nil {
		return nil, err
	}
	problems := make([]error, len(p.Chain))
	for i, flow := range p.Chain {
		_, problems[i] = h.member(p, flow).interactive(ctx)
	}
	return problems, nil
}

// Close stops every plugin process and waits for them to exit.
func (h *Host) Close() error {
	h.mu.Lock()
	procs := h.procs
	h.procs, h.closed = nil, true
	h.mu.Unlock()
	for _, p := range procs {
		p.Close()
	}
	return nil
}

// chainEntries lists the profile's chain: the default chain's members
// with the skipped ones (config.DefaultProfile), or the chain's flows.
func chainEntries(p *config.Profile) []config.DefaultMember {
	if p.Default != nil {
		return p.Default
	}
	out := make([]config.DefaultMember, len(p.Chain))
	for i, flow := range p.Chain {
		out[i] = config.DefaultMember{Flow: flow}
	}
	return out
}

// member builds the chain member for flow in profile p.
func (h *Host) member(p *config.Profile, flow string) *member {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &member{host: h, profile: p, flow: flow, timeout: timeout}
}

func (h *Host) track(p *plugin.Process) {
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
}

func (h *Host) pluginDirs() []string {
	return PluginDirs(h.file, h.opts.Getenv, h.opts.PluginDirs...)
}

// StateKeyPrefix starts the Store keys of flow state (MSAL cache blobs).
const StateKeyPrefix = "state|"

// partition is the Store prefix of one (profile, flow): keys are chosen by
// the host, never by MSAL (whose partition keys are unreliable).
func partition(p *config.Profile, flow string) string {
	return fmt.Sprintf("%s%s|%s|%s|%s|", StateKeyPrefix, p.Name, flow, p.Authority.Raw, p.ClientID.Raw)
}

// DiscoveryKeyPrefix starts the Store keys of the discovery answers
// (OpenID configuration, instance discovery) kept for protocol-3
// plugins, one per profile, flow and authority, for a day.
const DiscoveryKeyPrefix = "discovery|"

// discoveryKey is the Store key of one (profile, flow)'s discovery
// answers.
func discoveryKey(p *config.Profile, flow string) string {
	return fmt.Sprintf("%s%s|%s|%s", DiscoveryKeyPrefix, p.Name, flow, p.Authority.Raw)
}

// Forget deletes the cached tokens, flow state and discovery answers of
// profile (of every profile if profile is ""): a sign-out.
func (h *Host) Forget(ctx context.Context, profile string) error {
	if err := h.l1.Forget(ctx, profile); err != nil {
		return err
	}
	for _, prefix := range []string{StateKeyPrefix, DiscoveryKeyPrefix} {
		if profile != "" {
			prefix += profile + "|"
		}
		keys, err := h.opts.Store.Keys(ctx, prefix)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := h.opts.Store.Delete(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// ForgetTokens deletes the cached access tokens of profile (of every
// profile if ""), keeping the flows' sign-ins: the next call asks the
// flow, which refreshes silently.
func (h *Host) ForgetTokens(ctx context.Context, profile string) error {
	return h.l1.Forget(ctx, profile)
}

// Tokens lists the cached tokens of profile (every profile if "").
func (h *Host) Tokens(ctx context.Context, profile string) ([]core.CachedToken, error) {
	return h.l1.List(ctx, profile)
}
