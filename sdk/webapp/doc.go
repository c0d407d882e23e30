// Package webapp is credhost for Go web APIs and web apps.
//
// A web API that calls another API for its caller uses API: OnBehalfOf
// takes the bearer token of the incoming request and exchanges it,
// through a credhost profile whose chain is ["obo"], for a downstream
// token; when Entra ID wants the user to step up (conditional access,
// MFA), WriteChallenge answers 401 with the claims challenge in
// WWW-Authenticate, as Microsoft identity platform APIs do.
//
// A web app that signs users in uses SignIn: its Start handler sends the
// browser to the authorization endpoint with state, nonce and PKCE, kept
// in a short-lived signed cookie; its Callback handler checks them and
// hands the code to a Redeemer. CredentialRedeemer redeems it through a
// credhost profile whose chain is ["authcode"] with mode = "webapp": the
// user's tokens go to the host's token cache (Redis for a web farm), and
// later GetToken calls with TokenRequest.Account set to the user's home
// account id are silent. The code reaches the plugin in
// TokenRequest.AuthorizationCode (plugin protocol 3; the host encodes it
// for plugins of older protocols).
package webapp
