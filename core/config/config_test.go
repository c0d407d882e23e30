package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.want from the current output")

func at(line, col int) Origin { return Origin{File: "testdata/valid.toml", Line: line, Col: col} }

func TestLoadValid(t *testing.T) {
	f, err := Load("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Order, []string{"ci", "laptop", "inline"}) || len(f.Profiles) != 3 {
		t.Fatalf("profiles %v, order %v", f.Profiles, f.Order)
	}
	ci, laptop, inline := f.Profiles["ci"], f.Profiles["laptop"], f.Profiles["inline"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"ci origin", ci.Origin, at(6, 1)},
		{"ci authority", ci.Authority, Value{Raw: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", Origin: at(7, 1)}},
		{"ci client_id", ci.ClientID, Value{Raw: "11111111-1111-4111-8111-111111111111", Origin: at(8, 1)}},
		{"ci chain", ci.Chain, []string{"devicecode", "clientcreds"}},
		{"ci chain origin", ci.ChainOrigin, at(9, 1)},
		{"ci timeout", ci.Timeout, 30 * time.Second},
		{"ci timeout origin", ci.TimeoutOrigin, at(10, 1)},
		{"ci ca_file from defaults", ci.CAFile, Value{Raw: "certs/corp.pem", Origin: at(4, 1)}},
		{"ci remember_winner", ci.RememberWinner, false},
		{"ci remember_winner origin", ci.RememberWinnerOrigin, at(11, 1)},
		{"ci flow origin", ci.FlowOrigins, map[string]Origin{"clientcreds": at(13, 1)}},
		{"ci flow settings", ci.Flows["clientcreds"], map[string]Value{
			"client_secret": {Raw: "env:CI_SECRET", Origin: at(14, 1)},
			"certificate":   {Raw: "file:/etc/ci/app.pfx", Origin: at(15, 1)},
			"send_x5c":      {Raw: "true", Origin: at(16, 1)},
			"retries":       {Raw: "16", Origin: at(17, 1)},
			"scopes":        {List: []string{"a", "b"}, Origin: at(18, 1)},
			"none":          {List: []string{}, Origin: at(19, 1)},
			"odd key":       {Raw: `literal \n`, Origin: at(20, 1)},
			"escaped":       {Raw: "tab\there é", Origin: at(21, 1)},
		}},
		{"laptop timeout from defaults", laptop.Timeout, 2 * time.Minute},
		{"laptop timeout origin", laptop.TimeoutOrigin, at(3, 1)},
		{"laptop remember_winner default", laptop.RememberWinner, true},
		{"laptop remember_winner origin", laptop.RememberWinnerOrigin, Origin{}},
		{"laptop empty flow section", laptop.Flows, map[string]map[string]Value{"devicecode": {}}},
		{"laptop origin", laptop.Origin, at(23, 1)},
		{"inline profile origin", inline.Origin, at(31, 1)},
		{"inline profile chain", inline.Chain, []string{"devicecode"}},
		{"inline profile chain origin", inline.ChainOrigin, at(31, 102)},
		{"defaults", f.Defaults, Defaults{Origin: at(2, 1), Timeout: 2 * time.Minute, TimeoutOrigin: at(3, 1), CAFile: Value{Raw: "certs/corp.pem", Origin: at(4, 1)}}},
		{"plugins dir", f.Plugins.Dir, Value{Raw: "/opt/credhost/plugins", Origin: at(34, 1)}},
		{"plugins pins", f.Plugins.Pins, map[string]Value{
			"clientcreds": {Raw: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Origin: at(37, 1)},
		}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
	}
	if ci.Flows["clientcreds"]["client_secret"].IsList() || !ci.Flows["clientcreds"]["none"].IsList() {
		t.Error("IsList: a string is not a list, [] is")
	}
}

// TestParseForms covers TOML spellings that must mean the same thing:
// dotted keys, inline tables, sub-tables before their parent, CRLF and a
// byte order mark.
func TestParseForms(t *testing.T) {
	const authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
	tests := []struct {
		name, doc string
		origin    Origin // of profile p
		flowKey   Origin // of p.clientcreds.client_secret
	}{
		{"tables", "[profiles.p]\nauthority = \"" + authority + "\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n[profiles.p.clientcreds]\nclient_secret = \"env:S\"\n",
			Origin{File: "f.toml", Line: 1, Col: 1}, Origin{File: "f.toml", Line: 6, Col: 1}},
		{"dotted keys", "[profiles]\np.authority = \"" + authority + "\"\np.client_id = \"c\"\np.chain = [\"clientcreds\"]\np.clientcreds.client_secret = \"env:S\"\n",
			Origin{File: "f.toml", Line: 2, Col: 1}, Origin{File: "f.toml", Line: 5, Col: 15}},
		{"inline table", "profiles.p = { authority = \"" + authority + "\", client_id = \"c\", chain = [\"clientcreds\"], clientcreds = { client_secret = \"env:S\" } }\n",
			Origin{File: "f.toml", Line: 1, Col: 10}, Origin{File: "f.toml", Line: 1, Col: 147}},
		{"sub-table first", "[profiles.p.clientcreds]\nclient_secret = \"env:S\"\n[profiles.p]\nauthority = \"" + authority + "\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n",
			Origin{File: "f.toml", Line: 3, Col: 1}, Origin{File: "f.toml", Line: 2, Col: 1}},
		{"crlf and bom", "\ufeff[profiles.p]\r\nauthority = \"" + authority + "\"\r\nclient_id = \"c\"\r\nchain = [\"clientcreds\"]\r\n[profiles.p.clientcreds]\r\nclient_secret = \"env:S\"\r\n",
			Origin{File: "f.toml", Line: 1, Col: 1}, Origin{File: "f.toml", Line: 6, Col: 1}},
		{"indented header", "  [ profiles.p ]\nauthority = \"" + authority + "\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n  [profiles.p.clientcreds]\n  client_secret = \"env:S\"\n",
			Origin{File: "f.toml", Line: 1, Col: 3}, Origin{File: "f.toml", Line: 6, Col: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			p := f.Profiles["p"]
			if p == nil || p.Authority.Raw != authority || p.ClientID.Raw != "c" || !slices.Equal(p.Chain, []string{"clientcreds"}) {
				t.Fatalf("profile %+v", p)
			}
			if p.Origin != tt.origin {
				t.Errorf("profile origin %v, want %v", p.Origin, tt.origin)
			}
			if got := p.Flows["clientcreds"]["client_secret"]; got.Raw != "env:S" || got.Origin != tt.flowKey {
				t.Errorf("client_secret %+v, want origin %v", got, tt.flowKey)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "[profiles]\n", "[plugins]\n[defaults]\n"} {
		f, err := Parse("f.toml", []byte(doc))
		if err != nil || len(f.Profiles) != 0 || len(f.Order) != 0 {
			t.Errorf("%q: %v, %+v", doc, err, f)
		}
	}
}

// TestParseErrors compares the errors of each testdata/bad file with its
// .want file (go test -update rewrites them).
func TestParseErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %+v, want errors", f)
			}
			if f != nil {
				t.Error("a File came back with the errors")
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			for i, e := range list {
				if e.Origin.File != path || e.Origin.Line < 1 || e.Origin.Col < 1 {
					t.Errorf("error %d has no position: %v", i, e)
				}
				if i > 0 && e.Origin.Line < list[i-1].Origin.Line {
					t.Errorf("errors not sorted by line: %v after %v", e, list[i-1])
				}
			}
			got := err.Error() + "\n"
			wantPath := strings.TrimSuffix(path, ".toml") + ".want"
			if *update {
				if err := os.WriteFile(wantPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\n--- got\n%s--- want\n%s", wantPath, got, want)
			}
		})
	}
}

func TestSyntaxErrorUnwrapsDecodeError(t *testing.T) {
	_, err := Load("testdata/bad/syntax.toml")
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("no *toml.DecodeError in %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Origin.Line != 3 {
		t.Fatalf("error %v not at line 3", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("err %v", err)
	}
}

func TestProfile(t *testing.T) {
	f, err := Load("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := f.Profile("ci"); err != nil || p.Name != "ci" {
		t.Fatalf("ci: %v %v", p, err)
	}
	tests := []struct {
		file *File
		name string
		want []string
	}{
		{f, "cl", []string{`no such profile "cl"`, "testdata/valid.toml", "(profiles: ci, laptop, inline)", `did you mean "ci"?`}},
		{f, "production", []string{`no such profile "production"`, "(profiles: ci, laptop, inline)"}},
		{&File{Path: "x.toml"}, "ci", []string{"x.toml defines no profiles", "[profiles.ci]"}},
		{&File{Profiles: map[string]*Profile{"b": {}, "a": {}}}, "c", []string{"the configuration", "(profiles: a, b)"}},
	}
	for _, tt := range tests {
		_, err := tt.file.Profile(tt.name)
		if !errors.Is(err, ErrNoProfile) {
			t.Errorf("%q: %v does not wrap ErrNoProfile", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %q lacks %q", tt.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "did you mean") != slices.ContainsFunc(tt.want, func(s string) bool { return strings.Contains(s, "did you mean") }) {
			t.Errorf("%q: unexpected suggestion in %q", tt.name, err)
		}
	}
}

func TestErrorAt(t *testing.T) {
	f, err := Load("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	ci := f.Profiles["ci"]
	tests := []struct {
		key  string
		want string
	}{
		{"authority", "testdata/valid.toml:7:1: profiles.ci.authority: boom 1"},
		{"client_id", "testdata/valid.toml:8:1: profiles.ci.client_id: boom 1"},
		{"chain", "testdata/valid.toml:9:1: profiles.ci.chain: boom 1"},
		{"timeout", "testdata/valid.toml:10:1: profiles.ci.timeout: boom 1"},
		{"ca_file", "testdata/valid.toml:4:1: profiles.ci.ca_file: boom 1"}, // from [defaults]
		{"remember_winner", "testdata/valid.toml:11:1: profiles.ci.remember_winner: boom 1"},
		{"clientcreds.certificate", "testdata/valid.toml:15:1: profiles.ci.clientcreds.certificate: boom 1"},
		{"clientcreds.nope", "testdata/valid.toml:13:1: profiles.ci.clientcreds.nope: boom 1"}, // section header
		{"clientcreds", "testdata/valid.toml:13:1: profiles.ci.clientcreds: boom 1"},
		{"devicecode.x", "testdata/valid.toml:6:1: profiles.ci.devicecode.x: boom 1"}, // profile header
	}
	for _, tt := range tests {
		if got := ci.ErrorAt(tt.key, "boom %d", 1).Error(); got != tt.want {
			t.Errorf("ErrorAt(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	// Wrapping an error that already names the position does not repeat it.
	inner := &Error{Origin: ci.Flows["clientcreds"]["client_secret"].Origin, Msg: "variable X is not set"}
	want := "testdata/valid.toml:14:1: profiles.ci.clientcreds.client_secret: variable X is not set"
	if got := ci.ErrorAt("clientcreds.client_secret", "%v", inner).Error(); got != want {
		t.Errorf("wrapped: %q, want %q", got, want)
	}
}

func TestOriginString(t *testing.T) {
	tests := []struct {
		o    Origin
		want string
	}{
		{Origin{}, ""},
		{Origin{File: "c.toml", Line: 3, Col: 7}, "c.toml:3:7"},
		{Origin{File: "c.toml"}, "c.toml"},
		{Origin{Env: "AZURE_CLIENT_ID"}, "env AZURE_CLIENT_ID"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.o, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := func() *Profile {
		return &Profile{Name: "p", Authority: Value{Raw: "https://h/t"}, ClientID: Value{Raw: "c"}, Chain: []string{"clientcreds"}}
	}
	tests := []struct {
		name   string
		change func(p *Profile)
		want   string
	}{
		{"ok", func(*Profile) {}, ""},
		{"no authority", func(p *Profile) { p.Authority = Value{} }, "profiles.p.authority: missing"},
		{"bad authority", func(p *Profile) { p.Authority.Raw = "http://h/t" }, "profiles.p.authority: authority \"http://h/t\" is not an https URL"},
		{"no client id", func(p *Profile) { p.ClientID = Value{} }, "profiles.p.client_id: missing"},
		{"no chain", func(p *Profile) { p.Chain = nil }, "profiles.p.chain: missing"},
		{"empty chain", func(p *Profile) { p.Chain = []string{} }, "profiles.p.chain: is empty"},
		{"dup chain", func(p *Profile) { p.Chain = []string{"a", "a"} }, `"a" is listed twice`},
		{"bad flow", func(p *Profile) { p.Chain = []string{"A"} }, `"A" is not a flow id`},
		{"negative timeout", func(p *Profile) { p.Timeout = -time.Second }, "profiles.p.timeout: must be positive"},
		{"bad section", func(p *Profile) { p.Flows = map[string]map[string]Value{"X": {}} }, `profiles.p.X: flow section name "X" is not a flow id`},
		{"bad name", func(p *Profile) { p.Name = "a b" }, `profiles."a b": profile names`},
		{"env origin", func(p *Profile) { p.Authority = Value{Raw: "x", Origin: Origin{Env: EnvAuthorityHost}} },
			"env AZURE_AUTHORITY_HOST: profiles.p.authority: authority \"x\" is not an https URL"},
	}
	for _, tt := range tests {
		p := good()
		tt.change(p)
		err := p.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ key, want string }{
		{"clientid", "client_id"},
		{"Client_ID", "client_id"},
		{"timout", "timeout"},
		{"autority", "authority"},
		{"chian", "chain"},
		{"scopes", ""},
		{"x", ""},
		{"ca", ""}, // too short for "ca_file" to be a typo of it
		{"remember", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, settingKeys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestCacheSection(t *testing.T) {
	const head = "[profiles.p]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n"
	f, err := Parse("c.toml", []byte(head+"[cache]\nbackend = \"file\"\npath = \"/tmp/x\"\nmin_lifetime = \"10m\"\nkey = \"env:K\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The flat keys of before backend tables land in the backend's table.
	if set := f.Cache.Settings(); f.Cache.Name() != "file" || set["path"].Raw != "/tmp/x" || f.Cache.MinLifetime != 10*time.Minute || set["key"].Raw != "env:K" || set["path"].Origin.Line != 7 {
		t.Fatalf("cache = %+v", f.Cache)
	}
	f, err = Parse("c.toml", []byte(head+"[cache]\nbackend = \"redis\"\n[cache.redis]\nurl = \"redis://r:6379/0\"\nkey = \"env:K\"\n[cache.file]\npath = \"/tmp/x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if set := f.Cache.Settings(); f.Cache.Name() != "redis" || set["url"].Raw != "redis://r:6379/0" || set["path"].IsSet() || f.Cache.Backends["file"]["path"].Raw != "/tmp/x" {
		t.Fatalf("cache = %+v", f.Cache)
	}
	if f, _ := Parse("c.toml", []byte(head)); f.Cache.MinLifetime != DefaultMinLifetime {
		t.Fatalf("default min lifetime = %v", f.Cache.MinLifetime)
	}
	for body, want := range map[string]string{
		"[cache]\nbackend = \"disk\"\n":                       `c.toml:6:1: cache.backend: unknown backend "disk"`,
		"[cache]\nbackend = \"redis\"\n":                      "cache.redis.url: the redis backend needs url",
		"[cache]\nurl = \"redis://r\"\n":                      `cache.url: url is for backend = "redis", not "file"`,
		"[cache.redis]\nurl = \"redis://r\"\nkye = \"x\"\n":   `cache.redis.kye: unknown key; did you mean "key"?`,
		"[cache.disk]\npath = \"x\"\n":                        `cache.disk: unknown backend "disk"`,
		"[cache.file]\npath = \"\"\n":                         "cache.file.path: is empty",
		"[cache.file]\nkey = \"env:A\"\npassphrase = \"x\"\n": "cache.file.passphrase: set key or passphrase, not both",
		"[cache]\nmin_lifetime = 5\n":                         "cache.min_lifetime: expected a string",
		"[cache]\npaht = \"x\"\n":                             `cache.paht: unknown key; did you mean "path"?`,
		"[cache]\nkey = \"env:A\"\npassphrase = \"x\"\n":      "set key or passphrase, not both",
	} {
		_, err := Parse("c.toml", []byte(head+body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}
