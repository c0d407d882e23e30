package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/host"
)

// configCmd checks the configuration without signing anyone in.
type configCmd struct{}

func (*configCmd) flags(*pflag.FlagSet)    {}
func (*configCmd) validate(*globals) error { return nil }

func (*configCmd) run(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) == 0 || args[0] != "validate" {
		return usageError{errors.New("say validate: credhost config validate [--profile P]")}
	}
	file, err := host.LoadConfig(g.config, e.getenv)
	if err != nil {
		return usageError{err}
	}
	profiles := file.Order
	if g.profile != "" {
		profiles = []string{g.profile}
	}
	h := host.New(file, &host.Options{Log: e.log, Getenv: e.getenv, PluginDirs: nonEmpty(g.pluginDir)})
	defer h.Close()
	var failed []string
	for _, name := range profiles {
		problems, err := h.Validate(ctx, name)
		if err != nil {
			return usageError{err}
		}
		p, _ := file.Profile(name)
		bad := false
		for i, pr := range problems {
			if pr == nil {
				continue
			}
			level := "error"
			if core.KindOf(pr) == core.KindUnavailable {
				level = "warning"
			} else {
				bad = true
			}
			fmt.Fprintf(e.stdout, "%s: profile %s: %s: %s\n", level, name, p.Chain[i], indent(pr.Error()))
		}
		if bad {
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(e.stdout, "ok: profile %s (chain: %s)\n", name, strings.Join(p.Chain, " → "))
	}
	if len(failed) > 0 {
		return usageError{fmt.Errorf("invalid profiles: %s", strings.Join(failed, ", "))}
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
