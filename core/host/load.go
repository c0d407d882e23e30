package host

import (
	"os"

	"github.com/mattn/go-isatty"

	"github.com/credhost/credhost/core/config"
)

// DefaultConfigPath is $CREDHOST_CONFIG, else credhost/config.toml in the
// user's config directory ($XDG_CONFIG_HOME, ~/.config, ~/Library/...).
func DefaultConfigPath(getenv func(string) string) string {
	return config.DefaultUserPath(config.Env(getenv))
}

// LoadConfig loads every configuration layer (config.LoadLayers): the
// system file, the user file at path (DefaultConfigPath if empty; a path
// given here or by $CREDHOST_CONFIG must exist), the project file found
// from the working directory up, and the AZURE_* overrides. When no
// layer defines a profile, the config holds the single profile "env":
// azidentity's DefaultAzureCredential as a chain (config.DefaultProfile). Profiles the system policy refuses stay listed,
// but File.Profile (and so Host) refuses them.
func LoadConfig(path string, getenv func(string) string) (*config.File, error) {
	return config.LoadLayers(&config.LoadOptions{UserPath: path, Getenv: config.Env(getenv)})
}

// SelectProfile picks the profile to use: name if set, else
// $CREDHOST_PROFILE, else the first profile whose match rules hold, else
// the only profile, else one named "default". It is ChooseProfile
// without the reason.
func SelectProfile(f *config.File, name string, getenv func(string) string) (string, error) {
	c, err := ChooseProfile(f, name, DefaultEnvironment(getenv))
	return c.Name, err
}

// ChooseProfile is File.Choose: the profile to use and why (which flag,
// variable or match rule chose it). A refused profile is an error
// wrapping config.ErrPolicy.
func ChooseProfile(f *config.File, name string, env config.Environment) (config.Choice, error) {
	return f.Choose(name, env)
}

// DefaultEnvironment is what match rules test on this machine: getenv
// (nil: os.Getenv), os.Stat, runtime.GOOS, and a terminal on stdin or
// stderr, which are where a person would answer a prompt and read it.
func DefaultEnvironment(getenv func(string) string) config.Environment {
	return config.Environment{
		Getenv: config.Env(getenv),
		Stat:   os.Stat,
		IsTTY: func() bool {
			return isatty.IsTerminal(os.Stdin.Fd()) || isatty.IsTerminal(os.Stderr.Fd())
		},
	}
}
