package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const showCanary = "hunter2-show-canary"

// showWorld is a system, user and project file in temp dirs, with the
// working directory inside the project.
type showWorld struct {
	dir, system, user, project string
	vars                       map[string]string
}

func newShowWorld(t *testing.T, system, user, project string) *showWorld {
	t.Helper()
	dir := t.TempDir()
	w := &showWorld{
		dir:     dir,
		system:  filepath.Join(dir, "etc", "config.toml"),
		user:    filepath.Join(dir, "home", ".config", "credhost", "config.toml"),
		project: filepath.Join(dir, "home", "src", "app", ".credhost.toml"),
	}
	// The user trusts the project (see config.Projects).
	user += "\n[projects]\ntrusted = [" + strconv.Quote(filepath.Dir(w.project)) + "]\n"
	for path, body := range map[string]string{w.system: system, w.user: user, w.project: project} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(dir, "home", "src", "app", "pkg")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	w.vars = map[string]string{
		"CREDHOST_SYSTEM_CONFIG": w.system,
		"HOME":                   filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME":        filepath.Join(dir, "home", ".config"),
	}
	return w
}

func (w *showWorld) run(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	vs := map[string]string{}
	for k, v := range w.vars {
		vs[k] = v
	}
	for k, v := range vars {
		vs[k] = v
	}
	var out, errb bytes.Buffer
	e := &env{getenv: func(k string) string { return vs[k] }, stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code = runEnv(context.Background(), e, args)
	return out.String(), errb.String(), code
}

const (
	showSystem = `[defaults]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
timeout = "45s"

[profiles.ci]
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["clientcreds"]
[profiles.ci.clientcreds]
client_secret = "sys-` + showCanary + `"

[cache]
key = "` + showCanary + `-key"

[policy]
deny_flows = ["ropc"]
`
	showUser = `[profiles.ci]
timeout = "1m"
[profiles.ci.match]
env = { CI = "true" }
[profiles.ci.clientcreds]
certificate_password = "user-` + showCanary + `"

[profiles.laptop]
client_id = "22222222-2222-4222-8222-222222222222"
chain = ["devicecode"]
[profiles.laptop.devicecode]
login_hint = "me@contoso.com"
client_assertion = ["` + showCanary + `"]

[profiles.legacy]
client_id = "33333333-3333-4333-8333-333333333333"
chain = ["ropc"]
`
	showProject = `[profiles.app]
client_id = "55555555-5555-4555-8555-555555555555"
chain = ["devicecode"]
[profiles.app.devicecode]
login_hint = "dev@contoso.com"
`
)

func TestConfigShowEffective(t *testing.T) {
	w := newShowWorld(t, showSystem, showUser, showProject)
	vars := map[string]string{"CI": "true", "AZURE_CLIENT_ID": "44444444-4444-4444-8444-444444444444"}
	text, stderr, code := w.run(t, vars, "config", "show", "--effective")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	js, stderr, code := w.run(t, vars, "config", "show", "--effective", "--output", "json")
	if code != exitOK {
		t.Fatalf("json: exit %d: %s", code, stderr)
	}
	for name, out := range map[string]string{"text": text, "json": js} {
		if strings.Contains(out, showCanary) {
			t.Errorf("%s output shows a secret:\n%s", name, out)
		}
	}
	var doc showReport
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, js)
	}
	settings := map[string]showSetting{}
	for _, s := range doc.Settings {
		settings[s.Key] = s
	}
	tests := []struct {
		key    string
		value  any
		origin string
	}{
		{"profiles.ci.authority", "https://login.microsoftonline.com/contoso.onmicrosoft.com", w.system + ":2:1"},
		{"profiles.ci.client_id", "44444444-4444-4444-8444-444444444444", "env AZURE_CLIENT_ID"},
		{"profiles.ci.timeout", "1m0s", w.user + ":2:1"},
		{"profiles.laptop.timeout", "45s", w.system + ":3:1"},
		{"profiles.ci.remember_winner", true, "default"},
		{"profiles.ci.match.env.CI", "true", w.user + ":4:9"},
		{"profiles.ci.clientcreds.client_secret", "[redacted]", w.system + ":9:1"},
		{"profiles.ci.clientcreds.certificate_password", "[redacted]", w.user + ":6:1"},
		{"profiles.app.devicecode.login_hint", "dev@contoso.com", w.project + ":5:1"},
		{"profiles.laptop.devicecode.login_hint", "me@contoso.com", w.user + ":12:1"},
		{"profiles.laptop.devicecode.client_assertion", "[redacted]", w.user + ":13:1"},
		// The flat [cache] key shows in its backend's table.
		{"cache.file.key", "[redacted]", w.system + ":12:1"},
		{"policy.deny_flows", []any{"ropc"}, w.system + ":15:1"},
	}
	for _, tt := range tests {
		s, ok := settings[tt.key]
		if !ok {
			t.Errorf("%s missing from the json", tt.key)
			continue
		}
		if !equalJSON(s.Value, tt.value) || s.Origin != tt.origin {
			t.Errorf("%s = %#v from %s, want %#v from %s", tt.key, s.Value, s.Origin, tt.value, tt.origin)
		}
		// The text form shows the same value and origin on one line.
		line := tt.key + " = "
		i := strings.Index(text, "\n"+line)
		if i < 0 {
			t.Errorf("text lacks %s", tt.key)
			continue
		}
		got, _, _ := strings.Cut(text[i+1:], "\n")
		if !strings.HasSuffix(got, "# "+tt.origin) {
			t.Errorf("text line %q does not end with its origin %s", got, tt.origin)
		}
	}
	if doc.Profile == nil || doc.Profile.Name != "ci" || !strings.Contains(doc.Profile.Reason, `match rules hold (at `+w.user+`:3:1): env CI = "true"`) {
		t.Errorf("profile %+v", doc.Profile)
	}
	if !strings.Contains(text, "# profile: ci (its match rules hold (at "+w.user+":3:1): env CI = \"true\")") {
		t.Errorf("text lacks the reason:\n%s", text)
	}
	kinds := []string{}
	for _, l := range doc.Layers {
		kinds = append(kinds, l.Kind)
	}
	if strings.Join(kinds, ",") != "system,user,project,env" {
		t.Errorf("layers %v", doc.Layers)
	}
	if len(doc.Refused) != 1 || doc.Refused[0].Profile != "legacy" || !strings.Contains(doc.Refused[0].Error, "policy.deny_flows at "+w.system+":15:1") {
		t.Errorf("refused %+v", doc.Refused)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestConfigShowSelection(t *testing.T) {
	w := newShowWorld(t, showSystem, showUser, showProject)
	tests := []struct {
		name string
		vars map[string]string
		args []string // after "config"
		code int
		want []string
		not  []string
	}{
		{"flag", nil, []string{"show", "--profile", "laptop", "--effective"}, exitOK,
			[]string{"# profile: laptop (named by --profile)", "profiles.laptop.client_id"}, []string{"profiles.ci.", "# refused"}},
		{"variable", map[string]string{"CREDHOST_PROFILE": "laptop"}, []string{"show"}, exitOK,
			[]string{"# profile: laptop (named by CREDHOST_PROFILE)"}, []string{"profiles.laptop.client_id"}},
		{"no rule holds, several plain profiles", nil, []string{"show"}, exitOK,
			[]string{"# profile: none chosen: several profiles", `ci: env CI is not set (rule at ` + w.user + `:4:9)`}, nil},
		{"a refused profile", nil, []string{"show", "--profile", "legacy"}, exitOK,
			[]string{"# profile: none chosen: config: profile \"legacy\" refused by the system policy", "policy.deny_flows at " + w.system + ":15:1"}, nil},
		{"unknown profile", nil, []string{"show", "--profile", "nope"}, exitUsage, []string{`no such profile "nope"`}, nil},
		{"bad output", nil, []string{"show", "--output", "yaml"}, exitUsage, []string{`--output "yaml": use text or json`}, nil},
		{"validate takes no show flags", nil, []string{"validate", "--effective"}, exitUsage, []string{"--effective and --output are for config show"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := w.run(t, tt.vars, append([]string{"config"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(out+stderr, want) {
					t.Errorf("output lacks %q:\n%s%s", want, out, stderr)
				}
			}
			for _, not := range tt.not {
				if strings.Contains(out, not) {
					t.Errorf("output has %q:\n%s", not, out)
				}
			}
		})
	}
}

// TestConfigPolicyErrors: a refused profile fails validate with the
// policy's file:line, and a [policy] in the user or project file fails
// every command that loads the config.
func TestConfigPolicyErrors(t *testing.T) {
	w := newShowWorld(t, showSystem, showUser, showProject)
	out, stderr, code := w.run(t, nil, "config", "validate", "--profile", "legacy")
	if code != exitUsage || !strings.Contains(out, "error: profile legacy:") || !strings.Contains(out, "profiles.legacy.chain: flow ropc is denied by the system policy (policy.deny_flows at "+w.system+":15:1)") {
		t.Errorf("validate: exit %d\n%s%s", code, out, stderr)
	}

	for _, layer := range []string{"user", "project"} {
		w := newShowWorld(t, showSystem, showUser, showProject)
		path := map[string]string{"user": w.user, "project": w.project}[layer]
		body, _ := os.ReadFile(path)
		if err := os.WriteFile(path, append(body, "\n[policy]\ndeny_flows = []\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		line := strings.Count(string(body), "\n") + 2
		for _, args := range [][]string{{"config", "show"}, {"config", "validate"}} {
			out, stderr, code := w.run(t, nil, args...)
			want := path + ":" + strconv.Itoa(line) + ":1: policy: [policy] is read only from the system file (" + w.system + ")"
			if code != exitUsage || !strings.Contains(stderr, want) {
				t.Errorf("%s layer, %v: exit %d, want %q in\n%s%s", layer, args, code, want, out, stderr)
			}
		}
	}
}
