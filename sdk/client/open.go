// Package client is credhost for programs that embed it: Open (or New)
// returns a Client, a Credential for one profile of the config, which
// runs the profile's flows as plugin processes the way the credhost CLI
// does, sharing its token store. Plugin authors import sdk instead; the
// types both sides share (TokenRequest, Token, Credential) are sdk's.
//
// A Client answers GetToken from its in-process cache (a map lookup under a
// read lock). A program that asks for the same token on every request
// binds a TokenSource instead (Client.Bind): its hit is an atomic load and
// an expiry check, and it refreshes in the background ahead of expiry, so
// no caller waits while it holds a valid token:
//
//	src, err := c.Bind(sdk.TokenRequest{Scopes: []string{"api://my-api/.default"}})
//	...
//	tok, err := src.Token(ctx)
//
// sdk/oauth2.Bound adapts a TokenSource to golang.org/x/oauth2.
package client

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/internal/agent"
	"github.com/credhost/credhost/internal/binpath"
	"github.com/credhost/credhost/internal/nodump"
	"github.com/credhost/credhost/sdk"
)

// Config is a parsed config file, for New.
type Config = config.File

// ParseConfig parses a config file's content (an embedded string, say);
// path names it in errors and anchors its relative paths.
func ParseConfig(path string, data []byte) (*Config, error) { return config.Parse(path, data) }

// ConfigError is what Open and New return when the config cannot be
// loaded or names no usable profile.
type ConfigError = host.ConfigError

// Options tunes Open and New. The zero value (or nil) is the default.
type Options struct {
	// ConfigPath is the config file; default $CREDHOST_CONFIG, else the
	// user's credhost/config.toml. Ignored by New.
	ConfigPath string
	// Log receives host and plugin logs; default none.
	Log zerolog.Logger
	// PluginDirs are searched first for plugin binaries; then, as the
	// CLI does, $CREDHOST_PLUGIN_DIR, the config's [plugins] dir, the
	// install location and PATH (see host.PluginDirs).
	PluginDirs []string
	// OnPrompt receives prompts (a device code). Nil means nobody is
	// watching, and a flow that must prompt is Unavailable.
	OnPrompt func(ctx context.Context, p sdk.Prompt) error
	// Getenv replaces os.Getenv for env: references, AZURE_* overrides,
	// and the CREDHOST_PLUGIN_DIR and PATH of plugin discovery.
	Getenv func(string) string
	// Store replaces the token store the config's [cache] table asks
	// for (by default the encrypted file shared with the credhost CLI).
	// The Client does not close it.
	Store sdk.Store
	// ProtectMemory disables core dumps and, on Linux, ptrace attach and
	// /proc/<pid>/mem reads by other processes of the user, for the whole
	// program (as credhost's own binaries and plugins do), since the
	// program holds the profile's secrets and tokens. It is process-wide
	// and cannot be undone by the Client: leave it off if the program
	// relies on core files or on being debugged by another process.
	ProtectMemory bool
	// Agent gets tokens through the user's credhost agent (started on
	// demand from credhost-cli on PATH), so that programs share warm
	// plugins and one cache; the Client falls back to its own plugins
	// when the agent cannot answer. Open only (New has no config path to
	// give the agent), and only with the process environment (Getenv
	// nil). [agent] enabled = false and CREDHOST_AGENT=off turn it off.
	Agent bool
}

// Client is a Credential for one profile. It is safe for concurrent use;
// Close stops the plugin processes it started.
type Client struct {
	session     *host.Session
	cred        sdk.Credential
	ui          sdk.UI        // nil: nobody sees prompts
	minLifetime time.Duration // of the host's cache; bound sources refresh by it

	mu      sync.Mutex
	sources map[*TokenSource]struct{} // bound, not yet closed
	closed  bool
}

// Open returns a Client for the named profile of the config file (profile
// "" picks $CREDHOST_PROFILE, the only profile, or "default"). ctx bounds
// opening the token store (a Redis connection check), not the Client.
func Open(ctx context.Context, profile string, opts *Options) (*Client, error) {
	return open(ctx, nil, profile, opts)
}

// firstDir is the directory the agent searches first (it takes one).
func firstDir(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	return dirs[0]
}

// New returns a Client for a config file already parsed (with
// ParseConfig, say). ctx is as for Open.
func New(ctx context.Context, file *Config, profile string, opts *Options) (*Client, error) {
	if file == nil {
		return nil, errors.New("credhost: New: no config")
	}
	return open(ctx, file, profile, opts)
}

func open(ctx context.Context, file *config.File, profile string, opts *Options) (*Client, error) {
	o := defaults(opts)
	if o.ProtectMemory {
		if err := nodump.Enable(); err != nil {
			return nil, err
		}
	}
	var ui sdk.UI
	if o.OnPrompt != nil {
		ui = promptFunc{fn: o.OnPrompt, log: o.Log}
	}
	s, err := host.Open(ctx, &host.OpenOptions{Config: file, ConfigPath: o.ConfigPath, Profile: profile,
		Getenv: o.Getenv, PluginDirs: o.PluginDirs, UI: ui, Store: o.Store, Log: o.Log})
	if err != nil {
		return nil, err
	}
	cred, err := s.Credential()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	minLT := s.File.Cache.MinLifetime
	if minLT <= 0 {
		minLT = config.DefaultMinLifetime
	}
	c := &Client{session: s, cred: cred, ui: ui, minLifetime: minLT, sources: map[*TokenSource]struct{}{}}
	// The agent is asked only by Open's clients: it reads the config
	// itself, from the path, so a parsed one cannot be handed over.
	// The agent sees the process environment, so only a Client reading
	// that environment too (Getenv nil) may use it.
	if file == nil && o.Agent && o.Getenv == nil && !s.File.Agent.Disabled && !agent.Off(os.Getenv) {
		exe, _ := binpath.LookPath("credhost-cli")
		wd, _ := os.Getwd()
		c.cred = agent.Credential(&agent.Call{Getenv: os.Getenv, Env: os.Environ(), ConfigPath: o.ConfigPath, WorkDir: wd,
			Profile: s.Profile, PluginDir: firstDir(o.PluginDirs), UI: ui, Exe: exe, Log: o.Log}, c.cred)
	}
	return c, nil
}

func defaults(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	} else {
		o.Log = zerolog.Nop()
	}
	return o
}

// GetToken implements Credential.
func (c *Client) GetToken(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
	return c.cred.GetToken(ctx, req)
}

// Close closes the client's token sources, stops the plugins it started,
// waits for them, and closes the token store it opened.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	sources := make([]*TokenSource, 0, len(c.sources))
	for s := range c.sources {
		sources = append(sources, s)
	}
	c.mu.Unlock()
	for _, s := range sources {
		_ = s.Close() // never fails
	}
	return c.session.Close()
}

type promptFunc struct {
	fn  func(context.Context, sdk.Prompt) error
	log zerolog.Logger
}

func (p promptFunc) Prompt(ctx context.Context, pr sdk.Prompt) error { return p.fn(ctx, pr) }
func (p promptFunc) Progress(_ context.Context, msg string)          { p.log.Debug().Msg(msg) }

var _ sdk.Credential = (*Client)(nil)
