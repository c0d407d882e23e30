package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
)

// TestTenantGuard: a request for another tenant is refused unless
// AZURE_ADDITIONALLY_ALLOWED_TENANTS lists it or "*", for the profile with
// no config file always and for file profiles when the variable is set.
func TestTenantGuard(t *testing.T) {
	asked := 0
	next := core.CredentialFunc(func(context.Context, core.TokenRequest) (core.Token, error) {
		asked++
		return core.Token{AccessToken: core.NewSecret("t")}, nil
	})
	file := &config.Profile{Name: "p", Authority: config.Value{Raw: "https://login.microsoftonline.com/t1"}}
	def := &config.Profile{Name: "env", Authority: file.Authority, Default: []config.DefaultMember{{Credential: config.CredAzureCLI, Flow: "azurecli"}}}
	multi := &config.Profile{Name: "env", Authority: config.Value{Raw: "https://login.microsoftonline.com/organizations"}, Default: def.Default}
	tests := []struct {
		name    string
		p       *config.Profile
		allowed string
		tenant  string
		ok      bool
	}{
		{"own tenant", def, "", "T1", true},
		{"no tenant asked", def, "", "", true},
		{"default chain refuses others", def, "", "t2", false},
		{"listed", def, "t2; t3", "T3", true},
		{"not listed", def, "t2;t3", "t4", false},
		{"any", def, "*", "t4", true},
		{"file profile without the variable: any", file, "", "t2", true},
		{"file profile with the variable", file, "t3", "t2", false},
		{"multi-tenant authority", multi, "", "t2", true},
	}
	for _, tt := range tests {
		asked = 0
		cred := guardTenants(tt.p, func(k string) string {
			if k == config.EnvAdditionallyAllowedTenants {
				return tt.allowed
			}
			return ""
		}, next)
		_, err := cred.GetToken(context.Background(), core.TokenRequest{TenantID: tt.tenant})
		if (err == nil) != tt.ok || (asked == 1) != tt.ok {
			t.Errorf("%s: err %v, asked %d", tt.name, err, asked)
		}
		var e *core.Error
		if err != nil && (!errors.As(err, &e) || !strings.Contains(e.Hint, config.EnvAdditionallyAllowedTenants)) {
			t.Errorf("%s: %v lacks the hint", tt.name, err)
		}
	}
}
