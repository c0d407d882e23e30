package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const profileHead = "authority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"devicecode\"]\n"

func TestMatchParse(t *testing.T) {
	o := func(line, col int) Origin { return Origin{File: "m.toml", Line: line, Col: col} }
	doc := "[profiles.p]\n" + profileHead + `[profiles.p.match]
env = { CI = "true", RUNNER = "x" }
env_set = ["GITHUB_ACTIONS"]
file = "/etc/ci-marker"
kubernetes = false
tty = true
os = ["linux", "darwin"]
`
	f, err := Parse("m.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	m := f.Profiles["p"].Match
	want := []Rule{
		{Kind: RuleEnv, Name: "CI", Value: "true", Origin: o(6, 9)},
		{Kind: RuleEnv, Name: "RUNNER", Value: "x", Origin: o(6, 22)},
		{Kind: RuleEnvSet, Name: "GITHUB_ACTIONS", Origin: o(7, 12)},
		{Kind: RuleFile, Name: "/etc/ci-marker", Origin: o(8, 1)},
		{Kind: RuleKubernetes, Want: false, Origin: o(9, 1)},
		{Kind: RuleTTY, Want: true, Origin: o(10, 1)},
		{Kind: RuleOS, Values: []string{"linux", "darwin"}, Origin: o(11, 1)},
	}
	if m == nil || m.Origin != o(5, 1) || !reflect.DeepEqual(m.Rules, want) {
		t.Fatalf("match %+v", m)
	}
	if e := f.Profiles["p"].ErrorAt("match", "x"); e.Origin != o(5, 1) {
		t.Errorf("ErrorAt(match) at %v", e.Origin)
	}
}

func TestMatchParseErrors(t *testing.T) {
	const mt = "[profiles.p.match]\n"
	tests := []struct {
		name, body, want string
	}{
		{"empty table", mt + "", `m.toml:5:1: profiles.p.match: has no rules`},
		{"unknown key", mt + "evn = { CI = \"true\" }\n", `profiles.p.match.evn: unknown key; did you mean "env"?`},
		{"env not a table", mt + "env = \"CI\"\n", `profiles.p.match.env: expected a table of variables`},
		{"env value not a string", mt + "env = { CI = true }\n", `profiles.p.match.env.CI: expected a string`},
		{"env bad name", mt + "env = { \"A-B\" = \"x\" }\n", `"A-B" is not a variable name`},
		{"env_set bad type", mt + "env_set = 1\n", `profiles.p.match.env_set: expected a string or an array of strings`},
		{"env_set empty", mt + "env_set = []\n", `profiles.p.match.env_set: is empty`},
		{"env and env_set", mt + "env = { CI = \"true\" }\nenv_set = [\"CI\"]\n", `CI is also in env (at m.toml:6:9)`},
		{"env_set then env", mt + "env_set = [\"CI\"]\nenv = { CI = \"true\" }\n", `CI is also in env_set (at m.toml:6:12)`},
		{"env_set twice", mt + "env_set = [\"A\", \"A\"]\n", `A is listed twice`},
		{"kubernetes not bool", mt + "kubernetes = \"yes\"\n", `profiles.p.match.kubernetes: expected true or false, got a string`},
		{"tty not bool", mt + "tty = 1\n", `profiles.p.match.tty: expected true or false, got an integer`},
		{"os alias", mt + "os = \"macos\"\n", `"macos" is not a GOOS name; did you mean "darwin"?`},
		{"os typo", mt + "os = \"linx\"\n", `"linx" is not a GOOS name: use one of`},
		{"os twice", mt + "os = [\"linux\", \"linux\"]\n", `"linux" is listed twice`},
		{"file empty", mt + "file = \"\"\n", `profiles.p.match.file: an empty path`},
		{"match not a table", "match = \"ci\"\n", `m.toml:5:1: profiles.p.match: expected a table ([profiles.p.match]), got a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("m.toml", []byte("[profiles.p]\n"+profileHead+tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// fakeEnv is an Environment that looks at nothing on the machine.
func fakeEnv(vars map[string]string, files []string, tty bool, goos string) Environment {
	return Environment{
		Getenv: envMap(vars),
		Stat: func(name string) (fs.FileInfo, error) {
			if slices.Contains(files, name) {
				return nil, nil
			}
			return nil, fs.ErrNotExist
		},
		IsTTY: func() bool { return tty },
		GOOS:  goos,
	}
}

// chooseConfig is the docs/profiles.md example set: a laptop, CI and
// Kubernetes.
const chooseConfig = `[defaults]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"

[profiles.ci]
chain = ["clientcreds"]
[profiles.ci.match]
env = { CI = "true" }

[profiles.k8s]
chain = ["clientcreds"]
[profiles.k8s.match]
kubernetes = true

[profiles.mac]
chain = ["authcode"]
[profiles.mac.match]
os = "darwin"
tty = true
file = "marker"

[profiles.laptop]
chain = ["iwa", "authcode", "devicecode"]
`

func TestChoose(t *testing.T) {
	f, err := Parse("/etc/c.toml", []byte(chooseConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		flag   string
		env    Environment
		want   string
		reason string
		origin Origin
	}{
		{"flag wins over everything", "k8s", fakeEnv(map[string]string{"CI": "true", EnvProfile: "ci"}, nil, false, "linux"),
			"k8s", "named by --profile", Origin{Flag: "--profile"}},
		{"CREDHOST_PROFILE over rules", "", fakeEnv(map[string]string{"CI": "true", EnvProfile: "laptop"}, nil, false, "linux"),
			"laptop", "named by CREDHOST_PROFILE", Origin{Env: EnvProfile}},
		{"CI=true", "", fakeEnv(map[string]string{"CI": "true"}, nil, false, "linux"),
			"ci", `its match rules hold (at /etc/c.toml:7:1): env CI = "true"`, Origin{File: "/etc/c.toml", Line: 7, Col: 1}},
		{"CI must equal, not just be set", "", fakeEnv(map[string]string{"CI": "1"}, nil, false, "linux"),
			"laptop", "the only profile without match rules", Origin{}},
		{"pod by variable", "", fakeEnv(map[string]string{EnvKubernetesServiceHost: "10.0.0.1"}, nil, false, "linux"),
			"k8s", "its match rules hold (at /etc/c.toml:12:1): in a Kubernetes pod", Origin{File: "/etc/c.toml", Line: 12, Col: 1}},
		{"pod by service account dir", "", fakeEnv(nil, []string{KubernetesServiceAccount}, false, "linux"),
			"k8s", "in a Kubernetes pod", Origin{File: "/etc/c.toml", Line: 12, Col: 1}},
		{"first match in file order wins", "", fakeEnv(map[string]string{"CI": "true", EnvKubernetesServiceHost: "x"}, nil, false, "linux"),
			"ci", `env CI = "true"`, Origin{File: "/etc/c.toml", Line: 7, Col: 1}},
		{"all rules must hold: relative file next to the config", "", fakeEnv(nil, []string{"/etc/marker"}, true, "darwin"),
			"mac", "os is darwin; on a terminal; file marker exists", Origin{File: "/etc/c.toml", Line: 17, Col: 1}},
		{"one rule fails: no tty", "", fakeEnv(nil, []string{"/etc/marker"}, false, "darwin"),
			"laptop", "the only profile without match rules", Origin{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.Choose(tt.flag, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.want || !strings.Contains(c.Reason, tt.reason) || c.Origin != tt.origin {
				t.Fatalf("chose %+v, want %s because %q at %v", c, tt.want, tt.reason, tt.origin)
			}
			if (len(c.Rules) > 0) != (c.Origin.File != "") {
				t.Errorf("rules %v for a choice at %v", c.Rules, c.Origin)
			}
		})
	}
}

func TestChooseFails(t *testing.T) {
	onlyRules, err := Parse("c.toml", []byte("[defaults]\n"+profileHead+"[profiles.ci.match]\nenv = { CI = \"true\" }\n[profiles.k8s.match]\nkubernetes = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Parse("c.toml", []byte("[defaults]\n"+profileHead+"[profiles.a]\n[profiles.b]\n[profiles.default]\n"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := Parse("c.toml", []byte("[defaults]\n"+profileHead+"[profiles.a]\n[profiles.b]\n"))
	if err != nil {
		t.Fatal(err)
	}
	none := fakeEnv(map[string]string{"CI": "false"}, nil, false, "linux")
	if c, err := plain.Choose("", none); err != nil || c.Name != "default" || c.Reason != `named "default"` {
		t.Errorf("default: %+v, %v", c, err)
	}
	tests := []struct {
		name string
		f    *File
		flag string
		want []string
	}{
		{"no rule holds: each profile's failing rule", onlyRules, "", []string{
			"no profile's match rules hold", `ci: env CI is not "true" (rule at c.toml:6:9)`, "k8s: not in a Kubernetes pod", "--profile or CREDHOST_PROFILE"}},
		{"several plain profiles", two, "", []string{"several profiles (a, b): choose one with --profile or CREDHOST_PROFILE"}},
		{"unknown name", two, "c", []string{`no such profile "c"`}},
		{"no profiles", &File{Path: "x.toml"}, "", []string{"x.toml defines no profiles"}},
	}
	for _, tt := range tests {
		_, err := tt.f.Choose(tt.flag, none)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, w)
			}
		}
	}
	// The variable CI holds is never echoed: a rule may test a secret.
	_, err = onlyRules.Choose("", fakeEnv(map[string]string{"CI": canary}, nil, false, "linux"))
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("err = %v", err)
	}
}

func TestRuleFilePath(t *testing.T) {
	home := t.TempDir()
	env := fakeEnv(map[string]string{"HOME": home}, nil, false, "linux")
	tests := []struct {
		rule Rule
		want string
	}{
		{Rule{Kind: RuleFile, Name: "/abs", Origin: Origin{File: "/etc/credhost/config.toml", Line: 1}}, "/abs"},
		{Rule{Kind: RuleFile, Name: "rel", Origin: Origin{File: "/etc/credhost/config.toml", Line: 1}}, "/etc/credhost/rel"},
		{Rule{Kind: RuleFile, Name: "~/x", Origin: Origin{File: "/etc/credhost/config.toml", Line: 1}}, filepath.Join(home, "x")},
		{Rule{Kind: RuleFile, Name: "rel", Origin: Origin{Flag: "--set"}}, "rel"},
	}
	for _, tt := range tests {
		if got := tt.rule.path(env); got != tt.want {
			t.Errorf("%+v: path %q, want %q", tt.rule, got, tt.want)
		}
	}
}

// TestChooseRefusedIsAnError: a profile whose rules hold but that the
// policy refuses is an error, never a silent switch to another profile.
func TestChooseRefusedIsAnError(t *testing.T) {
	l := newLayout(t, "[policy]\ndeny_flows = [\"clientcreds\"]\n", chooseConfig, "")
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Choose("", fakeEnv(map[string]string{"CI": "true"}, nil, false, "linux"))
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), l.system+":2:1") {
		t.Fatalf("err = %v", err)
	}
}
