package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
)

// configCmd checks the configuration without signing anyone in (config
// validate) and shows what the layers add up to (config show).
type configCmd struct {
	effective bool
	output    string
}

const configUsage = "say validate, show or trust: credhost config validate [--profile P], credhost config show [--profile P] [--effective] [--output text|json], credhost config trust [DIR]"

func (c *configCmd) flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.effective, "effective", false, "show: list every merged setting with its origin (secrets show as [redacted] or their env:/file: reference)")
	fs.StringVarP(&c.output, "output", "o", "", "show: output format, text (default) or json")
}

func (c *configCmd) validate(*globals) error {
	switch c.output {
	case "", "text", "json":
		return nil
	}
	return usageError{fmt.Errorf("--output %q: use text or json", c.output)}
}

func (c *configCmd) run(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New(configUsage)}
	}
	switch args[0] {
	case "show":
		return c.show(g, e, args[1:])
	case "trust":
		return c.trust(g, e, args[1:])
	case "validate":
		if c.effective || c.output != "" {
			return usageError{errors.New("--effective and --output are for config show")}
		}
	default:
		return usageError{errors.New(configUsage)}
	}
	// As host.LoadConfig does, but a file with problems still comes back
	// (partially read), so that the checks below report theirs too: every
	// problem in one pass.
	file, loadErr := config.LoadLayers(&config.LoadOptions{UserPath: g.Config, Getenv: config.Env(e.getenv), Partial: true})
	var loadProblems config.Errors
	if loadErr != nil && (file == nil || !errors.As(loadErr, &loadProblems)) {
		return usageError{loadErr}
	}
	profiles := file.Order
	if g.Profile != "" {
		profiles = []string{g.Profile}
	}
	dirs := host.PluginDirs(file, e.getenv, nonEmpty(g.PluginDir)...)
	h := host.New(file, &host.Options{Log: e.log, Getenv: e.getenv, PluginDirs: nonEmpty(g.PluginDir)})
	defer h.Close()
	installed := discover(dirs)
	var failed []string
	for _, name := range profiles {
		// A profile the policy refuses is reported like any other bad
		// profile, so that one refusal does not hide the others.
		if err := file.Refusal(name); err != nil {
			fmt.Fprintf(e.stdout, "error: profile %s: %s\n", name, indent(err.Error()))
			failed = append(failed, name)
			continue
		}
		// A profile with a loader problem may lack a value a plugin
		// needs: only its chain's flow names are checked, without
		// starting a plugin (the loader's problems are reported below).
		if loadProblems.Concern(name) {
			if p, ok := file.Profiles[name]; ok {
				for _, flow := range p.Chain {
					_, err := host.Find(flow, dirs)
					if unknown := unknownFlow(flow, err, installed); unknown != nil {
						fmt.Fprintf(e.stdout, "error: profile %s: %s: %s\n", name, flow, unknown)
					}
				}
			}
			failed = append(failed, name)
			continue
		}
		problems, err := h.Validate(ctx, name)
		if err != nil {
			return usageError{errors.Join(loadErr, err)}
		}
		p, _ := file.Profile(name)
		bad := false
		for i, pr := range problems {
			if pr == nil {
				continue
			}
			level := "error"
			if unknown := unknownFlow(p.Chain[i], pr, installed); unknown != nil {
				pr, bad = unknown, true
			} else if core.KindOf(pr) == core.KindUnavailable {
				level = "warning"
			} else {
				bad = true
			}
			// The flow once: a classified error starts with its name.
			fmt.Fprintf(e.stdout, "%s: profile %s: %s: %s\n", level, name, p.Chain[i], indent(strings.TrimPrefix(pr.Error(), p.Chain[i]+": ")))
		}
		if bad {
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(e.stdout, "ok: profile %s (chain: %s)\n", name, strings.Join(p.Chain, " → "))
	}
	var invalid error
	if len(failed) > 0 {
		invalid = fmt.Errorf("invalid profiles: %s", strings.Join(failed, ", "))
	}
	if loadErr != nil {
		return usageError{errors.Join(loadErr, invalid)}
	}
	if invalid != nil {
		return usageError{invalid}
	}
	return nil
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// trust adds the project directory DIR (default: the one whose
// .credhost.toml applies here) to [projects] trusted of the user file.
func (c *configCmd) trust(g *globals, e *env, args []string) error {
	if len(args) > 1 || c.effective || c.output != "" {
		return usageError{errors.New("credhost config trust [DIR]: one directory, no other flags")}
	}
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		p := config.FindProject(wd, e.getenv("HOME"), nil)
		if p == "" {
			return usageError{fmt.Errorf("no %s in %s or above: name the project directory", config.ProjectFileName, wd)}
		}
		dir = filepath.Dir(p)
	}
	path := g.Config
	if path == "" {
		path = host.DefaultConfigPath(e.getenv)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := config.TrustProject(path, dir); err != nil {
		return usageError{err}
	}
	fmt.Fprintf(e.stderr, "trusted %s: credhost reads its %s from now on, within the limits of docs/security.md (%s)\n", dir, config.ProjectFileName, path)
	return nil
}

// shippedFlows are the flows credhost's own plugins provide. A chain may
// name one that is not installed on this machine (a warning: the chain
// moves on), but a flow that is neither installed nor one of these is a
// typo or a missing third-party plugin: an error, with a suggestion.
var shippedFlows = []string{"authcode", "azurecli", "clientcreds", "devicecode", "iwa", "managedidentity", "obo", "ropc"}

// unknownFlow returns the error for flow if no plugin serves it here and
// credhost ships no such flow, else nil.
func unknownFlow(flow string, problem error, installed map[string]string) error {
	if !errors.Is(problem, host.ErrPluginNotFound) || slices.Contains(shippedFlows, flow) {
		return nil
	}
	known := slices.Clone(shippedFlows)
	for f := range installed {
		if !slices.Contains(known, f) {
			known = append(known, f)
		}
	}
	slices.Sort(known)
	msg := fmt.Sprintf("unknown flow %q: no %s is installed and credhost has no such flow", flow, host.BinaryName(flow))
	best, dist := "", 3 // suggest only a near miss
	for _, k := range known {
		if d := editDistance(flow, k); d < dist {
			best, dist = k, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf("; did you mean %s?", best)
	} else {
		msg += "; known flows: " + strings.Join(known, ", ")
	}
	return errors.New(msg)
}

// editDistance is the Levenshtein distance of two short ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
