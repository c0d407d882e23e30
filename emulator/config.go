package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Config is the directory the emulator serves: tenants with their apps and
// users. A Config is plain data; New copies it, so later changes to the
// value have no effect on a running Server.
type Config struct {
	Tenants []Tenant `json:"tenants"`
}

// Tenant is one Entra ID tenant. Both ID and Domain can be used as the
// tenant segment of a URL.
type Tenant struct {
	// ID is the tenant GUID, e.g. "72f988bf-0000-4000-8000-000000000001".
	ID string `json:"id"`
	// Domain is the tenant's primary domain, e.g. "contoso.onmicrosoft.com".
	// It may be empty.
	Domain string `json:"domain"`
	Apps   []App  `json:"apps"`
	Users  []User `json:"users"`
	// AutoRegisterResources makes a token request for a resource no app
	// of the tenant (and no first-party service) is named by succeed, as
	// if an app with that identifier URI, accepting v1.0 tokens and
	// exposing every permission asked for, had been registered and
	// consented to. Entra ID answers AADSTS500011 instead; this is a
	// convenience for tests that invent resource names. DefaultConfig
	// sets it.
	AutoRegisterResources bool `json:"auto_register_resources,omitempty"`
	// AutoConsent treats every delegated permission a resource exposes as
	// consented for every app, as if an administrator had granted
	// tenant-wide consent to everything. Entra ID answers AADSTS65001
	// (consent_required) to a non-interactive request for a permission
	// nobody consented to; without AutoConsent, the emulator does too.
	// DefaultConfig sets it.
	AutoConsent bool `json:"auto_consent,omitempty"`
}

// App is an app registration (and its service principal) in a tenant.
type App struct {
	// ClientID is the application (client) id.
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	// Secrets are the client secret values the app may present.
	Secrets []string `json:"secrets,omitempty"`
	// Certificates are PEM certificates whose RSA keys may sign client
	// assertions. One string may hold several CERTIFICATE blocks.
	Certificates []string `json:"certificates,omitempty"`
	// FederatedCredentials are the workload identity federation trusts.
	FederatedCredentials []FederatedCredential `json:"federated_credentials,omitempty"`
	RedirectURIs         []string              `json:"redirect_uris,omitempty"`
	// Public marks a public client (no credentials, cannot use
	// client_credentials).
	Public bool `json:"public,omitempty"`
	// AllowPublicClientFlows is the "Allow public client flows" setting:
	// a confidential app may then use the password and device code grants
	// without its credential. Without it such a request without a client
	// credential is AADSTS7000218. Public apps always may.
	AllowPublicClientFlows bool `json:"allow_public_client_flows,omitempty"`

	// The app as a resource (a web API):

	// IdentifierURIs are the application id URIs naming the app as a
	// resource, e.g. "api://my-api"; its client id always names it too.
	IdentifierURIs []string `json:"identifier_uris,omitempty"`
	// Scopes are the delegated permissions the app exposes
	// (oauth2PermissionScopes values), e.g. "access_as_user".
	Scopes []string `json:"scopes,omitempty"`
	// AppRoles are the app roles the app defines (values), which other
	// apps can be assigned (Permission.Roles).
	AppRoles []string `json:"app_roles,omitempty"`
	// AccessTokenVersion is the manifest's accessTokenAcceptedVersion: 2
	// for v2.0 access tokens; 0 (unset) or 1 for v1.0 ones, as in Entra ID.
	AccessTokenVersion int `json:"access_token_version,omitempty"`

	// The app as a client:

	// Permissions are what the app holds on resources: delegated
	// permissions an administrator consented to for all users, and app
	// roles assigned to it (the "roles" of its app-only tokens).
	Permissions []Permission `json:"permissions,omitempty"`
}

// Permission is what a client app holds on one resource.
type Permission struct {
	// Resource names the resource app: its client id or an identifier
	// URI, e.g. "https://graph.microsoft.com" or GraphAppID.
	Resource string `json:"resource"`
	// Scopes are the consented delegated permissions, e.g. "User.Read".
	Scopes []string `json:"scopes,omitempty"`
	// Roles are the assigned app roles, e.g. "User.Read.All".
	Roles []string `json:"roles,omitempty"`
}

// DefaultFederatedAudience is the audience Entra ID expects in a federated
// assertion unless the federated credential says otherwise.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// FederatedCredential trusts assertions from Issuer about Subject for
// Audience, like a federated identity credential on an app registration.
type FederatedCredential struct {
	// Issuer is the assertion's "iss". Empty means the emulator's own
	// FederationIssuer, which is handy in config files written before the
	// port is known.
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	// Audience is the required "aud"; empty means DefaultFederatedAudience.
	Audience string `json:"audience,omitempty"`
}

// User is a user account in a tenant.
type User struct {
	// Username is the user principal name, e.g. "alice@contoso.onmicrosoft.com".
	Username string `json:"username"`
	Password string `json:"password"`
	// ObjectID is the user's object id; empty means one derived from the
	// tenant and username, stable across runs.
	ObjectID    string `json:"object_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// MFA makes password-only sign-ins fail with interaction_required.
	MFA bool `json:"mfa,omitempty"`
	// Federated makes the user's domain federated: the user realm
	// endpoint sends sign-ins to the emulator's own AD FS lookalike
	// (WS-Trust usernamemixed with Password, windowstransport with a
	// Kerberos ticket for KerberosPrincipal), which issues the SAML
	// assertions the saml1_1-bearer and saml2-bearer grants redeem.
	// Entra ID itself never checks a federated user's password.
	Federated bool `json:"federated,omitempty"`
	// KerberosPrincipal is the Kerberos principal that signs in as this
	// federated user at windowstransport, e.g. "alice@CORP.EXAMPLE.COM";
	// empty means the username with its domain upper-cased, the usual
	// mapping of an Active Directory UPN.
	KerberosPrincipal string `json:"kerberos_principal,omitempty"`
	// ConditionalAccess lists resources (e.g. "https://graph.microsoft.com")
	// that a conditional access policy guards for this user: every user
	// grant for them (on-behalf-of included, whose middle-tier API relays
	// it) answers interaction_required (AADSTS50076) with a claims
	// challenge naming the policy. A request whose "claims" parameter
	// carries that challenge is issued the token, as if the user had
	// completed multi-factor authentication; its token has "acrs".
	ConditionalAccess []string `json:"conditional_access,omitempty"`
}

// LoadConfig reads a JSON Config from path. Unknown fields are rejected so
// that typos do not go unnoticed.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("emulator: load config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("emulator: load config %s: %w", path, err)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("emulator: load config %s: %w", path, err)
	}
	return cfg, nil
}

// Well-known values of DefaultConfig.
const (
	DefaultTenantID     = "72f988bf-0000-4000-8000-000000000001"
	DefaultTenantDomain = "contoso.onmicrosoft.com"
	DefaultClientID     = "11111111-1111-4111-8111-111111111111"
	DefaultClientSecret = "demo-secret-value"
	DefaultUsername     = "alice@contoso.onmicrosoft.com"
	DefaultPassword     = "alice-password"
	// DefaultPublicClientID is the public client "credhost-cli" of the
	// demo tenant, for user sign-ins (device code, interactive).
	DefaultPublicClientID = "0c1e7c11-0000-4000-8000-0000000c11e7"
	// DefaultMFAUsername is a demo user who requires multi-factor
	// authentication, which no emulator sign-in gives: every grant for
	// them answers interaction_required (AADSTS50076).
	DefaultMFAUsername = "bob@contoso.onmicrosoft.com"
	DefaultMFAPassword = "bob-password"
	// DefaultAPIClientID is the web API "credhost-demo-api" of the demo
	// tenant: identifier URI DefaultAPIIdentifierURI, v2.0 access tokens
	// (so their "aud" is this client id), delegated permissions
	// access_as_user and read, app role Data.Read.
	DefaultAPIClientID      = "4e500000-0000-4000-8000-00000000a919"
	DefaultAPIIdentifierURI = "api://resource"
)

// DefaultRedirectURIs are the loopback redirect URIs of the demo public
// client; any port is accepted on them (RFC 8252).
var DefaultRedirectURIs = []string{"http://localhost", "http://127.0.0.1"}

// DefaultConfig returns the demo directory: tenant DefaultTenantID
// (DefaultTenantDomain) with the confidential app "credhost-demo"
// (DefaultClientID, secret DefaultClientSecret), the public client
// "credhost-cli" (DefaultPublicClientID, loopback redirect URIs), the web
// API "credhost-demo-api" (DefaultAPIClientID, v2.0 tokens), the user
// DefaultUsername with password DefaultPassword and the MFA user
// DefaultMFAUsername. Both apps are consented to Graph's User.Read and
// the other first-party services' user_impersonation; the tenant has
// AutoRegisterResources and AutoConsent, which tests that invent resource
// names rely on (clear them for Entra ID's strictness). Each call returns
// a fresh value.
func DefaultConfig() Config {
	// Both apps hold consent to the first-party services' usual delegated
	// permission, so ".default" for them gives what it gives in a tenant
	// where an administrator consented to those permissions.
	consented := func() []Permission {
		return []Permission{
			{Resource: GraphAppID, Scopes: []string{"User.Read"}},
			{Resource: StorageAppID, Scopes: []string{"user_impersonation"}},
			{Resource: ARMAppID, Scopes: []string{"user_impersonation"}},
			{Resource: KeyVaultAppID, Scopes: []string{"user_impersonation"}},
			{Resource: DevOpsAppID, Scopes: []string{"user_impersonation"}},
		}
	}
	return Config{Tenants: []Tenant{{
		ID:                    DefaultTenantID,
		Domain:                DefaultTenantDomain,
		AutoRegisterResources: true,
		AutoConsent:           true,
		Apps: []App{{
			ClientID: DefaultClientID,
			Name:     "credhost-demo",
			Secrets:  []string{DefaultClientSecret},
			// The demo app is also a web API (for on-behalf-of), with
			// the manifest defaults: v1.0 tokens, api://<client id>.
			IdentifierURIs: []string{"api://" + DefaultClientID},
			Scopes:         []string{UserTokenScope},
			Permissions:    consented(),
		}, {
			ClientID:     DefaultPublicClientID,
			Name:         "credhost-cli",
			Public:       true,
			RedirectURIs: append([]string(nil), DefaultRedirectURIs...),
			Permissions: append(consented(),
				Permission{Resource: "api://" + DefaultClientID, Scopes: []string{UserTokenScope}},
				Permission{Resource: DefaultAPIClientID, Scopes: []string{UserTokenScope}}),
		}, {
			ClientID:           DefaultAPIClientID,
			Name:               "credhost-demo-api",
			IdentifierURIs:     []string{DefaultAPIIdentifierURI},
			Scopes:             []string{UserTokenScope, "read"},
			AppRoles:           []string{"Data.Read"},
			AccessTokenVersion: 2,
		}},
		Users: []User{{
			Username:    DefaultUsername,
			Password:    DefaultPassword,
			DisplayName: "Alice",
		}, {
			Username:    DefaultMFAUsername,
			Password:    DefaultMFAPassword,
			DisplayName: "Bob",
			MFA:         true,
		}},
	}}}
}

// validate checks what New needs: tenant ids are GUIDs, and ids, domains,
// client ids and usernames are unique. Certificates are checked when the
// directory is built.
func (c Config) validate() error {
	seen := map[string]bool{}
	var errs []error
	for i, t := range c.Tenants {
		if !isGUID(t.ID) {
			errs = append(errs, fmt.Errorf("tenants[%d]: id %q is not a GUID", i, t.ID))
		}
		for _, key := range []string{t.ID, t.Domain} {
			k := strings.ToLower(key)
			if k == "" {
				continue
			}
			if seen[k] || reservedTenants[k] {
				errs = append(errs, fmt.Errorf("tenants[%d]: %q is used twice or reserved", i, key))
			}
			seen[k] = true
		}
		apps, uris := map[string]bool{}, map[string]bool{}
		for j, a := range t.Apps {
			if err := a.validate(); err != nil {
				errs = append(errs, fmt.Errorf("tenants[%d].apps[%d]: %w", i, j, err))
			}
			// Entra ID keeps identifier URIs unique in a tenant.
			for _, u := range a.IdentifierURIs {
				k := strings.ToLower(strings.TrimSuffix(u, "/"))
				if uris[k] {
					errs = append(errs, fmt.Errorf("tenants[%d].apps[%d]: identifier URI %q is used twice", i, j, u))
				}
				uris[k] = true
			}
			if k := strings.ToLower(a.ClientID); apps[k] {
				errs = append(errs, fmt.Errorf("tenants[%d].apps[%d]: client id %q is used twice", i, j, a.ClientID))
			} else {
				apps[k] = true
			}
		}
		users := map[string]bool{}
		for j, u := range t.Users {
			k := strings.ToLower(u.Username)
			switch {
			case k == "":
				errs = append(errs, fmt.Errorf("tenants[%d].users[%d]: username is empty", i, j))
			case users[k]:
				errs = append(errs, fmt.Errorf("tenants[%d].users[%d]: username %q is used twice", i, j, u.Username))
			}
			users[k] = true
		}
	}
	return errors.Join(errs...)
}

func (a App) validate() error {
	if strings.TrimSpace(a.ClientID) == "" {
		return errors.New("client_id is empty")
	}
	if a.Public && (len(a.Secrets) > 0 || len(a.Certificates) > 0 || len(a.FederatedCredentials) > 0) {
		return fmt.Errorf("app %s is public and cannot have credentials", a.ClientID)
	}
	for i, fc := range a.FederatedCredentials {
		if fc.Subject == "" {
			return fmt.Errorf("federated_credentials[%d]: subject is empty", i)
		}
	}
	if v := a.AccessTokenVersion; v != 0 && v != 1 && v != 2 {
		return fmt.Errorf("app %s: access_token_version %d: use 1 or 2", a.ClientID, v)
	}
	for i, p := range a.Permissions {
		if strings.TrimSpace(p.Resource) == "" {
			return fmt.Errorf("app %s: permissions[%d]: resource is empty", a.ClientID, i)
		}
	}
	return nil
}

// reservedTenants are the tenant segments that name no single tenant.
var reservedTenants = map[string]bool{"common": true, "organizations": true, "consumers": true}

// isGUID reports whether s is a GUID in the 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
