package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fuzzUser is a user file whose profiles can reach secrets and run code:
// what a project file must not be able to redirect or change.
const fuzzUser = `[defaults]
ca_file = "/etc/user-ca.pem"
timeout = "30s"

[profiles.laptop]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "22222222-2222-4222-8222-222222222222"
chain = ["clientcreds", "authcode", "devicecode"]
[profiles.laptop.clientcreds]
client_secret = "env:MY_SECRET"
client_assertion_command = "get-assertion"
[profiles.laptop.authcode]
browser = "firefox"

[profiles.default]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "33333333-3333-4333-8333-333333333333"
chain = ["clientcreds"]

[plugins]
dir = "/opt/credhost/plugins"
[plugins.pins]
clientcreds = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

[cache]
path = "/home/me/.cache/credhost/tokens.bin"
`

const fuzzSystem = `[profiles.corp]
authority = "https://login.microsoftonline.com/corp.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["clientcreds"]
[profiles.corp.clientcreds]
certificate = "file:/etc/credhost/corp.pem"
`

// FuzzProjectLayer loads a system, a user and a fuzzed project file (the
// whole LoadLayers path, with the AZURE_* credential variables set) and
// checks the project allow-list's invariant: whatever the project file
// says, every profile another layer defines, the [defaults], plugins
// (dir, pins), cache and trusted projects are exactly what they are
// without it; and a profile the project defines holds no secret, no
// command, no file and no CA of its own, and gets none from the
// environment. So no project input changes where a secret goes, or
// what runs.
func FuzzProjectLayer(f *testing.F) {
	root := f.TempDir()
	home := filepath.Join(root, "home")
	proj := filepath.Join(home, "src", "app")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		f.Fatal(err)
	}
	system := writeFile(f, filepath.Join(root, "etc"), "config.toml", fuzzSystem)
	user := writeFile(f, filepath.Join(home, ".config", "credhost"), "config.toml",
		fuzzUser+"\n[projects]\ntrusted = ["+strconv.Quote(proj)+"]\n")
	project := filepath.Join(proj, ProjectFileName)
	env := envMap(map[string]string{
		EnvClientSecret: "s3cret", EnvClientCertificatePath: "/k.pem", EnvClientCertificatePassword: "pw",
		EnvFederatedTokenFile: "/var/run/token", "MY_SECRET": "mine",
	})
	opts := &LoadOptions{SystemPath: system, UserPath: user, WorkDir: proj, Home: home, Getenv: env}
	if err := os.WriteFile(project, nil, 0o600); err != nil {
		f.Fatal(err)
	}
	base, err := LoadLayers(opts)
	if err != nil {
		f.Fatal(err)
	}

	for _, s := range []string{
		"[profiles.app]\nauthority = \"https://evil.example/t\"\nclient_id = \"44444444-4444-4444-8444-444444444444\"\nchain = [\"clientcreds\"]\n[profiles.app.devicecode]\nlogin_hint = \"a@b\"\n",
		"[profiles.laptop]\nauthority = \"https://evil.example/t\"\n",
		"profiles.laptop.authcode.browser = \"sh -c 'touch /tmp/x'\"\n",
		"[defaults]\nca_file = \"evil.pem\"\nauthority = \"https://evil.example/t\"\n",
		"[plugins.pins]\nclientcreds = \"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"\n",
		"[profiles.app.authcode]\nbrowser = \"sh\"\n[profiles.app.clientcreds]\nclient_secret = \"env:MY_SECRET\"\n",
		"profiles = { corp = { authority = \"https://evil.example/t\" } }\n",
		"[projects]\ntrusted = [\"*\"]\n[cache]\npath = \"x\"\n",
		"[profiles.\"laptop\".clientcreds]\nclient_secret = \"x\"\n",
		"[[profiles.app]]\n[profiles.app2.match]\nos = [\"linux\"]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(project, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadLayers(opts)
		if err != nil {
			return // refused: nothing applied
		}
		for _, name := range base.Order {
			if !reflect.DeepEqual(got.Profiles[name], base.Profiles[name]) {
				t.Fatalf("the project file changed profile %q:\n got %+v\nwant %+v", name, got.Profiles[name], base.Profiles[name])
			}
		}
		for what, pair := range map[string][2]any{
			"defaults": {got.Defaults, base.Defaults}, "plugins": {got.Plugins, base.Plugins}, "cache": {got.Cache, base.Cache},
			"projects": {got.Projects, base.Projects}, "policy": {got.Policy, base.Policy},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Fatalf("the project file changed %s:\n got %+v\nwant %+v", what, pair[0], pair[1])
			}
		}
		for _, name := range got.Order {
			p := got.Profiles[name]
			if _, ok := base.Profiles[name]; ok {
				continue
			}
			if p.Layer != LayerProject {
				t.Fatalf("new profile %q is from layer %v", name, p.Layer)
			}
			if p.CAFile.IsSet() && p.CAFile.Origin.File == project {
				t.Fatalf("profile %q has the project's ca_file %q", name, p.CAFile.Raw)
			}
			for flow, settings := range p.Flows {
				for k, v := range settings {
					if !slices.Contains(projectFlowKeys, k) || strings.HasPrefix(v.Raw, "env:") || strings.HasPrefix(v.Raw, "file:") || v.Origin.File != project {
						t.Fatalf("project profile %q has %s.%s = %q from %v", name, flow, k, v.Raw, v.Origin)
					}
				}
			}
		}
	})
}
