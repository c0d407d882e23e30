// Package archtest holds the architecture's rules as tests: which way
// imports point, and what a plugin binary may link. It has no code of its
// own; it reads the module with `go list`.
package archtest

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/credhost/credhost"

// forbiddenInPlugins are what a plugin binary must not link: the host,
// the config loader, the token stores and their drivers. A plugin imports
// sdk, as a third party does; these belong to the embedder's side
// (sdk/client) and the CLI.
var forbiddenInPlugins = []string{
	module + "/core/host",
	module + "/core/config",
	module + "/core/store", // and everything under it
	"github.com/redis/go-redis",
	"github.com/pelletier/go-toml",
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// list runs go list -json on patterns from the module root.
func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, stderr)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }

// TestPluginsLinkNoHost: each in-tree plugin's binary (its package and
// every dependency, tests excluded) links none of forbiddenInPlugins.
func TestPluginsLinkNoHost(t *testing.T) {
	pkgs := list(t, "-deps=false", "./plugins/...")
	if len(pkgs) < 8 {
		t.Fatalf("go list found %d plugins, want the 8 in-tree ones at least", len(pkgs))
	}
	for _, p := range pkgs {
		for _, d := range append(p.Deps, p.ImportPath) {
			for _, f := range forbiddenInPlugins {
				if under(d, f) {
					t.Errorf("%s links %s (forbidden: a plugin links sdk, never the host, config loader or stores)", short(p.ImportPath), d)
				}
			}
		}
	}
}

// TestNoWrongWayImports: plugins import sdk (and internal/<concern>),
// never core, in their tests too (a plugin's tests are written as a third
// party's); no plugin's code imports sdk/webapp (the embedder's web
// helpers: authcode's tests play the web app with it, its code takes the
// code from TokenRequest.AuthorizationCode); core/host does not parse a
// flow's state through internal/msalcache.
func TestNoWrongWayImports(t *testing.T) {
	var problems []string
	for _, p := range list(t, "./...") {
		from := short(p.ImportPath)
		imports := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		for _, imp := range imports {
			to := short(imp)
			var why string
			switch {
			case under(from, "plugins") && under(imp, module+"/core"):
				why = "a plugin imports sdk, never core"
			case under(from, "plugins") && under(imp, module+"/sdk/webapp") && slices.Contains(p.Imports, imp):
				why = "a plugin does not import sdk/webapp"
			case from == "core/host" && imp == module+"/internal/msalcache":
				why = "the host does not parse a flow's MSAL cache"
			default:
				continue
			}
			problems = append(problems, fmt.Sprintf("%s -> %s: %s", from, to, why))
		}
	}
	slices.Sort(problems)
	for _, p := range slices.Compact(problems) {
		t.Error(p)
	}
}
