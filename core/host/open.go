package host

import (
	"context"
	"errors"
	"os"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
)

// OpenOptions says what Open opens. Only one of Config and ConfigPath is
// used: Config when set.
type OpenOptions struct {
	// Config is a config already loaded or parsed (config.Parse of an
	// embedded string, say).
	Config *config.File
	// ConfigPath is the user config file LoadConfig loads with the other
	// layers; default DefaultConfigPath.
	ConfigPath string
	// Profile names the profile; "" picks one as SelectProfile does.
	Profile string
	// AnyProfile is for work on every profile (logout --all, cache info):
	// a profile is chosen only if Profile names one, and it must exist.
	AnyProfile bool
	// Getenv replaces os.Getenv for the config (env: references, AZURE_*
	// overrides, match rules) and plugin discovery.
	Getenv func(string) string
	// PluginDirs are searched first for plugin binaries (see PluginDirs).
	PluginDirs []string
	// UI shows prompts; nil means nobody is watching (see Options.UI).
	UI core.UI
	// Store replaces the store of the config's [cache] table. The
	// Session does not close it.
	Store core.Store
	// Log receives host, store and plugin logs.
	Log zerolog.Logger
}

// Session is what Open opened: the config, the chosen profile, the token
// store and a host over them. Close it when done.
type Session struct {
	File *config.File
	// Profile is the chosen profile; "" with AnyProfile when none was
	// named.
	Profile string
	// Store is the token store: the one OpenOptions.Store gave, or the
	// one the config asks for.
	Store *Store
	Host  *Host

	closeStore func() error
}

// ConfigError is what Open returns when the config cannot be loaded or
// names no usable profile: the user's input is wrong (the CLI's usage
// error), not the machine or the network.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Open is the one open sequence of the CLI and the sdk: load the config
// (unless given), choose the profile, open the token store, start a Host.
// ctx bounds opening the store (a Redis connection check). Config and
// profile problems come back as *ConfigError.
func Open(ctx context.Context, o *OpenOptions) (*Session, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	file := o.Config
	if file == nil {
		var err error
		if file, err = LoadConfig(o.ConfigPath, getenv); err != nil {
			return nil, &ConfigError{err}
		}
	}
	s := &Session{File: file, Profile: o.Profile}
	switch {
	case !o.AnyProfile:
		name, err := SelectProfile(file, o.Profile, getenv)
		if err != nil {
			return nil, &ConfigError{err}
		}
		s.Profile = name
	case o.Profile != "":
		if _, err := file.Profile(o.Profile); err != nil {
			return nil, &ConfigError{err}
		}
	}
	if o.Store != nil {
		s.Store, s.closeStore = &Store{Store: o.Store, Backend: "custom", Location: "given by the program"}, func() error { return nil }
	} else {
		st, err := OpenStore(ctx, file, getenv, o.Log)
		if err != nil {
			return nil, err
		}
		s.Store, s.closeStore = st, st.Close
	}
	s.Host = New(file, &Options{Log: o.Log, Getenv: getenv, PluginDirs: o.PluginDirs, UI: o.UI,
		Store: s.Store, MinLifetime: file.Cache.MinLifetime})
	return s, nil
}

// Credential is the chosen profile's credential (an error with
// AnyProfile when no profile was named).
func (s *Session) Credential() (core.Credential, error) {
	return s.Host.Credential(s.Profile)
}

// Close stops the plugins the host started, waits for them, and closes
// the store Open opened.
func (s *Session) Close() error {
	return errors.Join(s.Host.Close(), s.closeStore())
}
