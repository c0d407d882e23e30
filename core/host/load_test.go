package host

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/core/config"
)

// testEnv is a getenv over a map that points the system file at dir and
// home at dir, so that the machine's own files never leak in.
func testEnv(dir string, vars map[string]string) func(string) string {
	m := map[string]string{
		config.EnvSystemConfig: filepath.Join(dir, "system.toml"),
		"HOME":                 dir,
		"XDG_CONFIG_HOME":      filepath.Join(dir, "xdg"),
	}
	for k, v := range vars {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

const loadUser = `[profiles.ci]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["clientcreds"]
[profiles.ci.match]
env = { CI = "true" }

[profiles.legacy]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["ropc"]
`

func TestLoadConfig(t *testing.T) {
	azure := map[string]string{"AZURE_TENANT_ID": "contoso.onmicrosoft.com", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}
	tests := []struct {
		name     string
		user     string // body of the default user file; "" for none
		system   string
		path     string // LoadConfig's path argument, relative to the temp dir
		vars     map[string]string
		profiles []string
		err      string
	}{
		{name: "no file: the env profile", vars: azure, profiles: []string{"env"}},
		{name: "no file, no env: the default chain", profiles: []string{"env"}},
		{name: "an explicit path must exist", path: "nope.toml", vars: azure, err: "no such file"},
		{name: "default user file", user: loadUser, profiles: []string{"ci", "legacy"}},
		{name: "system and user merge", system: "[profiles.sys]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"devicecode\"]\n", user: loadUser, profiles: []string{"sys", "ci", "legacy"}},
		{name: "a system file with only policy still allows the env profile", system: "[policy]\ndeny_flows = [\"ropc\"]\n", vars: azure, profiles: []string{"env"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.user != "" {
				write(t, filepath.Join(dir, "xdg", "credhost", "config.toml"), tt.user)
			}
			if tt.system != "" {
				write(t, filepath.Join(dir, "system.toml"), tt.system)
			}
			path := ""
			if tt.path != "" {
				path = filepath.Join(dir, tt.path)
			}
			f, err := LoadConfig(path, testEnv(dir, tt.vars))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(f.Order, ",") != strings.Join(tt.profiles, ",") {
				t.Fatalf("profiles %v, want %v", f.Order, tt.profiles)
			}
		})
	}
}

func TestChooseProfile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "xdg", "credhost", "config.toml"), loadUser+"[profiles.default]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"devicecode\"]\n")
	f, err := LoadConfig("", testEnv(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	env := func(vars map[string]string) config.Environment {
		return config.Environment{Getenv: testEnv(dir, vars), Stat: func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }, GOOS: "linux"}
	}
	tests := []struct {
		name, flag string
		vars       map[string]string
		want       string
		reason     string
	}{
		{"rule", "", map[string]string{"CI": "true"}, "ci", `its match rules hold (at ` + filepath.Join(dir, "xdg", "credhost", "config.toml") + `:5:1): env CI = "true"`},
		{"fallback", "", nil, "default", `named "default"`},
		{"flag", "legacy", map[string]string{"CI": "true"}, "legacy", "named by --profile"},
	}
	for _, tt := range tests {
		c, err := ChooseProfile(f, tt.flag, env(tt.vars))
		if err != nil || c.Name != tt.want || c.Reason != tt.reason {
			t.Errorf("%s: %+v, %v; want %s because %s", tt.name, c, err, tt.want, tt.reason)
		}
	}
	// SelectProfile is the same choice with the machine's environment;
	// only variables matter here.
	if name, err := SelectProfile(f, "", testEnv(dir, map[string]string{"CI": "true"})); err != nil || name != "ci" {
		t.Errorf("SelectProfile = %q, %v", name, err)
	}
}

// TestPolicyRefusedBeforeAnyPlugin: a profile the system policy refuses
// gives the policy's file:line from Credential and Validate, which never
// reach a plugin (none is installed here: reaching one would be a
// different error).
func TestPolicyRefusedBeforeAnyPlugin(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "system.toml")
	write(t, sys, "# admin\n[policy]\ndeny_flows = [\"ropc\"]\n")
	write(t, filepath.Join(dir, "xdg", "credhost", "config.toml"), loadUser)
	f, err := LoadConfig("", testEnv(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := New(f, &Options{PluginDirs: []string{dir}})
	defer h.Close()
	_, credErr := h.Credential("legacy")
	_, valErr := h.Validate(context.Background(), "legacy")
	_, selErr := SelectProfile(f, "legacy", testEnv(dir, nil))
	for _, err := range []error{credErr, valErr, selErr} {
		if !errors.Is(err, config.ErrPolicy) || !strings.Contains(err.Error(), "policy.deny_flows at "+sys+":3:1") {
			t.Errorf("err = %v", err)
		}
	}
	if _, err := h.Credential("ci"); err != nil {
		t.Errorf("ci: %v", err)
	}
	if got := f.Policy.CheckPluginVersion("clientcreds", "0.1.0"); got != nil {
		t.Errorf("no minimum: %v", got)
	}
}
