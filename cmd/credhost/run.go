package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
)

// env abstracts the process environment, so tests can run the CLI
// in-process with their own variables.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
	// environ lists the environment for the agent, and exe is this
	// binary, which starts it; both unset (tests in-process): no agent.
	environ func() []string
	exe     string
}

// globals are the flags every verb accepts, defined with the fast
// front's in cliflags.
type globals = cliflags.Globals

// verb is one subcommand.
type verb struct {
	name    string
	summary string
	// new returns the verb's options; flags registers its flags on fs.
	new func() command
}

// command is a verb's options: flags, then validate, then run.
type command interface {
	flags(fs *pflag.FlagSet)
	validate(g *globals) error
	run(ctx context.Context, g *globals, e *env, args []string) error
}

func verbs() []verb {
	return []verb{
		{"token", "print an access token for a profile", func() command { return &tokenCmd{} }},
		{"login", "sign in to a profile so that later token calls are silent", func() command { return &loginCmd{} }},
		{"logout", "forget a profile's cached tokens and sign-ins (--all: every profile)", func() command { return &logoutCmd{} }},
		{"accounts", "list signed-in accounts and cached tokens (never the tokens)", func() command { return &accountsCmd{} }},
		{"cache", "describe the token cache (cache info)", func() command { return &cacheCmd{} }},
		{"kubeconfig", "print a kubeconfig user that gets tokens from credhost (--write: merge it; convert: from kubelogin)", func() command { return &kubeconfigCmd{} }},
		{"git-credential", "git credential helper: the token as password (git-credential get|store|erase)", func() command { return &gitCredentialCmd{} }},
		{"doctor", "say, for each flow of a profile's chain, whether it can run here and why not", func() command { return &doctorCmd{} }},
		{"plugins", "list or verify installed flow plugins (plugins list|verify)", func() command { return &pluginsCmd{} }},
		{"config", "check or show the configuration, or trust a project (config validate | config show --effective | config trust [DIR])", func() command { return &configCmd{} }},
		{"emulator", "run the Entra ID emulator on loopback (for demos and tests)", func() command { return &emulatorCmd{} }},
		{"agent", "run the agent that keeps plugins warm for later calls (agent status|stop; started on demand)", func() command { return &agentCmd{} }},
		{"serve", "serve a profile's tokens on loopback as the App Service managed-identity endpoint", func() command { return &serveCmd{} }},
		{"version", "print the version", func() command { return &versionCmd{} }},
		{"completion", "print a shell completion script: completion bash|zsh|fish", func() command { return &completionCmd{} }},
		{"man", "print the credhost(1) man page (roff)", func() command { return &manCmd{} }},
	}
}

// run is the whole CLI; main only adds the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: os.Getenv, stdin: stdin, stdout: stdout, stderr: stderr, environ: os.Environ}
	e.exe, _ = os.Executable()
	return runEnv(ctx, e, args)
}

func runEnv(ctx context.Context, e *env, args []string) int {
	var g globals
	pre := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	pre.SetInterspersed(false)
	pre.SetOutput(io.Discard)
	g.Register(pre)
	help := pre.BoolP("help", "h", false, "show help")
	showVersion := pre.Bool("version", false, "print the version (as credhost version)")
	if err := pre.Parse(args); err != nil {
		fmt.Fprintf(e.stderr, "credhost: %v\n\n", err)
		usage(e.stderr, pre)
		return exitUsage
	}
	rest := pre.Args()
	if *showVersion && !*help {
		// --version anywhere before a verb: the version verb, with the
		// global flags given.
		at := len(args) - len(rest)
		args = append(append(slices.DeleteFunc(slices.Clone(args[:at]), func(a string) bool { return a == "--version" || strings.HasPrefix(a, "--version=") }), "version"), rest...)
		rest = append([]string{"version"}, rest...)
	}
	if *help || len(rest) == 0 {
		usage(e.stderr, pre)
		if *help {
			return exitOK
		}
		return exitUsage
	}
	var v *verb
	for _, cand := range verbs() {
		if cand.name == rest[0] {
			v = &cand
		}
	}
	if v == nil {
		fmt.Fprintf(e.stderr, "credhost: unknown command %q\n\n", rest[0])
		usage(e.stderr, pre)
		return exitUsage
	}
	cmd := v.new()
	fs := pflag.NewFlagSet("credhost "+v.name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	g = globals{}
	g.Register(fs)
	cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: credhost %s [flags]\n  %s\n\nFlags:\n%s\n%s\n", v.name, v.summary, fs.FlagUsages(), exitCodesHelp)
	}
	// Global flags may stand before the verb or after it: parse the whole
	// line again without the verb, with the verb's flags and the global
	// ones together, so every value is read once, by the flag set that
	// applies it (the last of a repeated flag wins).
	at := len(args) - len(rest)
	line := append(append([]string{}, args[:at]...), args[at+1:]...)
	if err := fs.Parse(line); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	g.FromEnv(e.getenv)
	log, err := newLogger(e.stderr, g.LogLevel, g.LogFormat)
	if err != nil {
		fmt.Fprintf(e.stderr, "credhost: %v\n", err)
		return exitUsage
	}
	e.log = log
	if err := cmd.validate(&g); err != nil {
		fmt.Fprintf(e.stderr, "credhost %s: %v\n", v.name, err)
		return exitUsage
	}
	if err := cmd.run(ctx, &g, e, fs.Args()); err != nil {
		code := exitCode(err)
		fmt.Fprintf(e.stderr, "credhost %s: %v\n", v.name, err)
		return code
	}
	return exitOK
}

func usage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintln(w, "Usage: credhost [global flags] <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	vs := verbs()
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	width := 0
	for _, v := range vs {
		width = max(width, len(v.name))
	}
	for _, v := range vs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, v.name, v.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n%s\n%s\n", fs.FlagUsages(), exitCodesHelp)
}

// newLogger logs to w (stderr): console on a terminal, JSON otherwise.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl := zerolog.WarnLevel
	if level != "" {
		var err error
		if lvl, err = zerolog.ParseLevel(strings.ToLower(level)); err != nil || lvl == zerolog.NoLevel {
			return zerolog.Logger{}, usageError{fmt.Errorf("--log-level %q: use trace, debug, info, warn or error", level)}
		}
	}
	switch format {
	case "", "auto":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, NoColor: true}
	case "json":
	default:
		return zerolog.Logger{}, usageError{fmt.Errorf("--log-format %q: use auto, console or json", format)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
