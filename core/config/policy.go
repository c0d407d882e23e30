package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Policy is the system file's [policy] table: rules an administrator sets
// that the user file, the project file, the environment and flags cannot
// loosen. A [policy] anywhere but in the system file is an error. The
// zero Policy allows everything.
//
// Policy is plain data, safe for concurrent reads.
type Policy struct {
	// Origin is the position of the [policy] header; zero if absent.
	Origin Origin
	// DenyFlows lists flow ids no profile may have in its chain
	// (policy.deny_flows), e.g. ["ropc"].
	DenyFlows Value
	// RequirePins makes every flow of every chain need a pin in
	// [plugins.pins] (policy.require_pins).
	RequirePins       bool
	RequirePinsOrigin Origin
	// AllowedAuthorities lists the authorities profiles may use
	// (policy.allowed_authorities): an entry with a scheme is a URL
	// prefix that ends at a path segment ("https://login.microsoftonline.com/contoso.onmicrosoft.com"),
	// an entry without one is a host, with a port if it has one
	// ("login.microsoftonline.us"). Unset allows every authority.
	AllowedAuthorities Value
	// MinPluginVersions maps a flow id to the lowest semantic version of
	// its plugin that may run (policy.min_plugin_versions). Only the
	// plugin's Describe tells its version: the host checks it with
	// CheckPluginVersion after starting the plugin and before configuring it.
	MinPluginVersions map[string]Value
}

// ErrPolicy is wrapped by the errors of a policy violation: File.Profile
// for a refused profile, CheckPluginVersion.
var ErrPolicy = errors.New("refused by the system policy")

var policyKeys = []string{"deny_flows", "require_pins", "allowed_authorities", "min_plugin_versions"}

// IsZero reports whether there is no policy.
func (p Policy) IsZero() bool { return p.Origin.IsZero() }

// policy decodes [policy].
func (d *decoder) policy(n *node) Policy {
	pol := Policy{Origin: n.pos}
	c := checker{probs: d.probs, table: []string{keyPolicy}}
	for _, k := range n.keys {
		v := n.fields[k]
		switch k {
		case "deny_flows":
			ids, pos := c.strings(k, v, "flow ids")
			for i, id := range ids {
				switch {
				case !validFlowID(id):
					d.probs.add(pos[i], c.key(k), "%s", flowIDRule(id))
				case slices.Index(ids, id) < i:
					d.probs.add(pos[i], c.key(k), "%q is listed twice: list each flow once", id)
				}
			}
			pol.DenyFlows = Value{List: ids, Origin: v.pos}
		case "require_pins":
			pol.RequirePinsOrigin = v.pos
			if v.kind != kBool {
				d.probs.add(v.pos, c.key(k), "expected true or false, got %s", v.kind)
				continue
			}
			pol.RequirePins = v.text == "true"
		case "allowed_authorities":
			list, pos := c.strings(k, v, `authority URL prefixes like "https://login.microsoftonline.com/<tenant>", or hosts like "login.microsoftonline.us"`)
			for i, a := range list {
				if err := checkAllowedAuthority(a); err != nil {
					d.probs.add(pos[i], c.key(k), "%v", err)
				}
			}
			pol.AllowedAuthorities = Value{List: list, Origin: v.pos}
		case "min_plugin_versions":
			if !d.isTable(v, []string{keyPolicy, k}, `min_plugin_versions = { clientcreds = "1.2.0" }`) {
				continue
			}
			pol.MinPluginVersions = map[string]Value{}
			for _, flow := range v.keys {
				ver := v.fields[flow]
				key := dotted(keyPolicy, k, flow)
				if ver.kind != kString {
					d.probs.add(ver.pos, key, `expected a string (a semantic version like "1.2.0"), got %s`, ver.kind)
					continue
				}
				if !validFlowID(flow) {
					d.probs.add(ver.pos, key, "%s", flowIDRule(flow))
				}
				if _, ok := parseSemver(ver.text); !ok {
					d.probs.add(ver.pos, key, `%q is not a semantic version: write MAJOR.MINOR.PATCH, like "1.2.0"`, ver.text)
				}
				pol.MinPluginVersions[flow] = Value{Raw: ver.text, Origin: ver.pos}
			}
		default:
			d.unknown(v, []string{keyPolicy, k}, policyKeys, "[policy] takes "+strings.Join(policyKeys, ", "))
		}
	}
	// A minimum version for a denied flow says the flow may run: the two
	// contradict each other, and which one the administrator meant is
	// theirs to say.
	for flow, v := range pol.MinPluginVersions {
		if slices.Contains(pol.DenyFlows.List, flow) {
			d.probs.add(v.Origin, dotted(keyPolicy, "min_plugin_versions", flow), "flow %s is also in deny_flows (at %s): a denied flow needs no minimum version; keep one", flow, pol.DenyFlows.Origin)
		}
	}
	return pol
}

// checkAllowedAuthority checks one allowed_authorities entry.
func checkAllowedAuthority(a string) error {
	if !strings.Contains(a, "://") {
		if a == "" || strings.ContainsAny(a, "/?#@ ") {
			return fmt.Errorf("%q is neither an https URL nor a host: write a host like \"login.microsoftonline.us\" or a URL prefix like \"https://login.microsoftonline.com/<tenant>\"", a)
		}
		return nil
	}
	u, err := url.Parse(a)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", a)
	case u.Scheme != "https":
		return fmt.Errorf("%q is not an https URL: authorities are https", a)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must be https://host[/path], without a user, query or fragment", a)
	}
	return nil
}

// authorityAllowed reports whether authority is allowed by entry.
func authorityAllowed(authority, entry string) bool {
	u, err := url.Parse(authority)
	if err != nil || u.Host == "" {
		return false
	}
	if !strings.Contains(entry, "://") {
		if strings.Contains(entry, ":") {
			return strings.EqualFold(u.Host, entry)
		}
		return strings.EqualFold(u.Hostname(), entry)
	}
	e, err := url.Parse(entry)
	if err != nil || !strings.EqualFold(u.Scheme, e.Scheme) || !strings.EqualFold(u.Host, e.Host) {
		return false
	}
	// The prefix ends at a segment: /contoso allows /contoso/v2.0 but not
	// /contoso-evil. Tenants are compared without case, as Entra does.
	want := strings.ToLower(strings.TrimSuffix(e.EscapedPath(), "/"))
	got := strings.ToLower(u.EscapedPath())
	return want == "" || got == want || strings.HasPrefix(got, want+"/")
}

// Check reports the ways profile p breaks the policy, given the pins in
// force: each problem is an *Error placed at the offending setting that
// wraps ErrPolicy and names the policy's file:line. It returns Errors or
// nil. Check needs nothing but the configuration, so LoadLayers runs it
// for every profile and File.Profile refuses those that fail, before any
// plugin starts.
func (pol Policy) Check(p *Profile, pins map[string]Value) error {
	if pol.IsZero() {
		return nil
	}
	probs := &problems{}
	refuse := func(key, format string, args ...any) {
		e := p.ErrorAt(key, format, args...)
		e.Err = ErrPolicy
		probs.list = append(probs.list, e)
	}
	for _, flow := range p.Chain {
		if slices.Contains(pol.DenyFlows.List, flow) {
			refuse(keyChain, "flow %s is denied by the system policy (policy.deny_flows at %s): remove it from the chain", flow, pol.DenyFlows.Origin)
			continue
		}
		if _, ok := pins[flow]; pol.RequirePins && !ok {
			refuse(keyChain, "flow %s has no pin, and the system policy requires one for every plugin (policy.require_pins at %s): add the [plugins.pins] line `credhost plugins verify` prints", flow, pol.RequirePinsOrigin)
		}
	}
	if list := pol.AllowedAuthorities; list.IsSet() {
		ok := slices.ContainsFunc(list.List, func(e string) bool { return authorityAllowed(p.Authority.Raw, e) })
		if !ok {
			refuse(keyAuthority, "authority %q is not allowed by the system policy (policy.allowed_authorities at %s allows %s)", redactURL(p.Authority.Raw), list.Origin, strings.Join(list.List, ", "))
		}
	}
	return probs.err()
}

// redactURL hides a password in a URL (an authority never has one, but a
// wrong value might).
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// CheckPluginVersion reports whether the plugin of flow, which describes
// itself as version, may run: nil when the policy sets no minimum for
// flow or version is at least the minimum (semantic version order, a
// leading "v" allowed, a pre-release below its release). A version that
// is not a semantic version ("dev", "") fails when a minimum is set,
// since nobody can tell it is new enough. The error is an *Error placed
// at the policy's min_plugin_versions entry (file:line) that wraps
// ErrPolicy. The host calls it after Describe and before Configure; it
// is safe for concurrent use.
func (pol Policy) CheckPluginVersion(flow, version string) error {
	min, ok := pol.MinPluginVersions[flow]
	if !ok {
		return nil
	}
	key := dotted(keyPolicy, "min_plugin_versions", flow)
	have, ok := parseSemver(version)
	if !ok {
		return &Error{Origin: min.Origin, Key: key, Err: ErrPolicy,
			Msg: fmt.Sprintf("plugin %s reports version %q, which is not a semantic version, and the system policy requires at least %s: install a released %s", flow, version, min.Raw, pluginBinary(flow))}
	}
	want, _ := parseSemver(min.Raw)
	if compareSemver(have, want) < 0 {
		return &Error{Origin: min.Origin, Key: key, Err: ErrPolicy,
			Msg: fmt.Sprintf("plugin %s is version %s, older than the %s the system policy requires: install a newer %s", flow, version, min.Raw, pluginBinary(flow))}
	}
	return nil
}

func pluginBinary(flow string) string { return "credhost-plugin-" + flow }

// semver is a parsed semantic version.
type semver struct {
	major, minor, patch uint64
	pre                 []string // dot-separated pre-release identifiers
}

// parseSemver parses MAJOR.MINOR.PATCH[-pre][+build], with an optional
// leading "v".
func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	var n [3]uint64
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return semver{}, false
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return semver{}, false
		}
		n[i] = v
	}
	v := semver{major: n[0], minor: n[1], patch: n[2]}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
				return semver{}, false
			}
		}
	}
	return v, true
}

// compareSemver orders versions as semver.org says.
func compareSemver(a, b semver) int {
	for _, d := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case xerr == nil:
			return -1 // numeric identifiers sort before alphanumeric ones
		case yerr == nil:
			return 1
		case x != y:
			return strings.Compare(x, y)
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}
