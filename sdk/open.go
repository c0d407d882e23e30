package sdk

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/internal/agent"
	"github.com/credhost/credhost/internal/binpath"
	"github.com/credhost/credhost/internal/nodump"
)

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
	OnPrompt func(ctx context.Context, p Prompt) error
	// Getenv replaces os.Getenv for env: references, AZURE_* overrides,
	// and the CREDHOST_PLUGIN_DIR and PATH of plugin discovery.
	Getenv func(string) string
	// Store replaces the token store the config's [cache] table asks
	// for (by default the encrypted file shared with the credhost CLI).
	// The Client does not close it.
	Store Store
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
	host        *host.Host
	cred        core.Credential
	ui          core.UI       // nil: nobody sees prompts
	close       func() error  // closes the store the Client opened
	minLifetime time.Duration // of the host's cache; bound sources refresh by it

	mu      sync.Mutex
	sources map[*TokenSource]struct{} // bound, not yet closed
	closed  bool
}

// Open returns a Client for the named profile of the config file (profile
// "" picks $CREDHOST_PROFILE, the only profile, or "default").
func Open(profile string, opts *Options) (*Client, error) {
	o := defaults(opts)
	file, err := host.LoadConfig(o.ConfigPath, o.Getenv)
	if err != nil {
		return nil, err
	}
	name, err := host.SelectProfile(file, profile, o.Getenv)
	if err != nil {
		return nil, err
	}
	c, err := newClient(file, name, o)
	if err != nil {
		return nil, err
	}
	if o.Agent && opts.Getenv == nil && !file.Agent.Disabled && !agent.Off(o.Getenv) {
		exe, _ := binpath.LookPath("credhost-cli")
		wd, _ := os.Getwd()
		c.cred = agent.Credential(&agent.Call{Getenv: o.Getenv, Env: os.Environ(), ConfigPath: o.ConfigPath, WorkDir: wd,
			Profile: name, PluginDir: firstDir(o.PluginDirs), UI: c.ui, Exe: exe, Log: o.Log}, c.cred)
	}
	return c, nil
}

// firstDir is the directory the agent searches first (it takes one).
func firstDir(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	return dirs[0]
}

// New returns a Client for a config file already parsed (for instance with
// config.Parse from an embedded string).
func New(file *config.File, profile string, opts *Options) (*Client, error) {
	o := defaults(opts)
	name, err := host.SelectProfile(file, profile, o.Getenv)
	if err != nil {
		return nil, err
	}
	return newClient(file, name, o)
}

func newClient(file *config.File, profile string, o Options) (*Client, error) {
	if o.ProtectMemory {
		if err := nodump.Enable(); err != nil {
			return nil, err
		}
	}
	var ui core.UI
	if o.OnPrompt != nil {
		ui = promptFunc{fn: o.OnPrompt, log: o.Log}
	}
	st, closeStore := o.Store, func() error { return nil }
	if st == nil {
		opened, err := host.OpenStore(context.Background(), file, o.Getenv, o.Log)
		if err != nil {
			return nil, err
		}
		st, closeStore = opened, opened.Close
	}
	h := host.New(file, &host.Options{Log: o.Log, Getenv: o.Getenv, PluginDirs: o.PluginDirs, UI: ui, Store: st, MinLifetime: file.Cache.MinLifetime})
	cred, err := h.Credential(profile)
	if err != nil {
		h.Close()
		_ = closeStore()
		return nil, err
	}
	minLT := file.Cache.MinLifetime
	if minLT <= 0 {
		minLT = config.DefaultMinLifetime
	}
	return &Client{host: h, cred: cred, ui: ui, close: closeStore, minLifetime: minLT, sources: map[*TokenSource]struct{}{}}, nil
}

func defaults(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	} else {
		o.Log = zerolog.Nop()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return o
}

// GetToken implements Credential.
func (c *Client) GetToken(ctx context.Context, req TokenRequest) (Token, error) {
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
	return errors.Join(c.host.Close(), c.close())
}

type promptFunc struct {
	fn  func(context.Context, Prompt) error
	log zerolog.Logger
}

func (p promptFunc) Prompt(ctx context.Context, pr Prompt) error { return p.fn(ctx, pr) }
func (p promptFunc) Progress(_ context.Context, msg string)      { p.log.Debug().Msg(msg) }

var _ Credential = (*Client)(nil)
