// Command credhost (this fast front) answers `credhost token` from the
// encrypted cache file and hands everything else to the full CLI,
// credhost-cli, by exec: same process, arguments, environment and
// streams.
//
// Why two binaries: kubectl, git and scripts start a `credhost token`
// process for every request, so a cache hit is a whole process. The full
// CLI links gRPC, go-plugin, protobuf, MSAL, Redis and the emulator, and
// the runtime's package initialization and page faults for all of that
// cost several milliseconds before main runs: a cached token took 4x a
// hello-world process. This binary links only the config, the file store
// and the token cache, and answers a hit in about 1.5x.
//
// It answers only when it is sure to answer exactly what credhost-cli
// would: the file backend, a token for the chosen profile with enough
// lifetime left, and no flag it does not know. A miss (or --force-refresh,
// --claims, another backend) it asks the user's running agent, as
// credhost-cli would, in the agent's own small protocol: this spares a
// miss the full CLI's start, most of its cost when the agent is warm. For
// anything else (no agent running, a call that would prompt, info or
// debug logging, a flag value to refuse, an error of its own) it execs
// credhost-cli, which starts agents, prompts and says what is wrong.
// Global flags may stand before or after the verb, as in the full CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/cmd/credhost/internal/exitcode"
	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/core/store/file"
	"github.com/credhost/credhost/internal/agent"
	"github.com/credhost/credhost/internal/binpath"
	"github.com/credhost/credhost/internal/nodump"
)

// fullCLI is the name of the full CLI binary, looked up next to this one,
// then on PATH.
const fullCLI = "credhost-cli"

func main() {
	// The cache key and the token pass through this process: no core
	// file, no ptrace by other processes of the user (credhost-cli, which
	// an exec makes of this process, does the same again).
	if err := nodump.Enable(); err != nil {
		fmt.Fprintln(os.Stderr, "credhost: warning:", err)
	}
	args := os.Args[1:]
	if c, ok := parse(args, os.Getenv); ok {
		if tok, ok := c.fromCache(); ok {
			if err := c.write(tok); err == nil {
				os.Exit(exitcode.OK)
			}
			// Writing failed (a closed pipe, say): let the full CLI
			// report it.
		} else if tok, ok, err := c.fromAgent(context.Background()); ok {
			if err == nil {
				err = c.write(tok)
			}
			if err == nil {
				os.Exit(exitcode.OK)
			}
			var re *agent.RemoteError
			fmt.Fprintf(os.Stderr, "credhost token: %v\n", c.t.WithClaimsHint(&c.g, err))
			os.Exit(exitcode.Of(err, errors.As(err, &re) && re.Usage))
		}
	}
	delegate(args)
}

// delegate replaces this process with the full CLI.
func delegate(args []string) {
	path := ""
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), fullCLI); isFile(p) {
			path = p
		}
	}
	if path == "" {
		if p, err := binpath.LookPath(fullCLI); err == nil {
			path = p
		}
	}
	if path == "" {
		fmt.Fprintf(os.Stderr, "credhost: %s is not installed next to this binary or on PATH; install both binaries\n", fullCLI)
		os.Exit(1)
	}
	err := syscall.Exec(path, append([]string{"credhost"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "credhost: run %s: %v\n", path, err)
	os.Exit(1)
}

// call is a `credhost token` command line the front can answer: flags it
// knows, a log level at which the full CLI would log nothing, the config
// loaded and the profile chosen as the full CLI would.
type call struct {
	g       cliflags.Globals
	t       cliflags.Token
	getenv  func(string) string
	file    *config.File
	profile *config.Profile
}

// parse reads args as the full CLI would; ok false means: leave it to the
// full CLI (another verb, a flag or value to refuse, debug logging to
// show, a config error to report).
func parse(args []string, getenv func(string) string) (*call, bool) {
	c := &call{getenv: getenv}
	fs := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// The flags of `credhost token` and the global ones, defined with
	// the full CLI's in cliflags; anything else makes the parse fail. As
	// in the full CLI, global flags may stand before the verb or after
	// it, the token flags only after it.
	pre := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	pre.SetOutput(io.Discard)
	pre.Usage = func() {}
	pre.SetInterspersed(false)
	c.g.Register(pre)
	if err := pre.Parse(args); err != nil || pre.NArg() == 0 || pre.Arg(0) != "token" {
		return nil, false
	}
	at := len(args) - pre.NArg()
	args = append(append([]string{}, args[:at]...), args[at+1:]...)
	c.g = cliflags.Globals{}
	c.g.Register(fs)
	c.t.Register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return nil, false
	}
	c.g.FromEnv(getenv)
	if len(c.t.Scopes) == 0 || !knownFormat(c.t.Output) {
		return nil, false
	}
	// Only the levels at which the full CLI logs nothing on a hit, and
	// the formats it knows: anything else (debug logging to show, or a
	// value to reject) is the full CLI's to answer.
	if !quietLevel(c.g.LogLevel) || !knownLogFormat(c.g.LogFormat) {
		return nil, false
	}
	f, err := config.LoadLayers(&config.LoadOptions{UserPath: c.g.Config, Getenv: config.Env(getenv)})
	if err != nil {
		return nil, false
	}
	choice, err := f.Choose(c.g.Profile, config.Environment{Getenv: config.Env(getenv), Stat: os.Stat, IsTTY: isTTY})
	if err != nil {
		return nil, false
	}
	if c.profile, err = f.Profile(choice.Name); err != nil {
		return nil, false
	}
	c.file = f
	return c, true
}

// write prints tok as the command line asks.
func (c *call) write(tok core.Token) error {
	return tokenout.Write(os.Stdout, tok, c.t.Output, c.getenv(config.EnvKubernetesExecInfo))
}

// fromCache returns the cached token the full CLI would print, if it is
// sure of it: the file backend, a token with enough lifetime left, and no
// flag that skips the cache.
func (c *call) fromCache() (core.Token, bool) {
	if c.t.Claims != "" || c.t.ForceRefresh || c.file.Cache.Name() != file.Name {
		return core.Token{}, false
	}
	// The file backend's settings, decoded as the host decodes them;
	// linking only this backend keeps the front small.
	fc, err := store.Decode[file.Settings](c.file.StoreInput(config.Env(c.getenv)))
	if err != nil {
		return core.Token{}, false
	}
	path := fc.Path
	if path == "" {
		if path, err = file.DefaultPath(); err != nil {
			return core.Token{}, false
		}
	}
	if !isFile(path) {
		return core.Token{}, false // no cache yet: nothing to create here
	}
	// Read-only: a damaged file is the full CLI's to set aside and warn
	// about.
	s, err := file.Open(path, &file.Options{Key: fc.Key, Passphrase: fc.Passphrase, KeyFile: fc.KeyFile, ReadOnly: true})
	if err != nil {
		return core.Token{}, false
	}
	defer s.Close()
	l1 := core.NewTokenCache(s, &core.TokenCacheOptions{MinLifetime: c.file.Cache.MinLifetime})
	key := c.profile.TokenKey()
	return l1.Lookup(context.Background(), &key, &core.TokenRequest{Scopes: c.t.Scopes, TenantID: c.t.Tenant})
}

// fromAgent asks the user's running agent, as the full CLI would ask it,
// and says whether the answer is final (ok): a token, or an error the
// agent answered with. Without a running agent, or when the call would
// show a prompt (which the front does not draw: the agent hands such a
// call back), the full CLI takes over: it starts agents, and prompts.
// This spares a miss the full CLI's start, most of its cost when the
// agent is warm.
func (c *call) fromAgent(ctx context.Context) (tok core.Token, ok bool, err error) {
	if c.file.Agent.Disabled || agent.Off(c.getenv) {
		return core.Token{}, false, nil
	}
	wd, _ := os.Getwd()
	req := core.TokenRequest{Scopes: c.t.Scopes, TenantID: c.t.Tenant, Claims: c.t.Claims, ForceRefresh: c.t.ForceRefresh}
	tok, err = agent.GetToken(ctx, &agent.Call{Getenv: c.getenv, Env: os.Environ(), ConfigPath: c.g.Config, WorkDir: wd,
		Profile: c.profile.Name, PluginDir: c.g.PluginDir, HandOverPrompts: !cliflags.Unattended(c.t.NoPrompt, c.getenv),
		Log: zerolog.Nop()}, req)
	if errors.Is(err, agent.ErrFallback) {
		return core.Token{}, false, nil
	}
	return tok, true, err
}

func knownFormat(f string) bool {
	for _, k := range tokenout.Formats {
		if f == k {
			return true
		}
	}
	return false
}

// quietLevel reports whether the full CLI, at this --log-level, logs
// nothing on a cache hit (it logs the token it got at info).
func quietLevel(l string) bool {
	switch strings.ToLower(l) {
	case "", "warn", "error":
		return true
	}
	return false
}

func knownLogFormat(f string) bool {
	switch f {
	case "", "auto", "console", "json":
		return true
	}
	return false
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// isTTY says whether a person is at stdin or stderr, for match rules
// (as host.DefaultEnvironment does).
func isTTY() bool {
	return isatty.IsTerminal(os.Stdin.Fd()) || isatty.IsTerminal(os.Stderr.Fd())
}
