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
	// Roles are the app roles put in the app's app-only tokens.
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
	// that a conditional access policy guards for this user: on-behalf-of
	// requests for them answer interaction_required (AADSTS50076) with a
	// claims challenge, which the middle-tier API relays to its client. No
	// emulator sign-in satisfies the policy.
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
)

// DefaultRedirectURIs are the loopback redirect URIs of the demo public
// client; any port is accepted on them (RFC 8252).
var DefaultRedirectURIs = []string{"http://localhost", "http://127.0.0.1"}

// DefaultConfig returns the demo directory: tenant DefaultTenantID
// (DefaultTenantDomain) with the confidential app "credhost-demo"
// (DefaultClientID, secret DefaultClientSecret), the public client
// "credhost-cli" (DefaultPublicClientID, loopback redirect URIs), the user
// DefaultUsername with password DefaultPassword and the MFA user
// DefaultMFAUsername. Each call returns a fresh value.
func DefaultConfig() Config {
	return Config{Tenants: []Tenant{{
		ID:     DefaultTenantID,
		Domain: DefaultTenantDomain,
		Apps: []App{{
			ClientID: DefaultClientID,
			Name:     "credhost-demo",
			Secrets:  []string{DefaultClientSecret},
		}, {
			ClientID:     DefaultPublicClientID,
			Name:         "credhost-cli",
			Public:       true,
			RedirectURIs: append([]string(nil), DefaultRedirectURIs...),
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
		apps := map[string]bool{}
		for j, a := range t.Apps {
			if err := a.validate(); err != nil {
				errs = append(errs, fmt.Errorf("tenants[%d].apps[%d]: %w", i, j, err))
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
