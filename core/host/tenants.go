package host

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
	"github.com/credhost/credhost/core/config"
)

// tenantGuard refuses requests for a tenant other than the profile's,
// unless AZURE_ADDITIONALLY_ALLOWED_TENANTS lists it (or "*"), as
// azidentity's credentials do. It applies to the profile with no config
// file always (it is azidentity's chain), and to file profiles when the
// variable is set; a profile whose authority names no single tenant
// (organizations, common) may ask for any.
type tenantGuard struct {
	profile string
	own     string
	allowed []string
	next    core.Credential
}

// guardTenants wraps cred in a tenantGuard where one applies.
func guardTenants(p *config.Profile, getenv func(string) string, cred core.Credential) core.Credential {
	list := getenv(config.EnvAdditionallyAllowedTenants)
	if list == "" && p.Default == nil {
		return cred
	}
	own := authority.Tenant(p.Authority.Raw)
	if own == "" || authority.IsMultiTenant(own) {
		return cred
	}
	var allowed []string
	for _, t := range strings.Split(list, ";") {
		if t = strings.TrimSpace(t); t != "" {
			allowed = append(allowed, strings.ToLower(t))
		}
	}
	return &tenantGuard{profile: p.Name, own: strings.ToLower(own), allowed: allowed, next: cred}
}

// GetToken implements core.Credential.
func (g *tenantGuard) GetToken(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	t := strings.ToLower(req.TenantID)
	if t != "" && t != g.own && !slices.Contains(g.allowed, t) && !slices.Contains(g.allowed, "*") {
		return core.Token{}, &core.Error{Kind: core.KindFailed,
			Err:  fmt.Errorf("profile %q may not request tokens from tenant %q (its tenant is %q)", g.profile, req.TenantID, g.own),
			Hint: fmt.Sprintf("add the tenant to %s (\";\"-separated, \"*\" for any)", config.EnvAdditionallyAllowedTenants)}
	}
	return g.next.GetToken(ctx, req)
}
