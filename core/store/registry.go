package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// A token store backend is one package that registers itself:
//
//	func init() {
//		store.Register(store.Backend[Settings]{Name: "mine", Open: open})
//	}
//
// Settings is a struct whose fields are the settings of the config's
// [cache.mine] table. Each field has a toml tag (its key) and may have a
// store tag, a comma-separated list of what generic code needs to know:
//
//   - path: a filesystem path; relative to the config file that set it;
//   - secret: a secret reference (inline, env:NAME, file:PATH), resolved
//     before Open and shown redacted by `config show`; the field is a
//     core.Secret;
//   - required: the backend cannot open without it;
//   - env=NAME: the variable NAME, when set, overrides the file's value
//     (a setting that excludes this one then gives way);
//   - excludes=KEY: setting both this and KEY is an error;
//   - project: a project file (.credhost.toml) may set it; nothing else
//     of [cache] may come from a project file.
//
// A field's type is string, core.Secret, bool, int or time.Duration. The
// config loader checks the table's keys against the struct when it
// loads, so a typo is reported with its file:line before anything opens.

// DefaultBackend is the backend of a config that names none.
const DefaultBackend = "file"

// Backend is a token store backend: its name in [cache] backend and
// [cache.<Name>], and how to open it from its settings S.
type Backend[S any] struct {
	// Name is a lower-case word: "file", "redis".
	Name string
	// Open opens the store. Every setting of s is decoded: secrets
	// resolved, paths absolute, overrides from the environment applied,
	// required settings present. ctx bounds what opening waits for (a
	// connection check), not the store's life.
	Open func(ctx context.Context, s S, o OpenOptions) (Opened, error)
}

// OpenOptions is what the host gives every backend's Open.
type OpenOptions struct {
	// Log receives the store's warnings (and, for a network store, its
	// driver's lines). The zero Logger logs nothing.
	Log zerolog.Logger
}

// Opened is an open store and where it keeps its tokens.
type Opened struct {
	Store core.Store
	// Location is what `credhost cache info` shows: a path, or an
	// address without a password.
	Location string
}

// Value is one setting as the config file wrote it.
type Value struct {
	// Raw is the text of the value: a path, a URL, a secret reference.
	Raw string
	// Origin is where it was set (file:line:col), for errors.
	Origin string
}

// Input is a backend's table as the config loader hands it to Decode.
type Input struct {
	// Backend is the backend's name, for errors.
	Backend string
	// Values holds the table's settings by key.
	Values map[string]Value
	// Dir is the directory relative paths are relative to: the config
	// file's ("" leaves them as they are).
	Dir string
	// Getenv reads the variables of env= overrides; nil reads none.
	Getenv func(string) string
	// Resolve dereferences the secret setting key (inline, env:NAME,
	// file:PATH). Nil takes the value as the secret itself.
	Resolve func(key string) (core.Secret, error)
}

// Setting describes one setting of a backend, from its struct tags.
type Setting struct {
	// Key is the setting's name in [cache.<backend>].
	Key                             string
	Path, Secret, Required, Project bool
	// Env names the variable that overrides the setting, if any.
	Env string
	// Excludes is the key of a setting that may not be set with it.
	Excludes string

	field int
	typ   reflect.Type
}

// Registered is a backend with its settings' types erased, for the
// generic code of the config loader and the host.
type Registered struct {
	Name     string
	settings []Setting
	open     func(ctx context.Context, in Input, o OpenOptions) (Opened, error)
}

// Settings lists the backend's settings in the struct's order.
func (r *Registered) Settings() []Setting { return slices.Clone(r.settings) }

// Setting returns the setting named key.
func (r *Registered) Setting(key string) (Setting, bool) {
	for _, s := range r.settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Keys lists the settings' keys.
func (r *Registered) Keys() []string {
	keys := make([]string, len(r.settings))
	for i, s := range r.settings {
		keys[i] = s.Key
	}
	return keys
}

// Open decodes in into the backend's settings and opens the store.
// Decoding errors are *SettingError.
func (r *Registered) Open(ctx context.Context, in Input, o OpenOptions) (Opened, error) {
	in.Backend = r.Name
	return r.open(ctx, in, o)
}

var registry struct {
	mu       sync.RWMutex
	backends map[string]*Registered
}

// Register adds a backend. It panics on a name already registered or a
// settings struct it cannot decode into: both are programming errors
// that every test of the program would hit at init.
func Register[S any](b Backend[S]) {
	settings, err := settingsOf(reflect.TypeFor[S]())
	if err != nil {
		panic(fmt.Sprintf("store: backend %q: %v", b.Name, err))
	}
	if b.Name == "" || b.Name != strings.ToLower(b.Name) || strings.ContainsAny(b.Name, ". \t") || b.Open == nil {
		panic(fmt.Sprintf("store: backend %q: needs a lower-case name without dots and an Open", b.Name))
	}
	r := &Registered{Name: b.Name, settings: settings}
	r.open = func(ctx context.Context, in Input, o OpenOptions) (Opened, error) {
		s, err := decode[S](settings, in)
		if err != nil {
			return Opened{}, err
		}
		return b.Open(ctx, s, o)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.backends[b.Name]; dup {
		panic(fmt.Sprintf("store: backend %q registered twice", b.Name))
	}
	if registry.backends == nil {
		registry.backends = map[string]*Registered{}
	}
	registry.backends[b.Name] = r
}

// Lookup returns the backend registered as name.
func Lookup(name string) (*Registered, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	r, ok := registry.backends[name]
	return r, ok
}

// Names lists the registered backends, sorted.
func Names() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	names := make([]string, 0, len(registry.backends))
	for n := range registry.backends {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Decode decodes in into S, a backend's settings struct, as Open does:
// for a program that links one backend and opens it itself (the CLI's
// fast front reads the file store without the registry's other
// backends).
func Decode[S any](in Input) (S, error) {
	settings, err := settingsOf(reflect.TypeFor[S]())
	if err != nil {
		var zero S
		return zero, err
	}
	return decode[S](settings, in)
}

// SettingError is a setting a backend cannot open with: missing,
// contradicting another, or not decodable. It names the table and key
// and says what to do; never a secret's value.
type SettingError struct {
	// Origin is where the setting was written; "" if nowhere.
	Origin  string
	Backend string
	Key     string
	// Msg says what is wrong and what to do.
	Msg string
	// Err is the cause (a secret reference that did not resolve).
	Err error
}

func (e *SettingError) Error() string {
	var b strings.Builder
	if e.Origin != "" {
		b.WriteString(e.Origin + ": ")
	}
	fmt.Fprintf(&b, "cache.%s.%s: %s", e.Backend, e.Key, e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *SettingError) Unwrap() error { return e.Err }

var (
	secretType   = reflect.TypeFor[core.Secret]()
	durationType = reflect.TypeFor[time.Duration]()
)

// settingsOf reads the tags of a settings struct.
func settingsOf(t reflect.Type) ([]Setting, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("settings type %v is not a struct", t)
	}
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		s := Setting{Key: key, field: i, typ: f.Type}
		for _, opt := range strings.Split(f.Tag.Get("store"), ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(opt), "=")
			switch name {
			case "":
			case "path":
				s.Path = true
			case "secret":
				s.Secret = true
			case "required":
				s.Required = true
			case "project":
				s.Project = true
			case "env":
				s.Env = arg
			case "excludes":
				s.Excludes = arg
			default:
				return nil, fmt.Errorf("field %s: unknown store tag %q", f.Name, name)
			}
		}
		switch {
		case s.Secret != (f.Type == secretType):
			return nil, fmt.Errorf("field %s: a secret is a core.Secret, and a core.Secret is tagged secret", f.Name)
		case s.Project && (s.Secret || s.Path || s.Env != ""):
			// A project file comes with a cloned repository: what it
			// sets must reach neither a secret nor a file.
			return nil, fmt.Errorf("field %s: a project setting is no secret, path or environment override", f.Name)
		case s.Path && f.Type.Kind() != reflect.String:
			return nil, fmt.Errorf("field %s: a path is a string", f.Name)
		case f.Type != secretType && f.Type != durationType && !slices.Contains([]reflect.Kind{reflect.String, reflect.Bool, reflect.Int}, f.Type.Kind()):
			return nil, fmt.Errorf("field %s: type %v is not string, core.Secret, bool, int or time.Duration", f.Name, f.Type)
		}
		out = append(out, s)
	}
	for _, s := range out {
		if s.Excludes != "" && !slices.ContainsFunc(out, func(o Setting) bool { return o.Key == s.Excludes }) {
			return nil, fmt.Errorf("setting %s excludes %q, which is no setting", s.Key, s.Excludes)
		}
	}
	return out, nil
}

// decode fills an S from in, settings being S's.
func decode[S any](settings []Setting, in Input) (S, error) {
	var s S
	fail := func(st Setting, v Value, msg string, err error) (S, error) {
		var zero S
		return zero, &SettingError{Origin: v.Origin, Backend: in.Backend, Key: st.Key, Msg: msg, Err: err}
	}
	// Overrides from the environment first: they decide which of two
	// exclusive settings gives way.
	values := map[string]Value{}
	fromEnv := map[string]bool{}
	for _, st := range settings {
		if v, ok := in.Values[st.Key]; ok {
			values[st.Key] = v
		}
		if st.Env != "" && in.Getenv != nil {
			if e := in.Getenv(st.Env); e != "" {
				values[st.Key] = Value{Raw: e, Origin: "$" + st.Env}
				fromEnv[st.Key] = true
			}
		}
	}
	for _, st := range settings {
		if _, ok := values[st.Key]; !ok || st.Excludes == "" {
			continue
		}
		if _, both := values[st.Excludes]; both {
			if fromEnv[st.Excludes] && !fromEnv[st.Key] {
				delete(values, st.Key)
				continue
			}
			return fail(st, values[st.Key], fmt.Sprintf("set %s or %s, not both", st.Excludes, st.Key), nil)
		}
	}
	rv := reflect.ValueOf(&s).Elem()
	for _, st := range settings {
		v, ok := values[st.Key]
		if !ok {
			if st.Required {
				how := fmt.Sprintf("set it in [cache.%s]", in.Backend)
				if st.Env != "" {
					how += " or $" + st.Env
				}
				return fail(st, v, fmt.Sprintf("the %s backend needs %s: %s", in.Backend, st.Key, how), nil)
			}
			continue
		}
		fv := rv.Field(st.field)
		switch {
		case st.Secret:
			sec := core.NewSecret(v.Raw)
			if !fromEnv[st.Key] && in.Resolve != nil {
				var err error
				if sec, err = in.Resolve(st.Key); err != nil {
					return fail(st, Value{}, "cannot read the secret", err)
				}
			}
			fv.Set(reflect.ValueOf(sec))
		case st.typ == durationType:
			d, err := time.ParseDuration(v.Raw)
			if err != nil || d < 0 {
				return fail(st, v, fmt.Sprintf("invalid duration %q: write a number and a unit, like \"5m\"", v.Raw), nil)
			}
			fv.SetInt(int64(d))
		case st.typ.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(v.Raw)
			if err != nil {
				return fail(st, v, fmt.Sprintf("invalid boolean %q: write true or false", v.Raw), nil)
			}
			fv.SetBool(b)
		case st.typ.Kind() == reflect.Int:
			n, err := strconv.Atoi(v.Raw)
			if err != nil {
				return fail(st, v, fmt.Sprintf("invalid number %q: write an integer", v.Raw), nil)
			}
			fv.SetInt(int64(n))
		case st.Path:
			fv.SetString(relative(v.Raw, in.Dir))
		default:
			fv.SetString(v.Raw)
		}
	}
	return s, nil
}

// relative makes p, a path a config file in dir wrote, usable from
// anywhere: a leading ~ is the home directory, and a relative path is
// relative to dir.
func relative(p, dir string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/' || rest[0] == '\\') {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
		return p
	}
	if p == "" || dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
