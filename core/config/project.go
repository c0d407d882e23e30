package config

import (
	"strings"
)

// A project file (.credhost.toml) is found by walking up from the
// working directory, so it may come with a repository someone cloned.
// Whatever it says runs with the user's identity and files, so it may
// choose and describe profiles but not make credhost run code, trust new
// certificate authorities, or read the user's secrets and files and send
// them to an authority the file names:
//
//   - no [plugins] dir (a plugin is code) and no [cache] (where tokens and
//     their key go);
//   - no ca_file (a new root lets the file's authority be impersonated);
//   - no flow setting ending in _command (client_assertion_command runs a
//     command) or _file (federated_token_file sends a file's content);
//   - no env: or file: references: a secret the project needs goes in
//     the user's own config or the environment, where the user put it.
//
// Pins are allowed: they only restrict what may run.
func checkProject(f *File, probs *problems) {
	why := "a project file (found by walking up from the working directory, so it may come with a cloned repository) cannot set it; put it in your user config"
	if f.Plugins.Dir.IsSet() {
		probs.add(f.Plugins.Dir.Origin, "plugins.dir", "%s", why)
	}
	for _, v := range []struct {
		key string
		val Value
	}{{"path", f.Cache.Path}, {"key_file", f.Cache.KeyFile}, {"key", f.Cache.Key}, {"passphrase", f.Cache.Passphrase},
		{"url", f.Cache.URL}, {"password", f.Cache.Password}, {"ca_file", f.Cache.CAFile}, {"prefix", f.Cache.Prefix}, {"backend", f.Cache.Backend}} {
		if v.val.IsSet() {
			probs.add(v.val.Origin, "cache."+v.key, "%s", why)
		}
	}
	for _, name := range f.Order {
		p := f.Profiles[name]
		if p.CAFile.IsSet() {
			probs.add(p.CAFile.Origin, "profiles."+name+".ca_file", "%s", why)
		}
		for flow, settings := range p.Flows {
			for k, v := range settings {
				key := "profiles." + name + "." + flow + "." + k
				switch {
				case strings.HasSuffix(k, "_command"), strings.HasSuffix(k, "_file"):
					probs.add(v.Origin, key, "%s", why)
				case strings.HasPrefix(v.Raw, "env:"), strings.HasPrefix(v.Raw, "file:"):
					probs.add(v.Origin, key, "a project file cannot reference the environment or files (env:, file:): it could send your secrets to the authority it names; set %s in your user config", k)
				}
			}
		}
	}
}
