package authority

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		authority, host, tenant string
		err                     string
	}{
		{"https://login.microsoftonline.com/contoso.onmicrosoft.com", "login.microsoftonline.com", "contoso.onmicrosoft.com", ""},
		{"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/", "login.microsoftonline.com", "72f988bf-86f1-41af-91ab-2d7cd011db47", ""},
		{"https://127.0.0.1:8443/organizations/v2.0", "127.0.0.1:8443", "organizations", ""},
		{"", "", "", "authority is empty"},
		{"http://login.microsoftonline.com/x", "", "", "not an https URL"},
		{"https://login.microsoftonline.com", "", "", "has no tenant"},
		{"https://login.microsoftonline.com/", "", "", "has no tenant"},
		{"https://login.microsoftonline.com//x", "", "", "has no tenant"},
		{"https:///x", "", "", "has no host"},
		{"https:x", "", "", "has no host"},
		{"https://h/x?y", "", "", "query"},
		{"https://h/x?", "", "", "query"},
		{"https://h/x#y", "", "", "fragment"},
		{"https://u:hunter2@h/x", "", "", "has a user"},
		{"https://h/a%20b", "", "", `tenant "a b" may only hold`},
		{"://x", "", "", "not a URL"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.authority)
		if tt.err == "" {
			if err != nil || a.Host != tt.host || a.Tenant != tt.tenant {
				t.Errorf("Parse(%q) = %+v, %v", tt.authority, a, err)
			}
			if Tenant(tt.authority) != tt.tenant || Host(tt.authority) != tt.host {
				t.Errorf("Tenant, Host(%q) = %q, %q", tt.authority, Tenant(tt.authority), Host(tt.authority))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Parse(%q) error %v, want %q", tt.authority, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) leaks the password: %v", tt.authority, err)
		}
		if Tenant(tt.authority) != "" || Host(tt.authority) != "" {
			t.Errorf("Tenant, Host(%q) = %q, %q for an authority that does not parse", tt.authority, Tenant(tt.authority), Host(tt.authority))
		}
	}
}

func TestIsMultiTenant(t *testing.T) {
	for tenant, want := range map[string]bool{
		"common": true, "Organizations": true, " consumers ": true,
		"contoso.onmicrosoft.com": false, "72f988bf-86f1-41af-91ab-2d7cd011db47": false, "": false,
	} {
		if got := IsMultiTenant(tenant); got != want {
			t.Errorf("IsMultiTenant(%q) = %v, want %v", tenant, got, want)
		}
	}
}

// TestStandardLibraryOnly: plugins link core/authority (through internal/) and sdk/jwtpeek
// without linking anything else of ours or a third party's.
func TestStandardLibraryOnly(t *testing.T) {
	self := []string{"github.com/credhost/credhost/core/authority", "github.com/credhost/credhost/sdk/jwtpeek"}
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, self...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !slices.Contains(self, p) {
			t.Errorf("%s is linked by core/authority or sdk/jwtpeek", p)
		}
	}
}
