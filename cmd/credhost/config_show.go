package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
)

// showReport is what config show prints; its JSON form is the --output
// json document.
type showReport struct {
	Layers []showLayer `json:"layers"`
	// Profile is the profile a token call would use, and why; nil when
	// none would be chosen (SelectionError says why).
	Profile        *showChoice   `json:"profile"`
	SelectionError string        `json:"selection_error,omitempty"`
	Refused        []showRefusal `json:"refused,omitempty"`
	// Settings are listed with --effective only.
	Settings []showSetting `json:"settings,omitempty"`
}

type showLayer struct {
	Kind    string `json:"kind"`
	Path    string `json:"path"`
	Missing bool   `json:"missing,omitempty"`
	// Untrusted marks a project file that was not read.
	Untrusted bool `json:"untrusted,omitempty"`
}

type showChoice struct {
	Name   string   `json:"name"`
	Reason string   `json:"reason"`
	Origin string   `json:"origin,omitempty"`
	Rules  []string `json:"rules,omitempty"`
}

type showRefusal struct {
	Profile string `json:"profile"`
	Error   string `json:"error"`
}

type showSetting struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Origin string `json:"origin"`
}

// show prints the layers, the profile a call would use and why, and with
// --effective every merged setting and its origin. It starts no plugin;
// values that may be secrets print as their reference or [redacted]
// (config.File.Effective decides, so this code never sees a secret).
func (c *configCmd) show(g *globals, e *env, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("config show takes no arguments, got %q", args[0])}
	}
	file, err := host.LoadConfig(g.Config, e.getenv)
	if err != nil {
		return usageError{err}
	}
	var r showReport
	for _, l := range file.Layers {
		r.Layers = append(r.Layers, showLayer{Kind: l.Kind.String(), Path: l.Path, Missing: l.Missing, Untrusted: l.Untrusted})
	}
	// g.Profile holds $CREDHOST_PROFILE when the flag is absent: leave it
	// to Choose then, so that the reason names the variable.
	name := g.Profile
	if v := e.getenv(config.EnvProfile); v != "" && v == name {
		name = ""
	}
	choice, err := host.ChooseProfile(file, name, host.DefaultEnvironment(e.getenv))
	if err != nil {
		r.SelectionError = err.Error()
	} else {
		r.Profile = &showChoice{Name: choice.Name, Reason: choice.Reason, Origin: choice.Origin.String()}
		for _, rule := range choice.Rules {
			r.Profile.Rules = append(r.Profile.Rules, rule.String())
		}
	}
	var shown []string
	if g.Profile != "" {
		if _, ok := file.Profiles[g.Profile]; !ok {
			_, err := file.Profile(g.Profile)
			return usageError{err}
		}
		shown = []string{g.Profile}
	}
	for _, n := range file.Order {
		if err := file.Refusal(n); err != nil && (len(shown) == 0 || shown[0] == n) {
			r.Refused = append(r.Refused, showRefusal{Profile: n, Error: err.Error()})
		}
	}
	if c.effective {
		for _, s := range file.Effective(shown...) {
			r.Settings = append(r.Settings, showSetting{Key: s.Key, Value: s.Value, Origin: originText(s.Origin)})
		}
	}
	if c.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.writeText(e.stdout)
}

func originText(o config.Origin) string {
	if o.IsZero() {
		return "default"
	}
	return o.String()
}

// writeText prints the report as commented TOML-like lines: the values
// read as TOML, the origins as comments.
func (r *showReport) writeText(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# layers, lowest first (later ones override earlier ones key by key)\n")
	for _, l := range r.Layers {
		note := ""
		if l.Missing {
			note = " (not found)"
		}
		if l.Untrusted {
			note = " (not read: its directory is not in [projects] trusted)"
		}
		fmt.Fprintf(&b, "#   %-8s %s%s\n", l.Kind, l.Path, note)
	}
	if r.Profile != nil {
		fmt.Fprintf(&b, "# profile: %s (%s)\n", r.Profile.Name, r.Profile.Reason)
	} else {
		fmt.Fprintf(&b, "# profile: none chosen: %s\n", strings.ReplaceAll(r.SelectionError, "\n", "\n#   "))
	}
	for _, ref := range r.Refused {
		fmt.Fprintf(&b, "# refused: %s\n", strings.ReplaceAll(ref.Error, "\n", "\n#   "))
	}
	if len(r.Settings) > 0 {
		b.WriteString("\n")
		width := 0
		lines := make([]string, len(r.Settings))
		for i, s := range r.Settings {
			lines[i] = s.Key + " = " + tomlValue(s.Value)
			width = max(width, len(lines[i]))
		}
		for i, s := range r.Settings {
			fmt.Fprintf(&b, "%-*s  # %s\n", width, lines[i], s.Origin)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tomlValue writes a setting's value as TOML.
func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	// Effective returns only the types above; anything else must not
	// print, since nothing says it is safe to.
	return strconv.Quote(config.Redacted)
}
