// Package cliflags defines the flags the CLI and the fast front share:
// the global ones and those of `credhost token`. The front answers a
// token only for command lines the full CLI would parse the same way, so
// both must define these flags once, here. It links pflag and the config
// package's names, nothing of the host.
package cliflags

import (
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/config"
)

// Globals are the flags every verb accepts.
type Globals struct {
	Config    string
	Profile   string
	LogLevel  string
	LogFormat string
	PluginDir string
}

// Register defines the global flags on fs.
func (g *Globals) Register(fs *pflag.FlagSet) {
	fs.StringVar(&g.Config, "config", "", "config file (env "+config.EnvConfig+"; default: the user config file)")
	fs.StringVarP(&g.Profile, "profile", "p", "", "profile to use (env "+config.EnvProfile+")")
	fs.StringVar(&g.LogLevel, "log-level", "", "log level: trace, debug, info, warn, error (env "+config.EnvLogLevel+"; default warn)")
	fs.StringVar(&g.LogFormat, "log-format", "", "log format: auto, console, json (env "+config.EnvLogFormat+"; default auto: console on a terminal)")
	fs.StringVar(&g.PluginDir, "plugin-dir", "", "directory searched first for credhost-plugin-<flow> binaries (then $"+config.EnvPluginDir+", [plugins] dir, the install location, PATH)")
}

// FromEnv fills the flags not given from their environment variables.
func (g *Globals) FromEnv(getenv func(string) string) {
	for _, v := range []struct {
		dst *string
		env string
	}{{&g.Config, config.EnvConfig}, {&g.Profile, config.EnvProfile}, {&g.LogLevel, config.EnvLogLevel}, {&g.LogFormat, config.EnvLogFormat}} {
		if *v.dst == "" {
			*v.dst = getenv(v.env)
		}
	}
}

// Token are the flags of `credhost token`.
type Token struct {
	Scopes       []string
	Tenant       string
	Claims       string
	Output       string
	ForceRefresh bool
	NoPrompt     bool
}

// Register defines the token flags on fs.
func (t *Token) Register(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&t.Scopes, "scope", "s", nil, "scope to request (repeatable), e.g. https://graph.microsoft.com/.default")
	fs.StringVar(&t.Tenant, "tenant", "", "tenant to request the token from, overriding the profile's")
	fs.StringVar(&t.Claims, "claims", "", "claims challenge (JSON) from a resource")
	fs.StringVarP(&t.Output, "output", "o", "raw", "output: raw (the token), json, exec-credential (for kubectl), az (as az account get-access-token), or claims (the token's decoded payload, not the token)")
	fs.BoolVar(&t.ForceRefresh, "force-refresh", false, "skip every cache")
	fs.BoolVar(&t.NoPrompt, "no-prompt", false, "never prompt: flows that need the user are unavailable (also when "+config.EnvKubernetesExecInfo+" says kubectl is not interactive)")
}
