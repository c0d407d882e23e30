package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Match is a profile's [profiles.<name>.match] table: rules about the
// machine that must all hold for File.Choose to pick the profile when
// none is named. A higher layer's match table replaces a lower one's as a
// whole: the rules are one condition, and merging half of two conditions
// would make a third that nobody wrote.
type Match struct {
	// Origin is the position of the table's header.
	Origin Origin
	// Rules are the rules in the order the file writes them; never empty.
	Rules []Rule
}

// RuleKind is what a match rule tests.
type RuleKind uint8

// Rule kinds, one per key of a match table.
const (
	// RuleEnv: variable Name equals Value (env = { NAME = "value" }).
	RuleEnv RuleKind = iota + 1
	// RuleEnvSet: variable Name is set and not empty (env_set = ["NAME"]).
	RuleEnvSet
	// RuleFile: path Name exists (file = ["/path"]); a relative path is
	// relative to the file that wrote the rule.
	RuleFile
	// RuleKubernetes: running in a Kubernetes pod, or not if Want is
	// false (kubernetes = true).
	RuleKubernetes
	// RuleTTY: a terminal is attached, or not if Want is false (tty = true).
	RuleTTY
	// RuleOS: runtime.GOOS is one of Values (os = ["linux", "darwin"]).
	RuleOS
)

// Rule is one match rule.
type Rule struct {
	Kind RuleKind
	// Name is the variable (RuleEnv, RuleEnvSet) or the path (RuleFile).
	Name string
	// Value is the value RuleEnv wants.
	Value string
	// Values are the operating systems RuleOS accepts.
	Values []string
	// Want is what RuleKubernetes and RuleTTY require: true for present.
	Want bool
	// Origin is where the rule is written.
	Origin Origin
}

// Match table keys.
const (
	matchEnv        = "env"
	matchEnvSet     = "env_set"
	matchFile       = "file"
	matchKubernetes = "kubernetes"
	matchTTY        = "tty"
	matchOS         = "os"
)

var matchKeys = []string{matchEnv, matchEnvSet, matchFile, matchKubernetes, matchTTY, matchOS}

// knownGOOS are the runtime.GOOS values an os rule may name: a typo
// ("macos", "win") would otherwise be a rule that silently never holds.
var knownGOOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}

// goosAliases maps names people write to the GOOS they mean.
var goosAliases = map[string]string{"macos": "darwin", "osx": "darwin", "mac": "darwin", "win": "windows", "win32": "windows"}

// Kubernetes signals: the variable every pod gets, and the directory the
// service account token is mounted in.
const (
	EnvKubernetesServiceHost = "KUBERNETES_SERVICE_HOST"
	KubernetesServiceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// String describes the rule as `config show` prints it: env CI = "true",
// env GITHUB_ACTIONS is set, file /x exists, in a Kubernetes pod, on a
// terminal, os is linux.
func (r Rule) String() string {
	switch r.Kind {
	case RuleEnv:
		return fmt.Sprintf("env %s = %q", r.Name, r.Value)
	case RuleEnvSet:
		return "env " + r.Name + " is set"
	case RuleFile:
		return "file " + r.Name + " exists"
	case RuleKubernetes:
		if r.Want {
			return "in a Kubernetes pod"
		}
		return "not in a Kubernetes pod"
	case RuleTTY:
		if r.Want {
			return "on a terminal"
		}
		return "not on a terminal"
	case RuleOS:
		if len(r.Values) == 1 {
			return "os is " + r.Values[0]
		}
		return "os is one of " + strings.Join(r.Values, ", ")
	}
	return "unknown rule"
}

// Environment is what match rules look at. Every field may be nil or
// empty: Getenv means os.Getenv, Stat os.Stat, GOOS runtime.GOOS, and a
// nil IsTTY means no terminal (so a tty = true rule never holds where
// nobody said how to tell). Tests set all four, so that the machine they
// run on does not matter.
type Environment struct {
	Getenv Env
	Stat   func(name string) (fs.FileInfo, error)
	IsTTY  func() bool
	GOOS   string
}

func (e Environment) stat(name string) error {
	if e.Stat == nil {
		_, err := os.Stat(name)
		return err
	}
	_, err := e.Stat(name)
	return err
}

func (e Environment) goos() string {
	if e.GOOS == "" {
		return runtime.GOOS
	}
	return e.GOOS
}

// InKubernetes reports whether the process runs in a Kubernetes pod:
// KUBERNETES_SERVICE_HOST is set, or the service account directory exists.
func (e Environment) InKubernetes() bool {
	return e.Getenv.get(EnvKubernetesServiceHost) != "" || e.stat(KubernetesServiceAccount) == nil
}

// Holds reports whether every rule holds in env; if not, it returns the
// first rule that does not, and why, as `config show` and selection
// errors say it.
func (m *Match) Holds(env Environment) (ok bool, failed Rule, why string) {
	for _, r := range m.Rules {
		if why := r.fails(env); why != "" {
			return false, r, why
		}
	}
	return true, Rule{}, ""
}

// fails returns why the rule does not hold, or "". Values of variables
// are not echoed: a rule may test a variable that holds a secret.
func (r Rule) fails(env Environment) string {
	switch r.Kind {
	case RuleEnv:
		switch v := env.Getenv.get(r.Name); {
		case v == "":
			return "env " + r.Name + " is not set"
		case v != r.Value:
			return fmt.Sprintf("env %s is not %q", r.Name, r.Value)
		}
	case RuleEnvSet:
		if env.Getenv.get(r.Name) == "" {
			return "env " + r.Name + " is not set"
		}
	case RuleFile:
		if err := env.stat(r.path(env)); err != nil {
			return "file " + r.path(env) + " does not exist"
		}
	case RuleKubernetes:
		if in := env.InKubernetes(); in != r.Want {
			if in {
				return "in a Kubernetes pod"
			}
			return "not in a Kubernetes pod (" + EnvKubernetesServiceHost + " unset, no " + KubernetesServiceAccount + ")"
		}
	case RuleTTY:
		if tty := env.IsTTY != nil && env.IsTTY(); tty != r.Want {
			if tty {
				return "on a terminal"
			}
			return "no terminal"
		}
	case RuleOS:
		if g := env.goos(); !slices.Contains(r.Values, g) {
			return "os is " + g
		}
	default:
		return "unknown rule"
	}
	return ""
}

// path returns a file rule's path: ~ is $HOME, and a relative path is
// relative to the directory of the file that wrote the rule, like every
// other path in a config file.
func (r Rule) path(env Environment) string {
	p := r.Name
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home := env.Getenv.get("HOME"); home != "" {
			p = filepath.Join(home, p[1:])
		}
	}
	if !filepath.IsAbs(p) && r.Origin.File != "" && r.Origin.Flag == "" {
		p = filepath.Join(filepath.Dir(r.Origin.File), p)
	}
	return p
}

// match decodes [profiles.<name>.match].
func (d *decoder) match(path []string, n *node) *Match {
	if !d.isTable(n, path, fmt.Sprintf("[%s]", dotted(path...))) {
		return nil
	}
	m := &Match{Origin: n.pos}
	c := checker{probs: d.probs, table: path}
	// Where each variable is tested, to refuse a variable both in env
	// and in env_set (the second rule says less than the first, so one
	// of them is a mistake).
	envNames, setNames := map[string]Origin{}, map[string]Origin{}
	for _, k := range n.keys {
		v := n.fields[k]
		switch k {
		case matchEnv:
			if v.kind != kTable {
				d.probs.add(v.pos, c.key(k), `expected a table of variables and the values they must equal, like env = { CI = "true" }, got %s; to only require a variable set, use env_set = ["NAME"]`, v.kind)
				continue
			}
			if len(v.keys) == 0 {
				d.probs.add(v.pos, c.key(k), "is empty: name at least one variable, or remove the key")
			}
			for _, name := range v.keys {
				val := v.fields[name]
				key := dotted(append(path, k, name)...)
				if !validEnvName(name) {
					d.probs.add(val.pos, key, "%q is not a variable name: use letters, digits and '_'", name)
					continue
				}
				if val.kind != kString {
					d.probs.add(val.pos, key, `expected a string (the value %s must equal, like "true"), got %s`, name, val.kind)
					continue
				}
				if o := setNames[name]; !o.IsZero() {
					d.probs.add(val.pos, key, "%s is also in env_set (at %s): a variable that must equal a value is set; keep one rule", name, o)
					continue
				}
				envNames[name] = val.pos
				m.Rules = append(m.Rules, Rule{Kind: RuleEnv, Name: name, Value: val.text, Origin: val.pos})
			}
		case matchEnvSet:
			names, pos := c.strings(k, v, "variable names")
			for i, name := range names {
				switch {
				case !validEnvName(name):
					d.probs.add(pos[i], c.key(k), "%q is not a variable name: use letters, digits and '_'", name)
				case !envNames[name].IsZero():
					d.probs.add(pos[i], c.key(k), "%s is also in env (at %s): a variable that must equal a value is set; keep one rule", name, envNames[name])
				case !setNames[name].IsZero():
					d.probs.add(pos[i], c.key(k), "%s is listed twice: list each once", name)
				default:
					setNames[name] = pos[i]
					m.Rules = append(m.Rules, Rule{Kind: RuleEnvSet, Name: name, Origin: pos[i]})
				}
			}
		case matchFile:
			paths, pos := c.strings(k, v, "paths")
			for i, p := range paths {
				if p == "" {
					d.probs.add(pos[i], c.key(k), "an empty path: name a file or directory")
					continue
				}
				m.Rules = append(m.Rules, Rule{Kind: RuleFile, Name: p, Origin: pos[i]})
			}
		case matchKubernetes, matchTTY:
			if v.kind != kBool {
				d.probs.add(v.pos, c.key(k), "expected true or false, got %s", v.kind)
				continue
			}
			kind := RuleKubernetes
			if k == matchTTY {
				kind = RuleTTY
			}
			m.Rules = append(m.Rules, Rule{Kind: kind, Want: v.text == "true", Origin: v.pos})
		case matchOS:
			list, pos := c.strings(k, v, "operating systems as runtime.GOOS names them")
			r := Rule{Kind: RuleOS, Origin: v.pos}
			for i, g := range list {
				switch {
				case slices.Contains(r.Values, g):
					d.probs.add(pos[i], c.key(k), "%q is listed twice: list each once", g)
				case slices.Contains(knownGOOS, g):
					r.Values = append(r.Values, g)
				case goosAliases[strings.ToLower(g)] != "":
					d.probs.add(pos[i], c.key(k), "%q is not a GOOS name; did you mean %q?", g, goosAliases[strings.ToLower(g)])
				default:
					d.probs.add(pos[i], c.key(k), "%q is not a GOOS name: use one of %s%s", g, strings.Join(knownGOOS, ", "), didYouMean(g, knownGOOS))
				}
			}
			if len(r.Values) > 0 {
				m.Rules = append(m.Rules, r)
			}
		default:
			d.unknown(v, append(path, k), matchKeys, "a match table takes "+strings.Join(matchKeys, ", "))
		}
	}
	if len(n.keys) == 0 {
		// An empty table would hold everywhere and always win: surely
		// not what was meant.
		d.probs.add(n.pos, dotted(path...), "has no rules: add %s, or remove the table", strings.Join(matchKeys, ", "))
	}
	return m
}

// strings reads a string or an array of strings (a lone string is a list
// of one), reporting anything else and an empty array; it returns each
// string's origin too.
func (c *checker) strings(k string, v *node, what string) ([]string, []Origin) {
	switch v.kind {
	case kString:
		return []string{v.text}, []Origin{v.pos}
	case kArray:
		if len(v.items) == 0 {
			c.probs.add(v.pos, c.key(k), "is empty: list at least one, or remove the key")
		}
		var out []string
		var pos []Origin
		for _, it := range v.items {
			if it.kind != kString {
				c.probs.add(it.pos, c.key(k), "expected %s in quotes, but an element is %s", what, it.kind)
				continue
			}
			out = append(out, it.text)
			pos = append(pos, it.pos)
		}
		return out, pos
	}
	c.probs.add(v.pos, c.key(k), "expected a string or an array of strings (%s), got %s", what, v.kind)
	return nil, nil
}
