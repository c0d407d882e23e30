package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ProjectFileName is the project file searched for from the working
// directory up.
const ProjectFileName = ".credhost.toml"

// LayerKind is one source of settings. Later kinds override earlier ones,
// key by key.
type LayerKind uint8

// Layers, lowest first. The zero LayerKind is no layer: Parse and Load
// read a file as the user file.
const (
	LayerSystem  LayerKind = iota + 1 // /etc/credhost/config.toml: the only one that may hold [policy]
	LayerUser                         // the user's config file, or --config
	LayerProject                      // .credhost.toml in the working directory or above
	LayerEnv                          // the AZURE_* variables (ApplyEnv)
	LayerFlags                        // command-line settings (LoadOptions.Flags)
)

// String returns "system", "user", "project", "env" or "flags".
func (k LayerKind) String() string {
	switch k {
	case LayerSystem:
		return "system"
	case LayerUser:
		return "user"
	case LayerProject:
		return "project"
	case LayerEnv:
		return "env"
	case LayerFlags:
		return "flags"
	}
	return "unknown"
}

// Layer is one source LoadLayers looked at.
type Layer struct {
	Kind LayerKind
	// Path is the file (file layers); for the env layer, the variables
	// that were set, comma-separated; for flags, the flags.
	Path string
	// Missing is true for a file that was looked for and is not there.
	Missing bool
	// Untrusted is true for a project file that was found and not read:
	// no [projects] trusted entry names its directory.
	Untrusted bool
}

// FlagSetting is one setting given on the command line, as a TOML
// assignment such as `profiles.ci.timeout = "30s"`: the same strict rules
// as in a file apply, and every value it sets has Origin{Flag: Flag}.
type FlagSetting struct {
	// Flag names the flag ("--set"), for origins and messages.
	Flag string
	// TOML is one or more TOML key/value lines.
	TOML string
}

// LoadOptions says where LoadLayers looks. The zero value (or nil) reads
// the real files of the machine and the process environment.
type LoadOptions struct {
	// SystemPath replaces the system file; default $CREDHOST_SYSTEM_CONFIG,
	// else DefaultSystemPath(). A missing system file is no error.
	SystemPath string
	// UserPath replaces the user file (--config); default
	// $CREDHOST_CONFIG, else DefaultUserPath. A file named here or by
	// $CREDHOST_CONFIG must exist; the default one need not.
	UserPath string
	// WorkDir is where the search for the project file starts; default
	// the working directory.
	WorkDir string
	// Home bounds the project search: it never looks in Home's parent or
	// above. Default $HOME (through Getenv), else os.UserHomeDir.
	Home string
	// NoProject turns the project file search off (for embedders whose
	// working directory says nothing about the app).
	NoProject bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv Env
	// Flags are command-line settings, the highest layer.
	Flags []FlagSetting
	// Partial makes LoadLayers return, along with the Errors, the File as
	// far as it could be read (a value with a problem may be unset or
	// wrong), so that config validate can go on to the checks that need
	// plugins and report every problem in one pass. Nothing may use such
	// a File to sign in.
	Partial bool
}

// DefaultSystemPath is /etc/credhost/config.toml, or
// %ProgramData%\credhost\config.toml on Windows.
func DefaultSystemPath() string {
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "credhost", "config.toml")
		}
		return `C:\ProgramData\credhost\config.toml`
	}
	return "/etc/credhost/config.toml"
}

// DefaultUserPath is $CREDHOST_CONFIG, else credhost/config.toml in the
// user's config directory: $XDG_CONFIG_HOME or ~/.config on Linux and
// the BSDs (read through getenv), os.UserConfigDir on macOS and Windows.
func DefaultUserPath(getenv Env) string {
	if p := getenv.get(EnvConfig); p != "" {
		return p
	}
	var dir string
	switch runtime.GOOS {
	case "darwin", "windows", "ios", "plan9":
		dir, _ = os.UserConfigDir()
	default:
		// XDG says a relative XDG_CONFIG_HOME is to be ignored.
		if x := getenv.get("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
			dir = x
		} else if home := getenv.get("HOME"); home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir == "" {
		return filepath.Join(".credhost", "config.toml")
	}
	return filepath.Join(dir, "credhost", "config.toml")
}

// FindProject returns the first ProjectFileName in dir or a parent of
// it, or "". The search stops before the filesystem root and, when dir
// is inside home, before home's parent: a file there could belong to
// another user (/home/.credhost.toml, /tmp/.credhost.toml).
func FindProject(dir, home string, stat func(string) (fs.FileInfo, error)) string {
	if stat == nil {
		stat = os.Stat
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	stop := ""
	if home != "" {
		if h, err := filepath.Abs(home); err == nil {
			stop = filepath.Dir(h)
		}
	}
	for {
		parent := filepath.Dir(dir)
		if parent == dir || dir == stop {
			return ""
		}
		p := filepath.Join(dir, ProjectFileName)
		if fi, err := stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
		dir = parent
	}
}

// LoadLayers reads and merges every layer, lowest first: the system file,
// the user file (or UserPath), the project file, the AZURE_* variables
// (as ApplyEnv does) and Flags. A later layer overrides an earlier one
// key by key: a profile defined in two files merges per setting, and so
// do its flow sections, [defaults], [plugins], [plugins.pins] and
// [cache]; a list (chain) and a match table are one value each. A
// profile setting from any layer beats [defaults] from any layer. Every
// value keeps its origin. Relative paths (ca_file, plugins.dir, the
// [cache] paths, flow settings named *_file, file: references) are made
// absolute against the file that set them, so the merged File can be
// used wherever it is.
//
// Problems in any layer are reported together, as Errors; [policy] in
// any layer but the system file is one of them. When no layer defines a
// profile, the profile "env" (DefaultProfile: azidentity's
// DefaultAzureCredential as a chain, from the AZURE_* variables) is
// added. Finally every profile is checked against the
// system policy: File.Profile refuses those that break it. With
// opts.Partial, a File comes back with the Errors (see LoadOptions).
func LoadLayers(opts *LoadOptions) (*File, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	getenv := o.Getenv
	system := o.SystemPath
	if system == "" {
		system = getenv.get(EnvSystemConfig)
	}
	if system == "" {
		system = DefaultSystemPath()
	}
	user, explicit := o.UserPath, o.UserPath != "" || getenv.get(EnvConfig) != ""
	if user == "" {
		user = DefaultUserPath(getenv)
	}
	type source struct {
		kind     LayerKind
		path     string
		required bool
	}
	sources := []source{{LayerSystem, system, false}, {LayerUser, user, explicit}}
	if !o.NoProject {
		if p := findProjectFor(o, getenv); p != "" && !sameFile(p, user) && !sameFile(p, system) {
			sources = append(sources, source{LayerProject, p, true})
		}
	}

	probs := &problems{}
	merged := &File{Profiles: map[string]*Profile{}, Plugins: Plugins{Pins: map[string]Value{}}, Cache: Cache{MinLifetime: DefaultMinLifetime}}
	for _, s := range sources {
		if s.kind == LayerProject && !trustedProject(s.path, merged.Projects.Trusted, homeFor(o, getenv)) {
			merged.Layers = append(merged.Layers, Layer{Kind: s.kind, Path: s.path, Untrusted: true})
			merged.untrusted = s.path
			continue
		}
		data, err := readConfigFile(s.path)
		if errors.Is(err, fs.ErrNotExist) && !s.required {
			merged.Layers = append(merged.Layers, Layer{Kind: s.kind, Path: s.path, Missing: true})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config: %s file: %w", s.kind, err)
		}
		merged.Layers = append(merged.Layers, Layer{Kind: s.kind, Path: s.path})
		root := parseTree(s.path, data, probs)
		if root == nil {
			continue
		}
		if s.kind == LayerProject {
			filterProject(root, merged.Profiles, probs)
		}
		d := &decoder{probs: probs, layer: s.kind, systemPath: system}
		lf := d.file(s.path, root)
		absolutize(lf, dirOf(s.path))
		merged.merge(lf, s.kind, probs)
		if s.kind == LayerUser || merged.Path == "" {
			merged.Path = s.path
		}
	}
	var flags []string
	for _, fl := range o.Flags {
		root := parseTreeAs(Origin{Flag: fl.Flag}, []byte(fl.TOML), probs)
		if root == nil {
			continue
		}
		d := &decoder{probs: probs, layer: LayerFlags, systemPath: system}
		merged.merge(d.file("", root), LayerFlags, probs)
		flags = append(flags, fl.Flag)
	}
	for _, name := range merged.Order {
		merged.Defaults.applyTo(merged.Profiles[name])
	}

	// The environment sits between the files and the flags: it overrides
	// every file value, and no flag value.
	for _, name := range merged.Order {
		if err := merged.Profiles[name].applyEnv(getenv, true); err != nil {
			probs.list = append(probs.list, err.(Errors)...)
		}
	}
	if len(merged.Order) == 0 && len(o.Flags) == 0 && probs.err() == nil {
		p, err := DefaultProfile(getenv)
		if err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		merged.Profiles[p.Name], merged.Order = p, []string{p.Name}
	}
	if vars := envVarsSet(getenv); vars != "" {
		merged.Layers = append(merged.Layers, Layer{Kind: LayerEnv, Path: vars})
	}
	if len(flags) > 0 {
		merged.Layers = append(merged.Layers, Layer{Kind: LayerFlags, Path: strings.Join(flags, ", ")})
	}
	checkComplete(merged, probs)
	err := probs.err()
	if err != nil && !o.Partial {
		return nil, err
	}
	for _, name := range merged.Order {
		if err := merged.Policy.Check(merged.Profiles[name], merged.Plugins.Pins); err != nil {
			if merged.refused == nil {
				merged.refused = map[string]error{}
			}
			merged.refused[name] = err
		}
	}
	return merged, err
}

// Refusal returns why the system policy refuses the named profile
// (wrapping ErrPolicy), or nil.
func (f *File) Refusal(name string) error {
	err := f.refused[name]
	if err == nil {
		return nil
	}
	return fmt.Errorf("config: profile %q %w:\n%w", name, ErrPolicy, err)
}

func findProjectFor(o LoadOptions, getenv Env) string {
	dir := o.WorkDir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return ""
		}
	}
	return FindProject(dir, homeFor(o, getenv), nil)
}

// homeFor is the home directory: o.Home, else $HOME, else the OS's.
func homeFor(o LoadOptions, getenv Env) string {
	home := o.Home
	if home == "" {
		home = getenv.get("HOME")
	}
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return home
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func dirOf(path string) string { return filepath.Dir(absPath(path)) }

// envVarsSet lists the AZURE_* variables that are set, for Layers.
func envVarsSet(getenv Env) string {
	var names []string
	for _, n := range []string{EnvTenantID, EnvClientID, EnvAuthorityHost, EnvClientSecret, EnvClientCertificatePath, EnvClientCertificatePassword,
		EnvSendCertificateChain, EnvFederatedTokenFile, EnvUsername, EnvPassword, EnvTokenCredentials, EnvCAFile} {
		if getenv.get(n) != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// merge adds layer l (already decoded, [defaults] not applied) on top of
// f, key by key.
func (f *File) merge(l *File, kind LayerKind, probs *problems) {
	f.Defaults.merge(&l.Defaults)
	for _, name := range l.Order {
		lp := l.Profiles[name]
		p, ok := f.Profiles[name]
		if !ok {
			p = &Profile{Name: name, Layer: kind, Origin: lp.Origin, RememberWinner: true, Flows: map[string]map[string]Value{}, FlowOrigins: map[string]Origin{}}
			f.Profiles[name] = p
			f.Order = append(f.Order, name)
		}
		p.merge(lp)
	}
	if l.Plugins.Dir.IsSet() {
		f.Plugins.Dir = l.Plugins.Dir
	}
	if !l.Policy.IsZero() && kind == LayerSystem {
		f.Policy = l.Policy
	}
	for flow, pin := range l.Plugins.Pins {
		// With require_pins the administrator's pins are the point: a
		// lower layer that could replace one could run any binary.
		if old, ok := f.Plugins.Pins[flow]; ok && kind != LayerSystem && f.Policy.RequirePins && old.Origin.File == f.Policy.Origin.File && old.Raw != pin.Raw {
			probs.add(pin.Origin, dotted("plugins", "pins", flow), "replaces the system file's pin (at %s), but the system policy requires pins (policy.require_pins at %s): remove this line", old.Origin, f.Policy.RequirePinsOrigin)
			continue
		}
		f.Plugins.Pins[flow] = pin
	}
	f.Cache.merge(&l.Cache, probs)
	if l.Agent.IsSet() {
		f.Agent = l.Agent
	}
	f.Projects.Trusted = append(f.Projects.Trusted, l.Projects.Trusted...)
}

// merge sets in p every setting lp sets.
func (p *Profile) merge(lp *Profile) {
	if lp.Authority.IsSet() {
		p.Authority = lp.Authority
	}
	if lp.ClientID.IsSet() {
		p.ClientID = lp.ClientID
	}
	if !lp.ChainOrigin.IsZero() {
		p.Chain, p.ChainOrigin = lp.Chain, lp.ChainOrigin
	}
	if !lp.TimeoutOrigin.IsZero() {
		p.Timeout, p.TimeoutOrigin = lp.Timeout, lp.TimeoutOrigin
	}
	if lp.CAFile.IsSet() {
		p.CAFile = lp.CAFile
	}
	if lp.ServeResources.IsSet() {
		p.ServeResources = lp.ServeResources
	}
	if !lp.RememberWinnerOrigin.IsZero() {
		p.RememberWinner, p.RememberWinnerOrigin = lp.RememberWinner, lp.RememberWinnerOrigin
	}
	if lp.Match != nil {
		p.Match = lp.Match
	}
	for flow, opts := range lp.Flows {
		if p.Flows[flow] == nil {
			p.Flows[flow] = map[string]Value{}
			p.FlowOrigins[flow] = lp.FlowOrigins[flow]
		}
		for k, v := range opts {
			p.Flows[flow][k] = v
		}
	}
}

// merge sets in df every setting l sets.
func (df *Defaults) merge(l *Defaults) {
	if df.Origin.IsZero() {
		df.Origin = l.Origin
	}
	if l.Authority.IsSet() {
		df.Authority = l.Authority
	}
	if l.ClientID.IsSet() {
		df.ClientID = l.ClientID
	}
	if !l.ChainOrigin.IsZero() {
		df.Chain, df.ChainOrigin = l.Chain, l.ChainOrigin
	}
	if !l.TimeoutOrigin.IsZero() {
		df.Timeout, df.TimeoutOrigin = l.Timeout, l.TimeoutOrigin
	}
	if l.CAFile.IsSet() {
		df.CAFile = l.CAFile
	}
	if !l.RememberWinnerOrigin.IsZero() {
		df.RememberWinner, df.RememberWinnerOrigin = l.RememberWinner, l.RememberWinnerOrigin
	}
}

// merge sets in c every setting l sets. Each backend's table merges key
// by key; settings l writes directly in [cache] go to the backend
// selected so far (l's own if it names one).
func (c *Cache) merge(l *Cache, probs *problems) {
	if l.Origin.IsZero() {
		return
	}
	if c.Origin.IsZero() || l.Backend.IsSet() {
		c.Origin = l.Origin
	}
	if l.Backend.IsSet() {
		c.Backend = l.Backend
	}
	for name, table := range l.Backends {
		for k, v := range table {
			c.set(name, k, v)
		}
	}
	l.migrate(c, probs)
	if !l.MinLifetimeOrigin.IsZero() {
		c.MinLifetime, c.MinLifetimeOrigin = l.MinLifetime, l.MinLifetimeOrigin
	}
}

// absolutize makes the relative paths of a file layer absolute against
// dir, its directory, so that merging files from several directories
// keeps each path pointing where its file meant.
func absolutize(f *File, dir string) {
	path := func(v *Value) {
		if v.Raw != "" && !filepath.IsAbs(v.Raw) && !isHomePath(v.Raw) {
			v.Raw = filepath.Join(dir, v.Raw)
		}
	}
	ref := func(v *Value) {
		if p, ok := strings.CutPrefix(v.Raw, "file:"); ok && p != "" && !filepath.IsAbs(p) && !isHomePath(p) {
			v.Raw = "file:" + filepath.Join(dir, p)
		}
	}
	path(&f.Defaults.CAFile)
	path(&f.Plugins.Dir)
	// The backends' paths and secrets, by their tags.
	cacheValue := func(backend, k string, v Value) Value {
		s, _ := settingOf(backend, k)
		switch {
		case s.Path:
			path(&v)
		case s.Secret:
			ref(&v)
		}
		return v
	}
	for name, table := range f.Cache.Backends {
		for k, v := range table {
			table[k] = cacheValue(name, k, v)
		}
	}
	for k, v := range f.Cache.flat {
		f.Cache.flat[k] = cacheValue("", k, v)
	}
	for _, p := range f.Profiles {
		path(&p.CAFile)
		for _, opts := range p.Flows {
			for k, v := range opts {
				switch {
				case v.IsList():
				case strings.HasPrefix(v.Raw, "file:"):
					ref(&v)
				case strings.HasSuffix(k, "_file") && !strings.HasPrefix(v.Raw, "env:"):
					// federated_token_file and its kind: a path by
					// the naming convention every credhost setting follows.
					path(&v)
				}
				opts[k] = v
			}
		}
	}
}

func isHomePath(p string) bool {
	return p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`)
}
