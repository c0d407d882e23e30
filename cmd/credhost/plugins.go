package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/core/plugin"
)

// pluginsCmd lists installed plugins, verifies them against their pins,
// or installs one.
type pluginsCmd struct {
	pin bool
}

func (c *pluginsCmd) flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.pin, "pin", false, "install: also record the binary's SHA-256 in the config's [plugins.pins]")
}
func (*pluginsCmd) validate(*globals) error { return nil }

func (c *pluginsCmd) run(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("say list, verify or install, e.g. credhost plugins list")}
	}
	if args[0] == "install" {
		return c.install(ctx, g, e, args[1:])
	}
	// Pins and the plugin dir come from the config, when there is one.
	pins := map[string]string{}
	file, err := host.LoadConfig(g.Config, e.getenv)
	if err == nil {
		for k, v := range file.Plugins.Pins {
			pins[k] = v.Raw
		}
	} else if g.Config != "" {
		return usageError{err}
	} else {
		file = nil
	}
	found := discover(host.PluginDirs(file, e.getenv, nonEmpty(g.PluginDir)...))
	switch args[0] {
	case "list":
		return listPlugins(ctx, e, found, pins)
	case "verify":
		return verifyPlugins(e, found, pins, args[1:])
	default:
		return usageError{fmt.Errorf("unknown plugins command %q: use list, verify or install", args[0])}
	}
}

// discover returns flow -> path for every plugin binary in dirs (from
// host.PluginDirs, the PATH included), the first one found winning, as
// the host resolves them.
func discover(dirs []string) map[string]string {
	found := map[string]string{}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, en := range entries {
			flow, ok := strings.CutPrefix(strings.TrimSuffix(en.Name(), ".exe"), host.BinaryPrefix)
			if !ok || flow == "" {
				continue
			}
			if _, seen := found[flow]; !seen {
				found[flow] = filepath.Join(d, en.Name())
			}
		}
	}
	return found
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func listPlugins(ctx context.Context, e *env, found, pins map[string]string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tVERSION\tPROTOCOL\tINTERACTIVE\tPIN\tPATH")
	for _, flow := range sortedKeys(found) {
		path := found[flow]
		pinState := pinStatus(path, pins[flow])
		version, proto, interactive := "?", "?", "?"
		// Never run a binary whose pin does not match.
		if pinState != "MISMATCH" {
			if d, negotiated, err := describe(ctx, e, flow, path, pins[flow]); err != nil {
				version = "error: " + firstLine(err.Error())
			} else {
				version, proto, interactive = d.Version, fmt.Sprint(negotiated), fmt.Sprint(d.Interactive)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", flow, version, proto, interactive, pinState, path)
	}
	return tw.Flush()
}

func describe(ctx context.Context, e *env, flow, path, pin string) (desc descriptionView, protocol int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p := plugin.NewProcess(plugin.Spec{Flow: flow, Path: path, Pin: pin, Log: e.log})
	defer p.Close()
	c, err := p.Client(ctx)
	if err != nil {
		return descriptionView{}, 0, err
	}
	d, err := c.Describe(ctx)
	if err != nil {
		return descriptionView{}, 0, err
	}
	return descriptionView{Version: d.Version, Interactive: d.Interactive}, p.Protocol(), nil
}

type descriptionView struct {
	Version     string
	Interactive bool
}

func pinStatus(path, pin string) string {
	if pin == "" {
		return "unpinned"
	}
	sum, err := plugin.Checksum(path)
	if err != nil {
		return "unreadable"
	}
	if sum != pin {
		return "MISMATCH"
	}
	return "ok"
}

// verifyPlugins checks every pinned plugin (or the named ones) and prints
// the pin of each, ready to paste into [plugins.pins].
func verifyPlugins(e *env, found, pins map[string]string, only []string) error {
	flows := only
	if len(flows) == 0 {
		flows = sortedKeys(found)
	}
	var bad []string
	for _, flow := range flows {
		path, ok := found[flow]
		if !ok {
			bad = append(bad, flow+" (not installed)")
			continue
		}
		sum, err := plugin.Checksum(path)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", flow, err)
		}
		state := pinStatus(path, pins[flow])
		fmt.Fprintf(e.stdout, "%s = %q  # %s, %s\n", flow, sum, path, state)
		if state == "MISMATCH" {
			bad = append(bad, flow+" (does not match its pin: "+pins[flow]+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("plugins failed verification: %s", strings.Join(bad, ", "))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
