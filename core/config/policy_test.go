package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const pin = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const policyUser = `[defaults]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"

[profiles.legacy]
chain = ["ropc", "devicecode"]

[profiles.ci]
chain = ["clientcreds"]

[profiles.gov]
authority = "https://login.microsoftonline.us/contoso.onmicrosoft.us"
chain = ["devicecode"]

[profiles.evil]
authority = "https://login.microsoftonline.com/contoso-evil.onmicrosoft.com"
chain = ["devicecode"]

[plugins.pins]
devicecode = "` + pin + `"
`

func TestPolicyParse(t *testing.T) {
	l := newLayout(t, `[policy]
deny_flows = ["ropc"]
require_pins = true
allowed_authorities = ["https://login.microsoftonline.com/contoso.onmicrosoft.com/", "login.microsoftonline.us"]
min_plugin_versions = { clientcreds = "1.2.0" }
`, "", "")
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := func(line, col int) Origin { return Origin{File: l.system, Line: line, Col: col} }
	want := Policy{
		Origin:             o(1, 1),
		DenyFlows:          Value{List: []string{"ropc"}, Origin: o(2, 1)},
		RequirePins:        true,
		RequirePinsOrigin:  o(3, 1),
		AllowedAuthorities: Value{List: []string{"https://login.microsoftonline.com/contoso.onmicrosoft.com/", "login.microsoftonline.us"}, Origin: o(4, 1)},
		MinPluginVersions:  map[string]Value{"clientcreds": {Raw: "1.2.0", Origin: o(5, 25)}},
	}
	if !reflect.DeepEqual(f.Policy, want) {
		t.Fatalf("policy\n got %+v\nwant %+v", f.Policy, want)
	}
}

func TestPolicyParseErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"polcy = 1\n", `SYS:2:1: policy.polcy: unknown key: [policy] takes deny_flows, require_pins, allowed_authorities, min_plugin_versions`},
		{"deny_flow = [\"ropc\"]\n", `policy.deny_flow: unknown key; did you mean "deny_flows"?`},
		{"deny_flows = [\"ROPC\"]\n", `policy.deny_flows: "ROPC" is not a flow id`},
		{"deny_flows = [\"ropc\", \"ropc\"]\n", `"ropc" is listed twice`},
		{"deny_flows = 1\n", `policy.deny_flows: expected a string or an array of strings`},
		{"require_pins = \"yes\"\n", `policy.require_pins: expected true or false, got a string`},
		{"allowed_authorities = [\"http://login.microsoftonline.com\"]\n", `is not an https URL`},
		{"allowed_authorities = [\"login.microsoftonline.com/x\"]\n", `is neither an https URL nor a host`},
		{"allowed_authorities = []\n", `policy.allowed_authorities: is empty`},
		{"min_plugin_versions = { clientcreds = \"1.2\" }\n", `SYS:2:25: policy.min_plugin_versions.clientcreds: "1.2" is not a semantic version`},
		{"min_plugin_versions = { clientcreds = 1 }\n", `expected a string (a semantic version`},
		{"min_plugin_versions = \"1.0.0\"\n", `policy.min_plugin_versions: expected a table`},
		{"deny_flows = [\"ropc\"]\nmin_plugin_versions = { ropc = \"1.0.0\" }\n", `SYS:3:25: policy.min_plugin_versions.ropc: flow ropc is also in deny_flows (at SYS:2:1)`},
	}
	for _, tt := range tests {
		l := newLayout(t, "[policy]\n"+tt.body, "", "")
		_, err := LoadLayers(l.options(nil))
		want := strings.ReplaceAll(tt.want, "SYS", l.system)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", tt.body, err, want)
		}
	}
}

// TestPolicyInLowerLayer: [policy] outside the system file is an error at
// its file:line, whether in the user file, the project file or a flag,
// and even when it would only tighten.
func TestPolicyInLowerLayer(t *testing.T) {
	tests := []struct {
		name, user, project string
		flags               []FlagSetting
		want                string
	}{
		{"user", "[policy]\ndeny_flows = []\n", "", nil, "USER:1:1: policy: [policy] is read only from the system file (SYS)"},
		{"project", "", "\n[policy]\nrequire_pins = false\n", nil, "PROJ:2:1: policy: [policy] is read only from the system file"},
		{"project, dotted", "", "policy.require_pins = false\n", nil, "PROJ:1:1: policy: [policy] is read only"},
		{"flag", "", "", []FlagSetting{{Flag: "--set", TOML: "policy.deny_flows = []"}}, "flag --set: policy: [policy] is read only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(t, "[policy]\ndeny_flows = [\"ropc\"]\n", tt.user, tt.project)
			o := l.options(nil)
			o.Flags = tt.flags
			_, err := LoadLayers(o)
			want := strings.NewReplacer("SYS", l.system, "USER", l.user, "PROJ", l.project).Replace(tt.want)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
		})
	}
	// Parse (a user file) refuses it too.
	if _, err := Parse("c.toml", []byte("[policy]\n")); err == nil || !strings.Contains(err.Error(), "c.toml:1:1: policy: [policy] is read only from the system file") {
		t.Errorf("Parse: %v", err)
	}
}

// TestPolicyRefuses: a profile that breaks the policy is refused by
// File.Profile (which the host uses before starting any plugin), with
// the offending setting's and the policy's file:line; the others load.
func TestPolicyRefuses(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		env     map[string]string
		refused map[string][]string // profile -> substrings; SYS and USER are replaced
	}{
		{"deny_flows", "deny_flows = [\"ropc\"]\n", nil, map[string][]string{
			"legacy": {"USER:6:1: profiles.legacy.chain: flow ropc is denied by the system policy (policy.deny_flows at SYS:2:1)"},
		}},
		{"require_pins", "require_pins = true\n", nil, map[string][]string{
			"legacy": {"flow ropc has no pin", "(policy.require_pins at SYS:2:1)"},
			"ci":     {"USER:9:1: profiles.ci.chain: flow clientcreds has no pin"},
		}},
		{"allowed_authorities", "allowed_authorities = [\"https://login.microsoftonline.com/contoso.onmicrosoft.com\", \"login.microsoftonline.us\"]\n", nil, map[string][]string{
			"evil": {"USER:16:1: profiles.evil.authority: authority \"https://login.microsoftonline.com/contoso-evil.onmicrosoft.com\" is not allowed", "(policy.allowed_authorities at SYS:2:1"},
		}},
		{"the environment cannot loosen it", "allowed_authorities = [\"https://login.microsoftonline.com/contoso.onmicrosoft.com\"]\n", map[string]string{"AZURE_AUTHORITY_HOST": "https://login.evil.example"}, map[string][]string{
			"ci":     {"env AZURE_AUTHORITY_HOST: profiles.ci.authority: authority \"https://login.evil.example/contoso.onmicrosoft.com\" is not allowed"},
			"legacy": {"is not allowed"}, "gov": {"is not allowed"}, "evil": {"is not allowed"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(t, "[policy]\n"+tt.policy, policyUser, "")
			f, err := LoadLayers(l.options(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range f.Order {
				_, err := f.Profile(name)
				wants, refused := tt.refused[name]
				if !refused {
					if err != nil {
						t.Errorf("%s refused: %v", name, err)
					}
					continue
				}
				if !errors.Is(err, ErrPolicy) {
					t.Errorf("%s: err %v does not wrap ErrPolicy", name, err)
					continue
				}
				for _, w := range wants {
					w = strings.NewReplacer("SYS", l.system, "USER", l.user).Replace(w)
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nlacks %q", name, err, w)
					}
				}
			}
		})
	}
}

// TestPolicyPinsCannotBeReplaced: with require_pins, a lower layer that
// replaces the system file's pin is an error; adding a pin is fine.
func TestPolicyPinsCannotBeReplaced(t *testing.T) {
	other := strings.Replace(pin, "0123", "3210", 1)
	sys := "[policy]\nrequire_pins = true\n[plugins.pins]\ndevicecode = \"" + pin + "\"\n"
	l := newLayout(t, sys, "[plugins.pins]\ndevicecode = \""+other+"\"\n", "")
	_, err := LoadLayers(l.options(nil))
	if want := l.user + ":2:1: plugins.pins.devicecode: replaces the system file's pin (at " + l.system + ":4:1)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	l = newLayout(t, sys, "[plugins.pins]\nclientcreds = \""+other+"\"\ndevicecode = \""+pin+"\"\n", "")
	if _, err := LoadLayers(l.options(nil)); err != nil {
		t.Fatalf("adding a pin, repeating one: %v", err)
	}
}

func TestCheckPluginVersion(t *testing.T) {
	o := Origin{File: "/etc/credhost/config.toml", Line: 7, Col: 25}
	pol := Policy{Origin: Origin{File: o.File, Line: 1, Col: 1}, MinPluginVersions: map[string]Value{"clientcreds": {Raw: "1.2.0", Origin: o}}}
	tests := []struct {
		flow, version string
		want          string // "" for allowed
	}{
		{"clientcreds", "1.2.0", ""},
		{"clientcreds", "v1.2.0", ""},
		{"clientcreds", "1.10.0", ""},
		{"clientcreds", "2.0.0-rc.1", ""},
		{"clientcreds", "1.2.1+build.5", ""},
		{"clientcreds", "1.1.9", "/etc/credhost/config.toml:7:25: policy.min_plugin_versions.clientcreds: plugin clientcreds is version 1.1.9, older than the 1.2.0 the system policy requires"},
		{"clientcreds", "1.2.0-rc.1", "older than the 1.2.0"},
		{"clientcreds", "dev", `reports version "dev", which is not a semantic version`},
		{"clientcreds", "", `reports version ""`},
		{"devicecode", "0.0.1", ""}, // no minimum for it
	}
	for _, tt := range tests {
		err := pol.CheckPluginVersion(tt.flow, tt.version)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tt.flow, tt.version, err)
			}
			continue
		}
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: err = %v, want %q", tt.flow, tt.version, err, tt.want)
		}
	}
	if err := (Policy{}).CheckPluginVersion("clientcreds", "dev"); err != nil {
		t.Errorf("zero policy: %v", err)
	}
}

func TestSemverOrder(t *testing.T) {
	// Ascending, from semver.org's precedence example.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, ok1 := parseSemver(order[i])
			b, ok2 := parseSemver(order[j])
			if !ok1 || !ok2 {
				t.Fatalf("parse %q %q", order[i], order[j])
			}
			if got, want := compareSemver(a, b), cmpInt(i, j); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, bad := range []string{"1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3-", "1.2.3-a..b", "a.b.c"} {
		if _, ok := parseSemver(bad); ok {
			t.Errorf("parseSemver(%q) accepted", bad)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestAuthorityAllowed(t *testing.T) {
	tests := []struct {
		authority, entry string
		want             bool
	}{
		{"https://login.microsoftonline.com/contoso", "https://login.microsoftonline.com/contoso", true},
		{"https://login.microsoftonline.com/Contoso/v2.0", "https://login.microsoftonline.com/contoso/", true},
		{"https://login.microsoftonline.com/contoso-evil", "https://login.microsoftonline.com/contoso", false},
		{"https://login.microsoftonline.com/x", "https://login.microsoftonline.com", true},
		{"https://login.microsoftonline.com.evil/x", "https://login.microsoftonline.com", false},
		{"https://login.microsoftonline.us/x", "login.microsoftonline.us", true},
		{"https://LOGIN.microsoftonline.us:443/x", "login.microsoftonline.us", true},
		{"https://login.microsoftonline.us:8443/x", "login.microsoftonline.us:443", false},
		{"https://evil.login.microsoftonline.us/x", "login.microsoftonline.us", false},
	}
	for _, tt := range tests {
		if got := authorityAllowed(tt.authority, tt.entry); got != tt.want {
			t.Errorf("authorityAllowed(%s, %s) = %v", tt.authority, tt.entry, got)
		}
	}
}
