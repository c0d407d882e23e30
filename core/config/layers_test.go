package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// writeFile writes body to dir/name, creating dir, and returns the path.
func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// layout is a system, user and project file in their own temp dirs, and
// a working directory below the project.
type layout struct {
	system, user, project, work, home string
}

// newLayout writes the files; the user file trusts the project's
// directory (see newUntrustedLayout).
func newLayout(t *testing.T, system, user, project string) layout {
	t.Helper()
	return newLayoutTrust(t, system, user, project, true)
}

// newUntrustedLayout is newLayout with a user file that does not trust
// the project.
func newUntrustedLayout(t *testing.T, system, user, project string) layout {
	t.Helper()
	return newLayoutTrust(t, system, user, project, false)
}

func newLayoutTrust(t *testing.T, system, user, project string, trust bool) layout {
	t.Helper()
	root := t.TempDir()
	l := layout{home: filepath.Join(root, "home")}
	proj := filepath.Join(l.home, "src", "app")
	if project != "" && trust {
		user += "\n[projects]\ntrusted = [" + strconv.Quote(proj) + "]\n"
	}
	l.system = writeFile(t, filepath.Join(root, "etc", "credhost"), "config.toml", system)
	l.user = writeFile(t, filepath.Join(l.home, ".config", "credhost"), "config.toml", user)
	if project != "" {
		l.project = writeFile(t, proj, ProjectFileName, project)
	}
	l.work = filepath.Join(proj, "cmd", "tool")
	if err := os.MkdirAll(l.work, 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l layout) options(env map[string]string) *LoadOptions {
	return &LoadOptions{SystemPath: l.system, UserPath: l.user, WorkDir: l.work, Home: l.home, Getenv: envMap(env)}
}

const (
	sysLayer = `[defaults]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
timeout = "45s"

[profiles.ci]
client_id = "11111111-1111-4111-8111-111111111111"
chain = ["clientcreds"]
ca_file = "sys-ca.pem"

[profiles.ci.clientcreds]
send_certificate_chain = "true"
client_assertion_command = "get-assertion"

[plugins]
dir = "plugins"
[plugins.pins]
clientcreds = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
`
	userLayer = `[profiles.ci]
timeout = "1m"

[profiles.ci.clientcreds]
send_certificate_chain = "false"
certificate = "file:certs/app.pem"
federated_token_file = "token.jwt"

[profiles.laptop]
client_id = "22222222-2222-4222-8222-222222222222"
chain = ["devicecode"]
`
	// A project file may add profiles of its own, with settings that
	// reach no secret and run no code (TestProjectFileLimits).
	projectLayer = `[profiles.app]
remember_winner = false
client_id = "44444444-4444-4444-8444-444444444444"
chain = ["devicecode"]
[profiles.app.match]
env = { CI = "true" }
[profiles.app.devicecode]
login_hint = "dev@contoso.com"
`
)

// TestLoadLayers merges three files on disk and the environment, and
// checks each effective value and where it came from.
func TestLoadLayers(t *testing.T) {
	l := newLayout(t, sysLayer, userLayer, projectLayer)
	f, err := LoadLayers(l.options(map[string]string{"AZURE_CLIENT_ID": "33333333-3333-4333-8333-333333333333"}))
	if err != nil {
		t.Fatal(err)
	}
	sys := func(line, col int) Origin { return Origin{File: l.system, Line: line, Col: col} }
	usr := func(line, col int) Origin { return Origin{File: l.user, Line: line, Col: col} }
	prj := func(line, col int) Origin { return Origin{File: l.project, Line: line, Col: col} }
	sysDir, usrDir := filepath.Dir(l.system), filepath.Dir(l.user)
	ci, laptop, app := f.Profiles["ci"], f.Profiles["laptop"], f.Profiles["app"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"order: layer then file", f.Order, []string{"ci", "laptop", "app"}},
		{"defined by", []LayerKind{ci.Layer, laptop.Layer, app.Layer}, []LayerKind{LayerSystem, LayerUser, LayerProject}},
		{"a project profile takes the system [defaults]", app.Authority.Origin, sys(2, 1)},
		{"a project profile takes AZURE_CLIENT_ID", app.ClientID.Origin, Origin{Env: EnvClientID}},
		{"layers", f.Layers, []Layer{{Kind: LayerSystem, Path: l.system}, {Kind: LayerUser, Path: l.user}, {Kind: LayerProject, Path: l.project}, {Kind: LayerEnv, Path: "AZURE_CLIENT_ID"}}},
		{"authority from system [defaults]", ci.Authority, Value{Raw: "https://login.microsoftonline.com/contoso.onmicrosoft.com", Origin: sys(2, 1)}},
		{"client_id from env over system", ci.ClientID, Value{Raw: "33333333-3333-4333-8333-333333333333", Origin: Origin{Env: EnvClientID}}},
		{"chain from system", ci.Chain, []string{"clientcreds"}},
		{"chain origin", ci.ChainOrigin, sys(7, 1)},
		{"timeout: user over system defaults", ci.TimeoutOrigin, usr(2, 1)},
		{"laptop timeout from system defaults", laptop.TimeoutOrigin, sys(3, 1)},
		{"ca_file from system, made absolute against the system file", ci.CAFile, Value{Raw: filepath.Join(sysDir, "sys-ca.pem"), Origin: sys(8, 1)}},
		{"remember_winner from project", app.RememberWinner, false},
		{"flow key: user over system", ci.Flows["clientcreds"]["send_certificate_chain"], Value{Raw: "false", Origin: usr(5, 1)}},
		{"flow key only in system stays", ci.Flows["clientcreds"]["client_assertion_command"], Value{Raw: "get-assertion", Origin: sys(12, 1)}},
		{"file: reference resolved against the user file", ci.Flows["clientcreds"]["certificate"], Value{Raw: "file:" + filepath.Join(usrDir, "certs", "app.pem"), Origin: usr(6, 1)}},
		{"*_file path resolved against the user file", ci.Flows["clientcreds"]["federated_token_file"], Value{Raw: filepath.Join(usrDir, "token.jwt"), Origin: usr(7, 1)}},
		{"flow section origin: first layer", ci.FlowOrigins["clientcreds"], sys(10, 1)},
		{"match from project", app.Match.Rules, []Rule{{Kind: RuleEnv, Name: "CI", Value: "true", Origin: prj(6, 9)}}},
		{"plugins.dir against the system file", f.Plugins.Dir, Value{Raw: filepath.Join(sysDir, "plugins"), Origin: sys(15, 1)}},
		{"pins from system", f.Plugins.Pins["clientcreds"].Origin, sys(17, 1)},
		{"profile origin: first layer", ci.Origin, sys(5, 1)},
		{"path: the user file", f.Path, l.user},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
	}
}

// TestLoadLayersFlags: a flag beats the environment, which beats files.
func TestLoadLayersFlags(t *testing.T) {
	l := newLayout(t, sysLayer, userLayer, "")
	o := l.options(map[string]string{"AZURE_CLIENT_ID": "env-id", "AZURE_TENANT_ID": "fabrikam.onmicrosoft.com"})
	o.Flags = []FlagSetting{{Flag: "--set", TOML: `profiles.ci.client_id = "flag-id"`}, {Flag: "--timeout", TOML: `profiles.ci.timeout = "5s"`}}
	f, err := LoadLayers(o)
	if err != nil {
		t.Fatal(err)
	}
	ci := f.Profiles["ci"]
	if !reflect.DeepEqual(ci.ClientID, Value{Raw: "flag-id", Origin: Origin{Flag: "--set"}}) {
		t.Errorf("client_id %+v, want the flag's", ci.ClientID)
	}
	if ci.TimeoutOrigin != (Origin{Flag: "--timeout"}) || ci.Timeout.String() != "5s" {
		t.Errorf("timeout %v from %v", ci.Timeout, ci.TimeoutOrigin)
	}
	if ci.Authority.Origin.Env != EnvTenantID || !strings.HasSuffix(ci.Authority.Raw, "/fabrikam.onmicrosoft.com") {
		t.Errorf("authority %+v, want the env's", ci.Authority)
	}
	if last := f.Layers[len(f.Layers)-1]; last.Kind != LayerFlags {
		t.Errorf("last layer %+v, want flags", last)
	}

	// A flag is as strict as a file, and its problems name the flag.
	o.Flags = []FlagSetting{{Flag: "--set", TOML: `profiles.ci.timout = "5s"`}}
	_, err = LoadLayers(o)
	if err == nil || !strings.Contains(err.Error(), `flag --set: profiles.ci.timout: unknown key; did you mean "timeout"?`) {
		t.Errorf("err = %v", err)
	}
}

// TestLoadLayersStrict: every layer is parsed strictly, problems name
// the file:line:key of the layer they are in, and problems of several
// layers come together.
func TestLoadLayersStrict(t *testing.T) {
	tests := []struct {
		name                  string
		system, user, project string
		want                  []string // substrings; SYS, USER, PROJ are replaced by the paths
	}{
		{"unknown key in the system file", "[profiles.ci]\nchian = 1\n", "", "",
			[]string{`SYS:2:1: profiles.ci.chian: unknown key; did you mean "chain"?`}},
		{"unknown top-level key in the system file says what it takes", "[polcy]\n", "", "",
			[]string{`SYS:1:1: polcy: unknown key; did you mean "policy"?`}},
		{"wrong type in the project file", "", "", "[profiles.app]\ntimeout = 30\n",
			[]string{`PROJ:2:1: profiles.app.timeout: expected a string`}},
		{"syntax error in one layer, unknown key in another", "[profiles.ci\n", "[profiles.ci]\nx = 1\n", "",
			[]string{"SYS:1:", "invalid TOML", "USER:2:1: profiles.ci.x: unknown key"}},
		{"missing setting after the merge is placed at the profile", "", "[profiles.ci]\nchain = [\"clientcreds\"]\nauthority = \"https://login.microsoftonline.com/t\"\n", "",
			[]string{"USER:1:1: profiles.ci.client_id: missing"}},
		{"contradiction across layers", "[cache]\nkey = \"env:K\"\n", "[cache]\npassphrase = \"env:P\"\n", "",
			[]string{"USER:2:1: cache.file.passphrase: set key or passphrase, not both"}},
		{"a match rule in [defaults]", "[defaults.match]\ntty = true\n", "", "",
			[]string{"SYS:1:1: defaults.match: [defaults] takes no match rules"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(t, tt.system, tt.user, tt.project)
			_, err := LoadLayers(l.options(nil))
			if err == nil {
				t.Fatal("no error")
			}
			var list Errors
			if !errors.As(err, &list) {
				t.Errorf("%T is not Errors", err)
			}
			for _, w := range tt.want {
				w = strings.NewReplacer("SYS", l.system, "USER", l.user, "PROJ", l.project).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestLoadLayersPartial: with Partial, the File comes back with the
// Errors, as far as it could be read, and Concern tells the profiles the
// problems touch from those they leave whole; without it, no File.
func TestLoadLayersPartial(t *testing.T) {
	user := `[profiles.a]
authority = "http://login.example.com/t"
client_id = 42
chain = ["clientcred"]
[profiles.b]
chain = []
[profiles.ab]
authority = "https://login.microsoftonline.com/t"
client_id = "c"
chain = ["clientcreds"]
`
	l := newLayout(t, "", user, "")
	if f, err := LoadLayers(l.options(nil)); f != nil || err == nil {
		t.Fatalf("without Partial: %v, %v; want no File and Errors", f, err)
	}
	opts := l.options(nil)
	opts.Partial = true
	f, err := LoadLayers(opts)
	var list Errors
	if f == nil || !errors.As(err, &list) {
		t.Fatalf("Partial: %v, %v; want a File and Errors", f, err)
	}
	if !reflect.DeepEqual(f.Order, []string{"a", "b", "ab"}) || !reflect.DeepEqual(f.Profiles["a"].Chain, []string{"clientcred"}) {
		t.Errorf("partial File: order %v, a's chain %v", f.Order, f.Profiles["a"].Chain)
	}
	for name, want := range map[string]bool{"a": true, "b": true, "ab": false} {
		if got := list.Concern(name); got != want {
			t.Errorf("Concern(%q) = %v, want %v", name, got, want)
		}
	}
	if !(Errors{{Key: "defaults.timeout"}}).Concern("ab") {
		t.Error("a problem in [defaults] does not concern every profile")
	}
}

// TestLoadLayersCache: a layer that switches backend leaves the lower
// layers' backend settings in their backend's table instead of
// contradicting them; flat [cache] keys of a layer that names no backend
// go to the backend the layers select.
func TestLoadLayersCache(t *testing.T) {
	l := newLayout(t, "[cache]\nbackend = \"redis\"\nurl = \"redis://r:6379/0\"\nkey = \"env:K\"\nmin_lifetime = \"10m\"\n", "[cache]\nbackend = \"file\"\npath = \"tokens.bin\"\n", "")
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cache
	if set := c.Settings(); c.Name() != "file" || set["url"].IsSet() || set["key"].IsSet() || set["path"].Raw != filepath.Join(filepath.Dir(l.user), "tokens.bin") || c.MinLifetime.String() != "10m0s" {
		t.Errorf("cache %+v", c)
	}
	l = newLayout(t, "[cache]\nbackend = \"redis\"\n[cache.redis]\nurl = \"redis://r:6379/0\"\nkey = \"env:K\"\n", "[cache]\nprefix = \"app:\"\nca_file = \"ca.pem\"\n", "")
	if f, err = LoadLayers(l.options(nil)); err != nil {
		t.Fatal(err)
	}
	if set := f.Cache.Settings(); f.Cache.Name() != "redis" || set["url"].Raw != "redis://r:6379/0" || set["prefix"].Raw != "app:" || set["ca_file"].Raw != filepath.Join(filepath.Dir(l.user), "ca.pem") {
		t.Errorf("cache %+v", f.Cache)
	}
}

func TestLoadLayersNoFiles(t *testing.T) {
	dir := t.TempDir()
	none := func(env map[string]string) *LoadOptions {
		return &LoadOptions{SystemPath: filepath.Join(dir, "sys.toml"), WorkDir: dir, Home: dir,
			Getenv: envMap(mergeEnv(map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}, env))}
	}
	azure := map[string]string{"AZURE_TENANT_ID": "contoso.onmicrosoft.com", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": canary}
	t.Run("env profile", func(t *testing.T) {
		f, err := LoadLayers(none(azure))
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Order) != 1 || f.Order[0] != "env" {
			t.Fatalf("profiles %v", f.Order)
		}
		for _, l := range f.Layers[:2] {
			if !l.Missing {
				t.Errorf("layer %+v should be missing", l)
			}
		}
	})
	t.Run("nothing at all: the default chain", func(t *testing.T) {
		f, err := LoadLayers(none(nil))
		if err != nil {
			t.Fatal(err)
		}
		if p := f.Profiles["env"]; len(f.Order) != 1 || p == nil || strings.Join(p.Chain, ",") != "managedidentity,azurecli" {
			t.Fatalf("profiles %v: %+v", f.Order, f.Profiles["env"])
		}
	})
	t.Run("a bad AZURE_TOKEN_CREDENTIALS", func(t *testing.T) {
		_, err := LoadLayers(none(map[string]string{EnvTokenCredentials: "everything"}))
		if err == nil || !strings.Contains(err.Error(), `AZURE_TOKEN_CREDENTIALS: invalid value "everything"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an explicit user file must exist", func(t *testing.T) {
		o := none(azure)
		o.UserPath = filepath.Join(dir, "nope.toml")
		if _, err := LoadLayers(o); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
		o = none(mergeEnv(azure, map[string]string{EnvConfig: filepath.Join(dir, "nope.toml")}))
		if _, err := LoadLayers(o); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("$CREDHOST_CONFIG: err = %v", err)
		}
	})
	t.Run("system path from the environment", func(t *testing.T) {
		sys := writeFile(t, t.TempDir(), "system.toml", "[profiles.s]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"devicecode\"]\n")
		o := none(map[string]string{EnvSystemConfig: sys})
		o.SystemPath = ""
		f, err := LoadLayers(o)
		if err != nil || f.Profiles["s"] == nil || f.Layers[0] != (Layer{Kind: LayerSystem, Path: sys}) {
			t.Fatalf("%v, %+v", err, f)
		}
	})
}

func mergeEnv(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestFindProject(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home", "me")
	writeFile(t, filepath.Join(root, "home"), ProjectFileName, "") // home's parent: never read
	writeFile(t, filepath.Join(home, "a"), ProjectFileName, "")
	if err := os.MkdirAll(filepath.Join(home, "a", "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "x", ProjectFileName), 0o755); err != nil { // a directory, not a file
		t.Fatal(err)
	}
	outside := filepath.Join(root, "srv", "app")
	writeFile(t, filepath.Join(root, "srv"), ProjectFileName, "")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"in the directory", filepath.Join(home, "a"), filepath.Join(home, "a", ProjectFileName)},
		{"walks up", filepath.Join(home, "a", "b", "c"), filepath.Join(home, "a", ProjectFileName)},
		{"stops before home's parent", filepath.Join(home, "x"), ""},
		{"home itself has none", home, ""},
		{"outside home it walks up (not to the root)", outside, filepath.Join(root, "srv", ProjectFileName)},
	}
	for _, tt := range tests {
		if got := FindProject(tt.dir, home, nil); got != tt.want {
			t.Errorf("%s: FindProject(%s) = %q, want %q", tt.name, tt.dir, got, tt.want)
		}
	}
}

// TestEffectiveNeverShowsSecrets plants a secret in every layer and
// checks that the settings config show prints hold none of them, while
// references and public settings stay visible.
func TestEffectiveNeverShowsSecrets(t *testing.T) {
	l := newLayout(t,
		sysLayer+"[profiles.ci.devicecode]\nlogin_hint = \"me@contoso.com\"\nsecret_thing = \"sys-"+canary+"\"\n[cache]\nkey = \"key-"+canary+"\"\n",
		userLayer+"[profiles.laptop.devicecode]\nclient_secret = \"user-"+canary+"\"\nlist_secret = [\""+canary+"\"]\n",
		projectLayer)
	o := l.options(map[string]string{"AZURE_CLIENT_SECRET": "env-" + canary})
	o.Flags = []FlagSetting{{Flag: "--set", TOML: `profiles.ci.clientcreds.client_assertion = "flag-` + canary + `"`}}
	f, err := LoadLayers(o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, s := range f.Effective() {
		if strings.Contains(strings.ToLower(stringOf(s.Value)), "canary") {
			t.Errorf("%s shows a secret: %v", s.Key, s.Value)
		}
		got[s.Key] = s.Value
	}
	want := map[string]any{
		"profiles.ci.clientcreds.client_secret": "env:AZURE_CLIENT_SECRET",
		// AZURE_CLIENT_SECRET replaces the file's way to authenticate.
		"profiles.ci.clientcreds.certificate":            nil,
		"profiles.ci.clientcreds.client_assertion":       Redacted,
		"profiles.ci.devicecode.secret_thing":            Redacted,
		"profiles.ci.devicecode.login_hint":              "me@contoso.com",
		"profiles.laptop.devicecode.client_secret":       Redacted,
		"profiles.laptop.devicecode.list_secret":         Redacted,
		"cache.file.key":                                 Redacted,
		"profiles.ci.clientcreds.send_certificate_chain": "false",
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
}

func stringOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return strings.Join(v, ",")
	}
	return ""
}
