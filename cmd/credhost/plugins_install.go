package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/core/plugin"
)

// install copies a plugin binary into the plugin dir (--plugin-dir, else
// [plugins] dir) and, with --pin, records its SHA-256 in the config
// file's [plugins.pins]. The copy is checked to be a credhost plugin that
// serves the flow its name says (it runs once, to describe itself, under
// the new pin), and the config is parsed again before it replaces the old
// one, so a failed install leaves both as they were.
func (c *pluginsCmd) install(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) != 1 {
		return usageError{errors.New("give the plugin binary: credhost plugins install ./credhost-plugin-<flow> [--pin]")}
	}
	src := args[0]
	flow, ok := strings.CutPrefix(strings.TrimSuffix(filepath.Base(src), ".exe"), host.BinaryPrefix)
	if !ok || !flowName.MatchString(flow) {
		return usageError{fmt.Errorf("%s: a plugin binary is named %s<flow>, with a lowercase flow id", src, host.BinaryPrefix)}
	}
	cfgPath := g.Config
	if cfgPath == "" {
		cfgPath = host.DefaultConfigPath(e.getenv)
	}
	dir := firstOf(g.PluginDir, e.getenv(config.EnvPluginDir))
	if dir == "" {
		if f, err := config.Load(cfgPath); err == nil && f.Plugins.Dir.Raw != "" {
			dir = f.Plugins.Dir.Raw
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(filepath.Dir(cfgPath), dir)
			}
		}
	}
	if dir == "" {
		return usageError{fmt.Errorf("no plugin dir: pass --plugin-dir, or set [plugins] dir in %s", cfgPath)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := copyExecutable(src, dst); err != nil {
		return fmt.Errorf("install %s: %w", flow, err)
	}
	sum, err := plugin.Checksum(dst)
	if err != nil {
		return err
	}
	d, protocol, err := describe(ctx, e, flow, dst, sum)
	if err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("%s is not a working credhost plugin (removed again): %w", src, err)
	}
	fmt.Fprintf(e.stderr, "installed %s %s (protocol %d) as %s\n", flow, d.Version, protocol, dst)
	if !c.pin {
		fmt.Fprintf(e.stderr, "pin it with: credhost plugins install %s --pin, or add to [plugins.pins]: %s = %q\n", src, flow, sum)
		return nil
	}
	if err := recordPin(cfgPath, flow, sum); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "pinned %s = %q in %s\n", flow, sum, cfgPath)
	return nil
}

var flowName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// copyExecutable copies src to dst through a temporary file and a rename,
// so that a running host never sees half a binary.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// recordPin sets flow's pin in the config file's [plugins.pins] table:
// the flow's line there is replaced, or a line is added under the table's
// header, or the table is appended. The result must parse and read the
// pin back before it replaces the file.
func recordPin(path, flow, sum string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	line := fmt.Sprintf("%s = %q", flow, sum)
	lines := strings.Split(string(old), "\n")
	header, replaced := -1, false
	inPins := false
	flowLine := regexp.MustCompile(`^"?` + regexp.QuoteMeta(flow) + `"?\s*=`)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			inPins = strings.ReplaceAll(t, " ", "") == "[plugins.pins]"
			if inPins {
				header = i
			}
			continue
		}
		if inPins && flowLine.MatchString(t) {
			lines[i], replaced = line, true
		}
	}
	switch {
	case replaced:
	case header >= 0:
		lines = append(lines[:header+1], append([]string{line}, lines[header+1:]...)...)
	default:
		if n := len(lines); n > 0 && lines[n-1] == "" {
			lines = lines[:n-1]
		}
		lines = append(lines, "", "[plugins.pins]", line, "")
	}
	updated := []byte(strings.Join(lines, "\n"))
	f, err := config.Parse(path, updated)
	if err != nil {
		return fmt.Errorf("recording the pin would break %s, left as it was: %w", path, err)
	}
	if got := f.Plugins.Pins[flow].Raw; got != sum {
		return fmt.Errorf("could not record the pin in %s (it reads back as %q); add it by hand: %s", path, got, line)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, updated, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
