// Package emulator is a Microsoft Entra ID lookalike served over HTTPS on
// loopback, good enough for the unmodified MSAL Go library.
//
// It serves, for each tenant of its Config (by GUID or domain, plus the
// aliases "common", "organizations" and "consumers"):
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration  ("discovery")
//	GET  /{tenant}/.well-known/openid-configuration       ("discovery_v1")
//	GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys ("keys")
//	GET  /common/discovery/instance                       ("instance_discovery")
//	POST /{tenant}/oauth2/v2.0/token                      ("token")
//	POST /{tenant}/oauth2/v2.0/devicecode                 ("devicecode")
//	GET  /{tenant}/oauth2/v2.0/authorize, POST sign-in    ("authorize")
//	GET  /devicelogin, POST code and sign-in              ("devicelogin")
//	GET  /common/userrealm/{user}                         ("user_realm")
//	GET  /adfs/.well-known/openid-configuration           ("adfs_discovery")
//	GET  /adfs/services/trust/mex                         ("mex")
//	POST /adfs/services/trust/{13|2005}/{usernamemixed|windowstransport} ("wstrust")
//	GET  /federation/.well-known/openid-configuration, /federation/keys,
//	POST /federation/token          (the workload identity issuer)
//
// Paths match case-insensitively, as Entra ID's do.
//
// The directory (resources.go) says what Entra ID says: a token is only
// issued for a resource that exists (an app of the tenant named by client
// id or identifier URI, or a first-party service: Graph, Storage, ARM,
// Key Vault, Azure DevOps), else AADSTS500011; delegated permissions must
// be exposed and consented (AADSTS650053, AADSTS65001); app-only tokens
// carry the app roles assigned to the client. Tokens have the version the
// resource accepts (access_token_v1.go): v1.0 with the sts.windows.net
// issuer and the identifier URI as audience, or v2.0 with the resource's
// client id. Tenant.AutoRegisterResources and Tenant.AutoConsent, set in
// DefaultConfig, relax this for tests. docs/emulator.md lists the claims
// per version and the remaining differences from Entra ID.
//
// The token endpoint dispatches on grant_type to a table of grants, one
// file each (grant_client_credentials.go, grant_device_code.go,
// grant_authorization_code.go, grant_refresh_token.go,
// grant_on_behalf_of.go for the jwt-bearer on-behalf-of grant). Client
// authentication (secret, certificate assertion, federated assertion) is
// shared by all grants (client_auth.go, client_assertion.go); so is the
// issuance of user tokens (user_token.go: access token, id_token,
// client_info, rotated refresh token). Errors look like Entra ID's, with
// AADSTS codes.
//
// Users sign in on the emulator's own pages (signin_page.go) with their
// password; a user with MFA set gets interaction_required (AADSTS50076)
// from every grant, since no emulator sign-in satisfies MFA. Tests drive
// sign-ins with ApproveDeviceCode, DeviceCode (recorded polls),
// ScriptDeviceCode and friends, or unattended with Options.AutoSignIn and
// Options.AutoApproveAfter.
//
// Web APIs: IssueUserToken mints a user's access token for an API's
// audience, the incoming assertion of an on-behalf-of request; a user
// whose User.ConditionalAccess lists a resource gets interaction_required
// with a claims challenge from every user grant for that resource (on an
// API's behalf too), which a request carrying the challenge as its
// "claims" parameter satisfies (claims.go), as does an on-behalf-of
// assertion whose user answered such a challenge (acrs). Confidential clients (web apps) must use their registered
// redirect URIs exactly; authorization codes are single-use (AADSTS54005)
// and live 10 minutes.
//
// Federated users (User.Federated) sign in at the emulator's own AD FS
// lookalike (wsfed*.go): the user realm names its MEX document, whose
// WS-Trust endpoints check a password (usernamemixed) or a Kerberos
// ticket against Options.KerberosKeytab (windowstransport) and issue SAML
// assertions that the saml1_1-bearer and saml2-bearer grants redeem
// (grant_saml_bearer.go). Managed users can use the password grant
// (grant_password.go). Options.FederationHost names the AD FS host.
//
// Point MSAL at it with Authority(tenant), WithHTTPClient(HTTPClient())
// and WithInstanceDiscovery(false):
//
//	srv, _ := emulator.New(emulator.Options{})
//	_ = srv.Start()
//	defer srv.Close()
//	cred, _ := confidential.NewCredFromSecret(emulator.DefaultClientSecret)
//	app, _ := confidential.New(srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID, cred,
//		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
//
// Tests use emulatortest.Start. Faults (InjectFault) and request counters
// (Count) let tests exercise retries and caching. Everything is safe for
// concurrent use.
package emulator
