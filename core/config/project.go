package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/credhost/credhost/core/store"
)

// A project file (.credhost.toml) is found by walking up from the
// working directory, so it may come with a repository someone cloned.
// It is untrusted input twice over:
//
//   - it is read only from a directory the user trusts: one listed in
//     [projects] trusted of the user (or system) file, as direnv's
//     `allow` and git's safe.directory ask (trustedProject);
//   - what it may say is an allow-list (filterProject): it may add
//     profiles of its own and, in them, only settings that can neither
//     reach a secret nor run code. Everything else is refused with the
//     file:line and the reason.
//
// And a profile only a project file defines never receives a secret from
// another layer: the AZURE_* credential variables are not applied to it
// (Profile.applyEnv), so the authority it names cannot be sent one.

// projectProfileKeys are the profile settings a project file may set in
// a profile it defines: where to sign in (authority, client_id: the
// profile is the project's own and holds no secret of the user's), how
// (chain, timeout, remember_winner) and when to choose it (match).
var projectProfileKeys = []string{keyAuthority, keyClientID, keyChain, keyTimeout, keyRememberWinner, keyMatch}

// projectFlowKeys are the flow settings a project file may set: they
// name a user or a port, and neither hold nor point at a secret or a
// command. A flow setting not listed (browser, *_command, any secret,
// any path) is refused, including the settings of third-party plugins:
// credhost cannot know what they do.
var projectFlowKeys = []string{"login_hint", "username", "redirect_port", "timeout"}

// projectWhy explains every refusal of a project file.
const projectWhy = "a project file (found by walking up from the working directory, so it may come with a cloned repository) "

// filterProject removes from root, a project file's tree, every key the
// project allow-list does not hold, reporting each. lower holds the
// profiles the system and user files define: a project file may not
// change them. What remains decodes as an ordinary file.
func filterProject(root *node, lower map[string]*Profile, probs *problems) {
	keep := root.keys[:0:0]
	for _, k := range root.keys {
		n := root.fields[k]
		switch {
		case k == keyPolicy:
			// The decoder refuses it in every layer but the system's.
		case k == "profiles" && n.kind == kTable:
			filterProjectProfiles(n, lower, probs)
		case k == "cache" && n.kind == kTable:
			if !filterProjectCache(n, probs) {
				delete(root.fields, k)
				continue
			}
		default:
			refuseAll(n, []string{k}, projectTopWhy(k), probs)
			delete(root.fields, k)
			continue
		}
		keep = append(keep, k)
	}
	root.keys = keep
}

// refuseAll reports every key under n (n itself if it is a value or an
// empty table), so that each refusal names the key it refuses.
func refuseAll(n *node, path []string, why string, probs *problems) {
	if n.kind != kTable || len(n.keys) == 0 {
		probs.add(n.pos, dotted(path...), "%s", why)
		return
	}
	for _, k := range n.keys {
		refuseAll(n.fields[k], append(path[:len(path):len(path)], k), why, probs)
	}
}

func projectTopWhy(k string) string {
	switch k {
	case "defaults":
		return projectWhy + "cannot set [defaults]: they apply to your own profiles too; set the values in the project's [profiles.<name>] instead"
	case "plugins":
		return projectWhy + "cannot set [plugins] (dir, pins): they choose which code runs; put them in your user config"
	case "cache":
		return projectWhy + "cannot set [cache] (but for the settings a backend marks project): it says where your tokens and their key are; put it in your user config"
	case "projects":
		return projectWhy + "cannot set [projects]: only your user file says which projects you trust"
	}
	return projectWhy + "may only define [profiles.<name>] tables"
}

// filterProjectCache keeps of [cache] the backend settings whose backend
// tags them project (store:"project"): they neither say where tokens go
// nor hold a key. Everything else, the backend's name included, is
// refused. It reports whether anything is left.
func filterProjectCache(cache *node, probs *problems) bool {
	keep := cache.keys[:0:0]
	for _, k := range cache.keys {
		n := cache.fields[k]
		b, ok := store.Lookup(k)
		if !ok || n.kind != kTable {
			refuseAll(n, []string{"cache", k}, projectTopWhy("cache"), probs)
			delete(cache.fields, k)
			continue
		}
		kept := n.keys[:0:0]
		for _, sk := range n.keys {
			if s, ok := b.Setting(sk); ok && s.Project {
				kept = append(kept, sk)
				continue
			}
			refuseAll(n.fields[sk], []string{"cache", k, sk}, projectTopWhy("cache"), probs)
			delete(n.fields, sk)
		}
		n.keys = kept
		if len(kept) == 0 {
			delete(cache.fields, k)
			continue
		}
		keep = append(keep, k)
	}
	cache.keys = keep
	return len(keep) > 0
}

func filterProjectProfiles(profiles *node, lower map[string]*Profile, probs *problems) {
	keep := profiles.keys[:0:0]
	for _, name := range profiles.keys {
		pn := profiles.fields[name]
		if p, ok := lower[name]; ok {
			refuseAll(pn, []string{"profiles", name}, fmt.Sprintf("%scannot change profile %q, which %s defines: it could send your secrets to an authority of its choosing, or run code as you; give the project's profile a name of its own", projectWhy, name, definedAt(p)), probs)
			delete(profiles.fields, name)
			continue
		}
		keep = append(keep, name)
		if pn.kind != kTable {
			continue // the decoder reports it
		}
		filterProjectProfile(name, pn, probs)
	}
	profiles.keys = keep
}

func filterProjectProfile(name string, pn *node, probs *problems) {
	keep := pn.keys[:0:0]
	for _, k := range pn.keys {
		v := pn.fields[k]
		path := []string{"profiles", name, k}
		switch {
		case slices.Contains(projectProfileKeys, k):
		case k == keyCAFile:
			probs.add(v.pos, dotted(path...), "%scannot set ca_file: a certificate authority it brings could impersonate any IdP; put it in your user config", projectWhy)
			delete(pn.fields, k)
			continue
		case v.kind == kTable:
			filterProjectFlow(path, v, probs)
		}
		// Anything else is no key at all: the decoder reports it.
		keep = append(keep, k)
	}
	pn.keys = keep
}

func filterProjectFlow(path []string, flow *node, probs *problems) {
	keep := flow.keys[:0:0]
	for _, k := range flow.keys {
		v := flow.fields[k]
		key := dotted(append(path, k)...)
		switch {
		case !slices.Contains(projectFlowKeys, k):
			probs.add(v.pos, key, "%s%s; in a flow section it may set only %s; put %s in your user config", projectWhy, projectFlowWhy(k), strings.Join(projectFlowKeys, ", "), k)
		case v.kind == kString && (strings.HasPrefix(v.text, "env:") || strings.HasPrefix(v.text, "file:")):
			probs.add(v.pos, key, "%scannot reference the environment or files (env:, file:): it could send them to the authority it names; write the value, or set %s in your user config", projectWhy, k)
		default:
			keep = append(keep, k)
			continue
		}
		delete(flow.fields, k)
	}
	flow.keys = keep
}

// projectFlowWhy says why a flow setting is refused.
func projectFlowWhy(k string) string {
	switch {
	case k == "browser" || strings.HasSuffix(k, "_command"):
		return "cannot set a command (" + k + "): it would run as you"
	case strings.HasSuffix(k, "_file") || k == "certificate":
		return "cannot name a file (" + k + "): its content could be sent to the authority it names"
	case strings.Contains(k, "secret") || strings.Contains(k, "password") || strings.Contains(k, "assertion"):
		return "cannot hold credentials (" + k + "): a secret in a repository is no secret, and one of yours would go to the authority it names"
	}
	return "cannot set " + k + ": it is not on the list of settings that reach no secret and run no code"
}

// definedAt names the file that defines p, for messages.
func definedAt(p *Profile) string {
	if s := p.Origin.String(); s != "" {
		return s
	}
	return "another layer"
}

// Projects is the [projects] table of the system and user files.
type Projects struct {
	// Trusted lists the directories whose .credhost.toml is read, as
	// written (absolute, or starting with ~/); "*" trusts every
	// directory. The layers' lists add up.
	Trusted []Value
}

// projects reads [projects] trusted = ["dir", ...].
func (d *decoder) projects(n *node) Projects {
	var pr Projects
	for _, k := range n.keys {
		v := n.fields[k]
		path := []string{"projects", k}
		if k != "trusted" {
			d.unknown(v, path, []string{"trusted"}, "[projects] takes trusted")
			continue
		}
		if v.kind != kArray {
			d.probs.add(v.pos, dotted(path...), "expected an array of directories, got %s", v.kind)
			continue
		}
		for _, it := range v.items {
			switch {
			case it.kind != kString:
				d.probs.add(it.pos, dotted(path...), "expected an array of directories, but an element is %s: quote it", it.kind)
			case it.text != "*" && !filepath.IsAbs(it.text) && !strings.HasPrefix(it.text, "~/") && it.text != "~":
				d.probs.add(it.pos, dotted(path...), "%q is not an absolute directory: write it in full (or starting with ~/), as the working directory a project is found from may be anywhere", it.text)
			default:
				pr.Trusted = append(pr.Trusted, Value{Raw: it.text, Origin: it.pos})
			}
		}
	}
	return pr
}

// trustedProject reports whether the project file at path is in a
// directory the trusted list names (the same directory, through
// symlinks; not a subdirectory: a project is trusted one by one).
func trustedProject(path string, trusted []Value, home string) bool {
	dir := filepath.Dir(path)
	for _, t := range trusted {
		d := t.Raw
		if d == "*" {
			return true
		}
		if rest, ok := strings.CutPrefix(d, "~"); ok {
			if home == "" {
				continue
			}
			d = filepath.Join(home, rest)
		}
		if sameFile(d, dir) {
			return true
		}
	}
	return false
}

// untrustedHint tells how to trust a project file that was not read.
func untrustedHint(path string) string {
	return "the project file " + path + " was not read: its directory is not trusted; if you trust it, add " +
		`[projects] trusted = ["` + filepath.Dir(path) + `"] to your user config (` + "`credhost config trust " + filepath.Dir(path) + "` does it)"
}

// TrustProject adds dir (made absolute) to [projects] trusted in the
// config file at path, creating the file (mode 0600) if it does not
// exist; a directory already trusted is left alone. It appends a
// [projects] table and never rewrites what the file holds: if the file
// has one already, it returns an error saying where to add the line.
func TrustProject(path, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("config: trust %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("config: trust %s: not a directory", dir)
	}
	if strings.ContainsAny(dir, "'\n\r") || strings.ContainsFunc(dir, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("config: trust %q: the path holds a quote or a control character; add it to [projects] trusted by hand", dir)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config: %w", err)
	}
	probs := &problems{}
	if root := parseTree(path, data, probs); root != nil {
		if n, ok := root.fields[keyProjects]; ok {
			d := &decoder{probs: probs, layer: LayerUser}
			if n.kind == kTable {
				for _, t := range d.projects(n).Trusted {
					if t.Raw == dir || t.Raw == "*" || trustedProject(filepath.Join(dir, ProjectFileName), []Value{t}, "") {
						return nil
					}
				}
			}
			return fmt.Errorf("config: %s: [projects] is there already: add %q to its trusted list", n.pos, dir)
		}
	}
	if err := probs.err(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	line := "[projects]\n# The directories whose .credhost.toml credhost reads (docs/security.md).\ntrusted = ['" + dir + "']\n"
	if len(data) > 0 {
		line = "\n" + line
		if data[len(data)-1] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return fmt.Errorf("config: %w", err)
	}
	return f.Close()
}
