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
// lifetime left, and no flag it does not know. For anything else
// (a miss, --force-refresh, --claims, info or debug logging, a flag value
// to refuse, Redis, an error of any kind) it execs credhost-cli, which
// says what is wrong. Global flags may stand before or after the verb, as
// in the full CLI.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/core/store/file"
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
	if tok, format, ok := fromCache(args, os.Getenv); ok {
		if err := tokenout.Write(os.Stdout, tok, format, os.Getenv("KUBERNETES_EXEC_INFO")); err == nil {
			os.Exit(0)
		}
		// Writing failed (a closed pipe, say): let the full CLI report it.
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

// fromCache returns the cached token `credhost token args` would print,
// and the output format, if it is sure of it.
func fromCache(args []string, getenv func(string) string) (core.Token, string, bool) {
	fs := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// The flags of `credhost token` and the global ones, defined with
	// the full CLI's in cliflags; anything else makes the parse fail. As
	// in the full CLI, global flags may stand before the verb or after
	// it, the token flags only after it.
	var g cliflags.Globals
	var t cliflags.Token
	pre := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	pre.SetOutput(io.Discard)
	pre.Usage = func() {}
	pre.SetInterspersed(false)
	g.Register(pre)
	if err := pre.Parse(args); err != nil || pre.NArg() == 0 || pre.Arg(0) != "token" {
		return core.Token{}, "", false
	}
	at := len(args) - pre.NArg()
	args = append(append([]string{}, args[:at]...), args[at+1:]...)
	g = cliflags.Globals{}
	g.Register(fs)
	t.Register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return core.Token{}, "", false
	}
	g.FromEnv(getenv)
	if len(t.Scopes) == 0 || t.Claims != "" || t.ForceRefresh || !knownFormat(t.Output) {
		return core.Token{}, "", false
	}
	// Only the levels at which the full CLI logs nothing on a hit, and
	// the formats it knows: anything else (debug logging to show, or a
	// value to reject) is the full CLI's to answer.
	if !quietLevel(g.LogLevel) || !knownLogFormat(g.LogFormat) {
		return core.Token{}, "", false
	}
	f, err := config.LoadLayers(&config.LoadOptions{UserPath: g.Config, Getenv: config.Env(getenv)})
	if err != nil || f.Cache.Name() != file.Name {
		return core.Token{}, "", false
	}
	choice, err := f.Choose(g.Profile, config.Environment{Getenv: config.Env(getenv), Stat: os.Stat, IsTTY: isTTY})
	if err != nil {
		return core.Token{}, "", false
	}
	p, err := f.Profile(choice.Name)
	if err != nil {
		return core.Token{}, "", false
	}
	// The file backend's settings, decoded as the host decodes them;
	// linking only this backend keeps the front small.
	fc, err := store.Decode[file.Settings](f.StoreInput(config.Env(getenv)))
	if err != nil {
		return core.Token{}, "", false
	}
	path := fc.Path
	if path == "" {
		if path, err = file.DefaultPath(); err != nil {
			return core.Token{}, "", false
		}
	}
	if !isFile(path) {
		return core.Token{}, "", false // no cache yet: nothing to create here
	}
	// Read-only: a damaged file is the full CLI's to set aside and warn
	// about.
	s, err := file.Open(path, &file.Options{Key: fc.Key, Passphrase: fc.Passphrase, KeyFile: fc.KeyFile, ReadOnly: true})
	if err != nil {
		return core.Token{}, "", false
	}
	defer s.Close()
	l1 := core.NewTokenCache(s, &core.TokenCacheOptions{MinLifetime: f.Cache.MinLifetime})
	key := p.TokenKey()
	tok, ok := l1.Lookup(context.Background(), &key, &core.TokenRequest{Scopes: t.Scopes, TenantID: t.Tenant})
	return tok, t.Output, ok
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
