package emulator

import (
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Resources: what a token may be for. Entra ID issues a token only for a
// resource it knows (an app registration's service principal in the
// tenant, or a first-party service present in every tenant), in the format
// the resource accepts (its manifest's accessTokenAcceptedVersion: unset
// or 1 means v1.0, 2 means v2.0), carrying only what was consented
// (delegated permissions, "scp") or assigned (app roles, "roles").

// Well-known first-party resources, with Entra ID's application ids.
const (
	GraphAppID    = "00000003-0000-0000-c000-000000000000"
	StorageAppID  = "e406a681-f3d4-42a8-90b6-c2b029497af1"
	ARMAppID      = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
	KeyVaultAppID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
	DevOpsAppID   = "499b84ac-1321-427f-aa17-267ca6975798"
)

// firstPartyApps are the Microsoft services every tenant has, with the
// identifier URIs, versions and (a useful subset of) the permissions
// Entra ID gives them. All accept v1.0 tokens only.
var firstPartyApps = []App{{
	ClientID:       GraphAppID,
	Name:           "Microsoft Graph",
	IdentifierURIs: []string{"https://graph.microsoft.com", "https://graph.microsoft.com/", "https://graph.windows.net"},
	Scopes: []string{"User.Read", "User.ReadBasic.All", "User.Read.All", "Mail.Read", "Mail.Send", "Calendars.Read",
		"Files.Read", "Files.ReadWrite", "Group.Read.All", "Directory.Read.All", "Sites.Read.All", "email", "openid", "profile", "offline_access"},
	AppRoles: []string{"User.Read.All", "Directory.Read.All", "Group.Read.All", "Mail.Read", "Sites.Read.All", "Application.Read.All"},
}, {
	ClientID:       StorageAppID,
	Name:           "Azure Storage",
	IdentifierURIs: []string{"https://storage.azure.com", "https://storage.azure.com/"},
	Scopes:         []string{"user_impersonation"},
}, {
	ClientID:       ARMAppID,
	Name:           "Windows Azure Service Management API",
	IdentifierURIs: []string{"https://management.azure.com/", "https://management.core.windows.net/", "https://management.azure.com", "https://management.core.windows.net"},
	Scopes:         []string{"user_impersonation"},
}, {
	ClientID:       KeyVaultAppID,
	Name:           "Azure Key Vault",
	IdentifierURIs: []string{"https://vault.azure.net", "https://vault.azure.net/"},
	Scopes:         []string{"user_impersonation"},
}, {
	ClientID:       DevOpsAppID,
	Name:           "Azure DevOps",
	IdentifierURIs: []string{"https://app.vssps.visualstudio.com"},
	Scopes:         []string{"user_impersonation"},
}}

// firstParty are firstPartyApps as records, built once.
var firstParty = sync.OnceValue(func() []*appRec {
	out := make([]*appRec, 0, len(firstPartyApps))
	for _, a := range firstPartyApps {
		ar, err := newAppRec("", a)
		if err != nil {
			panic("emulator: first-party app: " + err.Error())
		}
		out = append(out, ar)
	}
	return out
})

// resourceGrant is a resource as a token request named it.
type resourceGrant struct {
	app *appRec
	// requested is the resource as named, e.g. "https://graph.microsoft.com"
	// or a client id: a v1.0 token's "aud".
	requested string
	// v1 is whether tokens for it are v1.0.
	v1 bool
	// open marks a resource the tenant registered on first use
	// (Tenant.AutoRegisterResources): every permission exists on it.
	open bool
}

// aud is the token's audience: v2.0 tokens name the resource by its
// client id, v1.0 tokens by the identifier it was requested with.
func (r *resourceGrant) aud() string {
	if r.v1 {
		return r.requested
	}
	return r.app.ClientID
}

// matches reports whether name names a: its client id or one of its
// identifier URIs, without case and a trailing slash.
func (a *appRec) matches(name string) bool {
	n := strings.TrimSuffix(name, "/")
	if strings.EqualFold(n, a.ClientID) {
		return true
	}
	for _, u := range a.IdentifierURIs {
		if strings.EqualFold(strings.TrimSuffix(u, "/"), n) {
			return true
		}
	}
	return false
}

// findResource finds the app named name among t's apps and the
// first-party ones; the tenant's own registrations win.
func (d *directory) findResource(t *tenantRec, name string) (*appRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if t != nil {
		if a, ok := t.apps[strings.ToLower(name)]; ok {
			return a, true
		}
		for _, a := range t.appList {
			if a.matches(name) {
				return a, true
			}
		}
	}
	for _, a := range firstParty() {
		if a.matches(name) {
			return a, true
		}
	}
	return nil, false
}

// resolveResource finds the resource a token request for tenant t names.
// An unknown one is AADSTS500011, unless t registers resources on first
// use. Options.V1Resources and V2Resources override the version, and
// register a resource the tenant lacks.
func (s *Server) resolveResource(t *tenantRec, name string) (*resourceGrant, *aadError) {
	rg := &resourceGrant{requested: name}
	if a, ok := s.dir.findResource(t, name); ok {
		rg.app = a
		rg.v1 = a.AccessTokenVersion != 2
	} else if t != nil && (t.autoRegister || containsResource(s.opts.V1Resources, name) || containsResource(s.opts.V2Resources, name)) {
		// Registered on first use: by a lenient tenant, or because the
		// options name the resource (`credhost emulator --v1-resource
		// api://kubernetes` is an API the tenant has, open to its apps).
		rg.app = &appRec{App: App{ClientID: stableGUID("resource", t.id, strings.ToLower(name)), Name: name, IdentifierURIs: []string{name}}, tenantID: t.id}
		rg.app.objectID = stableGUID("app", t.id, rg.app.ClientID)
		rg.v1, rg.open = true, true
	} else {
		tenant := "the tenant"
		if t != nil {
			tenant = "the tenant named " + t.id
		}
		return nil, newError(http.StatusBadRequest, "invalid_resource", 500011,
			"The resource principal named %s was not found in %s. This can happen if the application has not been installed by the "+
				"administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
			name, tenant)
	}
	switch {
	case containsResource(s.opts.V1Resources, name):
		rg.v1 = true
	case containsResource(s.opts.V2Resources, name):
		rg.v1 = false
	}
	return rg, nil
}

// containsResource reports whether list names resource, compared without
// case and a trailing slash, as Entra ID matches identifier URIs.
func containsResource(list []string, resource string) bool {
	r := strings.TrimSuffix(resource, "/")
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(r, strings.TrimSuffix(v, "/")) })
}

// permissionOn returns what client holds on res: its admin-consented
// delegated permissions and assigned app roles.
func (client *appRec) permissionOn(res *appRec) Permission {
	var p Permission
	for _, g := range client.Permissions {
		if res.matches(g.Resource) {
			p.Scopes = append(p.Scopes, g.Scopes...)
			p.Roles = append(p.Roles, g.Roles...)
		}
	}
	return p
}

// appRoles returns the "roles" of an app-only token of client for res:
// the roles assigned to it that res defines. On a resource registered on
// first use every assigned role counts.
func appRoles(client *appRec, res *resourceGrant) []string {
	var out []string
	for _, r := range client.permissionOn(res.app).Roles {
		if (res.open || containsFold(res.app.AppRoles, r)) && !containsFold(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// delegatedScopes decides the "scp" of a user token of client for res,
// for the permissions asked (".default" meaning all consented ones).
// consented are the user's own grants to client on res. A permission res
// does not expose is AADSTS650053; one nobody consented to is AADSTS65001
// (consent_required), unless the tenant consents automatically.
func (s *Server) delegatedScopes(t *tenantRec, client *appRec, res *resourceGrant, perms, consented []string) (string, *aadError) {
	granted := append(client.permissionOn(res.app).Scopes, consented...)
	auto := res.open || (t != nil && t.autoConsent)
	var out []string
	add := func(p string) {
		if !containsFold(out, p) {
			out = append(out, p)
		}
	}
	for _, p := range perms {
		if p != ".default" {
			if !res.open && !containsFold(res.app.Scopes, p) {
				return "", newError(http.StatusBadRequest, "invalid_scope", 650053,
					"The application '%s' asked for scope '%s' that doesn't exist on the resource '%s'. Contact the app vendor.",
					client.Name, p, res.app.ClientID)
			}
			if !auto && !containsFold(granted, p) {
				return "", errConsentRequired(client)
			}
			add(p)
			continue
		}
		for _, g := range granted {
			if res.open || containsFold(res.app.Scopes, g) {
				add(g)
			}
		}
		if len(out) == 0 && auto {
			// Nothing consented explicitly: the resource's first
			// permission, as an admin consenting to the app's
			// configured permissions would have granted.
			if res.open || len(res.app.Scopes) == 0 {
				add("user_impersonation")
			} else {
				add(res.app.Scopes[0])
			}
		}
		if len(out) == 0 {
			return "", errConsentRequired(client)
		}
	}
	return strings.Join(out, " "), nil
}

// errConsentRequired is Entra ID's answer when nobody consented to what a
// non-interactive request asks for.
func errConsentRequired(client *appRec) *aadError {
	e := newError(http.StatusBadRequest, "invalid_grant", 65001,
		"The user or administrator has not consented to use the application with ID '%s' named '%s'. "+
			"Send an interactive authorization request for this user and resource.", client.ClientID, client.Name)
	e.subError = "consent_required"
	return e
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}
