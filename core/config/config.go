// Package config loads credhost profiles from a TOML file, strictly: an
// unknown key, a wrong type or a missing setting is an error that names
// file:line:col and the dotted key and says what to do, and every problem
// in the file is reported at once.
//
// Every value keeps its Origin (a file position, or the environment
// variable that overrode it), so that layered files and
// `credhost config show` can say where each setting came from.
//
// Flow sections ([profiles.<name>.<flow>]) are free-form here; the host
// checks their keys against each plugin's Describe. Secret settings are
// kept as written (inline, env:NAME or file:PATH) and dereferenced only by
// ResolveSecret and ResolveBytes.
//
// The types are plain data: a File or Profile may be read concurrently but
// not changed while being read (ApplyEnv changes a Profile).
package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/boundedio"
)

// File is a parsed config file.
type File struct {
	// Path is the file's path as given to Load or Parse; relative paths in
	// the file (ca_file, plugins.dir, file: references) are relative to
	// its directory.
	Path string
	// Defaults holds [defaults], already applied to every profile.
	Defaults Defaults
	// Profiles maps each profile name to its profile.
	Profiles map[string]*Profile
	// Order lists the profile names in the order the file defines them.
	Order   []string
	Plugins Plugins
	// Cache is the [cache] table.
	Cache Cache
	// Agent is the [agent] table.
	Agent Agent
	// Projects is the [projects] table: the directories whose project
	// file LoadLayers reads.
	Projects Projects
	// Policy is the system file's [policy]; the zero Policy (no system
	// file, or no [policy] in it) allows everything. Only LoadLayers
	// sets it.
	Policy Policy
	// Layers lists the sources LoadLayers merged, lowest first, with the
	// files it looked for and did not find; nil for Parse and Load.
	Layers []Layer

	// untrusted is the project file LoadLayers found and did not read
	// (its directory is not trusted), for the hint of Profile.
	untrusted string

	// refused maps the name of each profile that Policy refuses to the
	// reasons; Profile returns them instead of the profile.
	refused map[string]error
}

// Plugins is the [plugins] table.
type Plugins struct {
	// Dir is a directory searched for plugin binaries first.
	Dir Value
	// Pins maps a flow id to the "sha256:<hex>" its binary must hash to.
	Pins map[string]Value
}

// Defaults is the [defaults] table: settings every profile inherits
// unless it sets them itself. A setting is present when its origin is
// not zero.
type Defaults struct {
	// Origin is the position of the [defaults] header; zero if absent.
	Origin               Origin
	Authority, ClientID  Value
	Chain                []string
	ChainOrigin          Origin
	Timeout              time.Duration
	TimeoutOrigin        Origin
	CAFile               Value
	RememberWinner       bool
	RememberWinnerOrigin Origin
}

// Profile is one [profiles.<name>] table, with [defaults] applied. A
// setting is present when its origin is not zero.
type Profile struct {
	Name string
	// Layer is the lowest layer that defines the profile (zero for
	// Parse and Load). A profile only a project file defines
	// (LayerProject) never receives the AZURE_* credential variables:
	// its authority is the project's choice.
	Layer LayerKind
	// Origin is the position of the profile's [profiles.<name>] header
	// (or of its first mention).
	Origin Origin
	// Authority is an https URL whose first path segment is the tenant.
	Authority Value
	// ClientID is the application (client) id.
	ClientID Value
	// Chain lists the flow ids to try, in order.
	Chain       []string
	ChainOrigin Origin
	// Timeout bounds each chain member's call; zero means the host's
	// default.
	Timeout       time.Duration
	TimeoutOrigin Origin
	// CAFile is a PEM file of extra roots to trust for HTTPS.
	CAFile Value
	// RememberWinner makes the chain start with the flow that worked last
	// time (default true).
	RememberWinner       bool
	RememberWinnerOrigin Origin
	// Flows maps a flow id to its section's settings, key by key.
	Flows map[string]map[string]Value
	// FlowOrigins maps a flow id to the position of its section header.
	FlowOrigins map[string]Origin
	// Match holds the [profiles.<name>.match] rules that choose this
	// profile when none is named (see File.Choose); nil if it has none.
	Match *Match
	// ServeResources, a list, limits the resources `credhost serve`
	// issues tokens for; unset means any.
	ServeResources Value
	// Default lists the members of the default chain (DefaultProfile),
	// including the skipped ones with the reason; nil for every other
	// profile. Chain holds the flows of those that run.
	Default []DefaultMember
}

// Key names of a profile (and of [defaults]).
const (
	keyAuthority      = "authority"
	keyClientID       = "client_id"
	keyChain          = "chain"
	keyTimeout        = "timeout"
	keyCAFile         = "ca_file"
	keyRememberWinner = "remember_winner"
	keyMatch          = "match"
	keyPolicy         = "policy"
	keyProjects       = "projects"
	// keyServeResources is a profile's own setting, not one of [defaults].
	keyServeResources = "serve_resources"
)

var (
	settingKeys = []string{keyAuthority, keyClientID, keyChain, keyTimeout, keyCAFile, keyRememberWinner}
	topKeys     = []string{"defaults", "profiles", "plugins", "cache", "agent", keyProjects}
	pluginKeys  = []string{"dir", "pins"}
)

// Load reads and parses the config file at path. A file that cannot be
// read gives an error wrapping the *fs.PathError (errors.Is(err,
// fs.ErrNotExist) works); problems in the file give Errors.
func Load(path string) (*File, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// readConfigFile reads a config file: a regular file (a FIFO or a device
// is refused, never waited on) of at most boundedio.MaxConfigFile bytes,
// so that a huge or endless file is a quick error rather than minutes of
// parsing or an out-of-memory crash.
func readConfigFile(path string) ([]byte, error) {
	return boundedio.ReadFile(path, boundedio.MaxConfigFile)
}

// Parse parses and checks a config file's contents; path is used in
// origins and to resolve relative paths later. On any problem it returns
// a nil File and Errors listing every problem, sorted by position (a TOML
// syntax error stops parsing, so it comes alone).
func Parse(path string, data []byte) (*File, error) {
	probs := &problems{}
	root := parseTree(path, data, probs)
	if root == nil {
		return nil, probs.err()
	}
	d := &decoder{probs: probs}
	f := d.file(path, root)
	finish(f, probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// Profile returns the named profile. An unknown name gives an error
// wrapping ErrNoProfile that lists the profiles there are; a profile the
// system policy refuses gives an error wrapping ErrPolicy that names the
// offending settings and the policy's file:line. The host looks every
// profile up here, so a refused profile never starts a plugin.
func (f *File) Profile(name string) (*Profile, error) {
	if p, ok := f.Profiles[name]; ok {
		if err := f.Refusal(name); err != nil {
			return nil, err
		}
		return p, nil
	}
	where := f.Path
	if where == "" {
		where = "the configuration"
	}
	names := f.Order
	if len(names) != len(f.Profiles) {
		names = make([]string, 0, len(f.Profiles))
		for n := range f.Profiles {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	var untrusted string
	if f.untrusted != "" {
		untrusted = "; " + untrustedHint(f.untrusted)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("config: %w %q: %s defines no profiles; add a [profiles.%s] table%s", ErrNoProfile, name, where, name, untrusted)
	}
	return nil, fmt.Errorf("config: %w %q in %s (profiles: %s)%s%s", ErrNoProfile, name, where, strings.Join(names, ", "), didYouMean(name, names), untrusted)
}

// ErrorAt returns an error placed at one of the profile's settings, for
// checks made after loading (such as those against a plugin's Describe).
// key is relative to the profile: "authority", "clientcreds" (a flow
// section) or "clientcreds.client_secret". The error is placed at the
// key, else at its flow section, else at the profile's header. A message
// that starts with the same position (an error from ResolveSecret wrapped
// with "%v") does not repeat it.
func (p *Profile) ErrorAt(key string, format string, args ...any) *Error {
	o := p.originOf(key)
	msg := fmt.Sprintf(format, args...)
	if s := o.String(); s != "" {
		msg = strings.TrimPrefix(msg, s+": ")
	}
	return &Error{Origin: o, Key: p.key(key), Msg: msg}
}

// key returns the dotted key of one of the profile's settings.
func (p *Profile) key(key string) string {
	return dotted("profiles", p.Name) + "." + key
}

func (p *Profile) originOf(key string) Origin {
	var o Origin
	switch key {
	case keyAuthority:
		o = p.Authority.Origin
	case keyClientID:
		o = p.ClientID.Origin
	case keyChain:
		o = p.ChainOrigin
	case keyTimeout:
		o = p.TimeoutOrigin
	case keyCAFile:
		o = p.CAFile.Origin
	case keyRememberWinner:
		o = p.RememberWinnerOrigin
	case keyMatch:
		if p.Match != nil {
			o = p.Match.Origin
		}
	default:
		flow, opt, _ := strings.Cut(key, ".")
		if opt != "" {
			o = p.Flows[flow][opt].Origin
		}
		if o.IsZero() {
			o = p.FlowOrigins[flow]
		}
	}
	if o.IsZero() {
		o = p.Origin
	}
	return o
}

// Validate checks the profile as it stands (after ApplyEnv, or for a
// profile built by FromEnv or by hand) against the rules Parse applies:
// authority, client_id and chain are required and well formed, the
// timeout is not negative, and flow ids are lowercase words. It returns
// Errors or nil.
func (p *Profile) Validate() error {
	probs := &problems{}
	c := checker{probs: probs, table: []string{"profiles", p.Name}}
	if !validProfileName(p.Name) {
		probs.add(p.Origin, dotted("profiles", p.Name), "%s", profileNameRule)
	}
	if p.Authority.IsSet() || p.Authority.Raw != "" {
		c.authority(p.Authority.Raw, p.originOf(keyAuthority))
	}
	if p.ClientID.IsSet() || p.ClientID.Raw != "" {
		c.clientID(p.ClientID.Raw, p.originOf(keyClientID))
	}
	if p.Chain != nil || !p.ChainOrigin.IsZero() {
		c.chain(p.Chain, nil, p.originOf(keyChain))
	}
	if p.Timeout < 0 {
		probs.add(p.originOf(keyTimeout), p.key(keyTimeout), "%s", timeoutRule)
	}
	for flow := range p.Flows {
		if !validFlowID(flow) {
			probs.add(p.originOf(flow), p.key(flow), "flow section name %s", flowIDRule(flow))
		}
	}
	c.required(p)
	return probs.err()
}

// TokenKey is the fixed part of the L1 cache key of p's tokens: the host
// and the CLI's fast path must build it the same way.
func (p *Profile) TokenKey() core.TokenKey {
	return core.TokenKey{Profile: p.Name, Authority: p.Authority.Raw, ClientID: p.ClientID.Raw, Chain: strings.Join(p.Chain, ",")}
}
