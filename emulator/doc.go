// Package emulator is a Microsoft Entra ID lookalike served over HTTPS on
// loopback, good enough for the unmodified MSAL Go library.
//
// It serves, for each tenant of its Config (by GUID or domain, plus the
// aliases "common", "organizations" and "consumers"):
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration  ("discovery")
//	GET  /{tenant}/discovery/v2.0/keys                    ("keys")
//	GET  /common/discovery/instance                       ("instance_discovery")
//	POST /{tenant}/oauth2/v2.0/token                      ("token")
//
// The token endpoint dispatches on grant_type to a table of grants, one
// file each (grant_client_credentials.go). Client authentication (secret,
// certificate assertion, federated assertion) is shared by all grants
// (client_auth.go, client_assertion.go). Errors look like Entra ID's,
// with AADSTS codes.
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
