// Package federation is the client side of federated sign-in to Entra ID
// that MSAL Go does not expose: user realm discovery, WS-MetadataExchange
// (MEX) parsing, WS-Trust requests and responses, and the SAML assertions
// they carry. Integrated Windows Authentication (plugins/iwa) uses all of
// it; username/password (plugins/ropc) lets MSAL do WS-Trust and uses this
// package only to classify the federation server's SOAP faults.
//
// Every document comes from the network, so every parser here bounds what
// it reads (MaxDocumentSize, a nesting depth, a token count), refuses
// DTDs, and is fuzzed (fuzz_test.go). Go's encoding/xml never resolves
// external entities; the bounds protect memory and time. Errors never
// carry a password, a Kerberos token or an assertion: assertions travel as
// core.Secret.
package federation
