package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/core/authority"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// placed in the file, and that a file it accepts holds only valid
// profiles.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.toml")
	bad, _ := filepath.Glob("testdata/bad/*.toml")
	for _, path := range append(seeds, bad...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"[profiles.p]\nauthority = \"https://h/t\"\nclient_id = \"c\"\nchain = [\"a\"]\n",
		"profiles.p = { authority = \"https://h/t\", client_id = \"c\", chain = [\"a\"], a = { k = [\"v\"] } }",
		"[[profiles.p]]\n[[profiles.p]]\nx = 1\n",
		"[profiles]\np.a.b.c = 1\n",
		"[a.b]\n[a]\nb.c = 1\n",
		"x = [[[[[]]]]]\n",
		"\ufeff[plugins.pins]\nx = \"sha256:\"\n",
		"[profiles.p]\nauthority = \"https://h/t\"\nclient_id = \"c\"\nchain = [\"a\"]\n[profiles.p.match]\nenv = { CI = \"true\" }\nenv_set = \"X\"\nfile = [\"f\"]\nkubernetes = true\ntty = false\nos = [\"linux\"]\n",
		"[profiles.p.match]\n[defaults.match]\n",
		"[policy]\ndeny_flows = [\"ropc\"]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.toml", data)
		if err != nil {
			if file != nil {
				t.Fatal("a File came back with the errors")
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			for i, e := range list {
				if e == nil || e.Origin.File != "f.toml" || e.Origin.Line < 1 || e.Origin.Col < 1 || e.Msg == "" {
					t.Fatalf("error %d is not placed: %#v", i, e)
				}
				if i > 0 && e.Origin.Line < list[i-1].Origin.Line {
					t.Fatalf("errors not sorted: %v", err)
				}
			}
			_ = err.Error()
			return
		}
		if len(file.Order) != len(file.Profiles) {
			t.Fatalf("order %v for %d profiles", file.Order, len(file.Profiles))
		}
		for _, name := range file.Order {
			p := file.Profiles[name]
			if p == nil || p.Name != name {
				t.Fatalf("profile %q is %+v", name, p)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Parse accepted a profile that Validate rejects: %v", err)
			}
			if p.Match != nil && len(p.Match.Rules) == 0 {
				t.Fatalf("accepted a match table without rules: %+v", p.Match)
			}
			if _, err := authority.Parse(p.Authority.Raw); err != nil {
				t.Fatalf("accepted authority: %v", err)
			}
			for flow, opts := range p.Flows {
				for key := range opts {
					if e := p.ErrorAt(flow+"."+key, "x"); e.Origin.Line < 1 || !strings.HasPrefix(e.Key, "profiles.") {
						t.Fatalf("ErrorAt(%s.%s) = %v", flow, key, e)
					}
				}
			}
		}
		for flow, pin := range file.Plugins.Pins {
			if !validPin(pin.Raw) || !validFlowID(flow) {
				t.Fatalf("accepted pin %s = %q", flow, pin.Raw)
			}
		}
	})
}
