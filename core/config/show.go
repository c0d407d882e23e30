package config

import (
	"slices"
	"strings"

	"github.com/credhost/credhost/core/store"
)

// Setting is one effective value as `credhost config show --effective`
// prints it. Its Value is never a secret.
type Setting struct {
	// Key is the dotted key: profiles.ci.clientcreds.client_secret.
	Key string
	// Value is a string, a bool or a []string. A setting that may be a
	// secret shows its reference (env:NAME, file:PATH) or Redacted.
	Value any
	// Origin is where the value came from; zero for a built-in default.
	Origin Origin
}

// Redacted stands for a value that may be a secret.
const Redacted = "[redacted]"

// publicOptions are the flow settings known not to be secrets (the
// plugins' Describe says so). Any other flow setting written inline
// shows as Redacted: config cannot ask the plugin without starting it,
// and a new plugin's secret must not print because nobody listed it.
var publicOptions = []string{
	"send_certificate_chain", "client_assertion_command", "federated_token_file",
	"redirect_port", "timeout", "browser", "login_hint", "username",
	"scopes", "tenant", "mode",
}

// shown returns what may be printed of v: itself when it is no secret,
// else its reference, else Redacted.
func shown(v Value, secret bool) any {
	switch {
	case !secret && v.IsList():
		return v.List
	case !secret:
		return v.Raw
	case v.IsList():
		return Redacted
	}
	if name, ok := strings.CutPrefix(v.Raw, "env:"); ok && validEnvName(name) {
		return v.Raw // names a variable, which is not the secret
	}
	if p, ok := strings.CutPrefix(v.Raw, "file:"); ok && p != "" {
		return v.Raw // names a file, which is not the secret
	}
	return Redacted
}

// Effective lists the settings of the named profiles (all, in order, if
// none is named; an unknown name is skipped), then [plugins], [cache] and
// [policy], each with its origin, and never a secret: flow settings not
// known to be public and the [cache] secrets show as their reference
// (env:NAME, file:PATH) or as Redacted.
func (f *File) Effective(profiles ...string) []Setting {
	if len(profiles) == 0 {
		profiles = f.Order
	}
	var out []Setting
	add := func(key string, v any, o Origin) { out = append(out, Setting{Key: key, Value: v, Origin: o}) }
	addValue := func(key string, v Value, secret bool) {
		if v.IsSet() {
			add(key, shown(v, secret), v.Origin)
		}
	}
	for _, name := range profiles {
		p := f.Profiles[name]
		if p == nil {
			continue
		}
		k := func(s ...string) string { return dotted(append([]string{"profiles", name}, s...)...) }
		addValue(k(keyAuthority), p.Authority, false)
		addValue(k(keyClientID), p.ClientID, false)
		if !p.ChainOrigin.IsZero() {
			add(k(keyChain), slices.Clone(p.Chain), p.ChainOrigin)
		}
		if !p.TimeoutOrigin.IsZero() {
			add(k(keyTimeout), p.Timeout.String(), p.TimeoutOrigin)
		}
		addValue(k(keyCAFile), p.CAFile, false)
		addValue(k(keyServeResources), p.ServeResources, false)
		add(k(keyRememberWinner), p.RememberWinner, p.RememberWinnerOrigin)
		if p.Match != nil {
			out = append(out, matchSettings(k(keyMatch), p.Match)...)
		}
		flows := make([]string, 0, len(p.Flows))
		for flow := range p.Flows {
			flows = append(flows, flow)
		}
		slices.Sort(flows)
		for _, flow := range flows {
			keys := make([]string, 0, len(p.Flows[flow]))
			for key := range p.Flows[flow] {
				keys = append(keys, key)
			}
			slices.Sort(keys)
			for _, key := range keys {
				addValue(k(flow, key), p.Flows[flow][key], !slices.Contains(publicOptions, key))
			}
		}
	}
	addValue("plugins.dir", f.Plugins.Dir, false)
	pins := make([]string, 0, len(f.Plugins.Pins))
	for flow := range f.Plugins.Pins {
		pins = append(pins, flow)
	}
	slices.Sort(pins)
	for _, flow := range pins {
		addValue(dotted("plugins", "pins", flow), f.Plugins.Pins[flow], false)
	}
	c := f.Cache
	if c.Backend.IsSet() {
		addValue("cache.backend", c.Backend, false)
	} else {
		add("cache.backend", store.DefaultBackend, Origin{})
	}
	if b, ok := store.Lookup(c.Name()); ok {
		for _, s := range b.Settings() {
			addValue(dotted("cache", c.Name(), s.Key), c.Settings()[s.Key], s.Secret)
		}
	}
	add("cache.min_lifetime", c.MinLifetime.String(), c.MinLifetimeOrigin)
	// One line per entry: the system and user files' lists add up, each
	// entry keeping its origin.
	for _, d := range f.Projects.Trusted {
		add("projects.trusted", d.Raw, d.Origin)
	}
	pol := f.Policy
	if pol.DenyFlows.IsSet() {
		add("policy.deny_flows", pol.DenyFlows.List, pol.DenyFlows.Origin)
	}
	if !pol.RequirePinsOrigin.IsZero() {
		add("policy.require_pins", pol.RequirePins, pol.RequirePinsOrigin)
	}
	if pol.AllowedAuthorities.IsSet() {
		add("policy.allowed_authorities", pol.AllowedAuthorities.List, pol.AllowedAuthorities.Origin)
	}
	flows := make([]string, 0, len(pol.MinPluginVersions))
	for flow := range pol.MinPluginVersions {
		flows = append(flows, flow)
	}
	slices.Sort(flows)
	for _, flow := range flows {
		addValue(dotted(keyPolicy, "min_plugin_versions", flow), pol.MinPluginVersions[flow], false)
	}
	return out
}

// matchSettings lists a match table's rules as settings, one per key as
// the file writes them.
func matchSettings(prefix string, m *Match) []Setting {
	var out []Setting
	lists := map[RuleKind]int{} // index in out of env_set and file
	for _, r := range m.Rules {
		switch r.Kind {
		case RuleEnv:
			out = append(out, Setting{Key: prefix + "." + dotted(matchEnv, r.Name), Value: r.Value, Origin: r.Origin})
		case RuleEnvSet, RuleFile:
			key := matchEnvSet
			if r.Kind == RuleFile {
				key = matchFile
			}
			if i, ok := lists[r.Kind]; ok {
				out[i].Value = append(out[i].Value.([]string), r.Name)
				continue
			}
			lists[r.Kind] = len(out)
			out = append(out, Setting{Key: prefix + "." + key, Value: []string{r.Name}, Origin: r.Origin})
		case RuleKubernetes:
			out = append(out, Setting{Key: prefix + "." + matchKubernetes, Value: r.Want, Origin: r.Origin})
		case RuleTTY:
			out = append(out, Setting{Key: prefix + "." + matchTTY, Value: r.Want, Origin: r.Origin})
		case RuleOS:
			out = append(out, Setting{Key: prefix + "." + matchOS, Value: slices.Clone(r.Values), Origin: r.Origin})
		}
	}
	return out
}
