package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/credhost/credhost/core/config"
)

// DefaultConfigPath is $CREDHOST_CONFIG, else credhost/config.toml in the
// user's config directory ($XDG_CONFIG_HOME, ~/.config, ~/Library/...).
func DefaultConfigPath(getenv func(string) string) string {
	if p := getenv(config.EnvConfig); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join(".credhost", "config.toml")
	}
	return filepath.Join(dir, "credhost", "config.toml")
}

// LoadConfig loads the config file at path (DefaultConfigPath if empty).
// When no file exists at the default path and the AZURE_* variables define
// an app (as azidentity's EnvironmentCredential reads them), it returns a
// config with the single profile "env". Every profile gets the environment
// overrides applied.
func LoadConfig(path string, getenv func(string) string) (*config.File, error) {
	explicit := path != "" || getenv(config.EnvConfig) != ""
	if path == "" {
		path = DefaultConfigPath(getenv)
	}
	f, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		if p, ok := config.FromEnv(config.Env(getenv)); ok {
			if err := p.Validate(); err != nil {
				return nil, err
			}
			return &config.File{Profiles: map[string]*config.Profile{p.Name: p}, Order: []string{p.Name}}, nil
		}
		return nil, fmt.Errorf("no config file at %s and no AZURE_TENANT_ID/AZURE_CLIENT_ID in the environment: create the file (see README: Configuration) or pass --config", path)
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range f.Order {
		if err := f.Profiles[name].ApplyEnv(config.Env(getenv)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// SelectProfile picks the profile to use: name if set, else
// $CREDHOST_PROFILE, else the only profile, else one named "default".
func SelectProfile(f *config.File, name string, getenv func(string) string) (string, error) {
	if name == "" {
		name = getenv(config.EnvProfile)
	}
	if name != "" {
		if _, err := f.Profile(name); err != nil {
			return "", err
		}
		return name, nil
	}
	names := f.Order
	switch {
	case len(names) == 1:
		return names[0], nil
	case slices.Contains(names, "default"):
		return "default", nil
	case len(names) == 0:
		return "", fmt.Errorf("%s defines no profiles: add a [profiles.<name>] table", f.Path)
	}
	return "", fmt.Errorf("several profiles (%s): choose one with --profile or %s", strings.Join(names, ", "), config.EnvProfile)
}
