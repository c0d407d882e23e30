// Package sdk is credhost for Go programs: plugin authors serve a flow with
// Serve, and embedders get a Credential for a profile with Open.
//
// A Client answers GetToken from its in-process cache (a map lookup under a
// read lock). A program that asks for the same token on every request
// binds a TokenSource instead (Client.Bind): its hit is an atomic load and
// an expiry check, and it refreshes in the background ahead of expiry, so
// no caller waits while it holds a valid token:
//
//	src, err := client.Bind(sdk.TokenRequest{Scopes: []string{"api://my-api/.default"}})
//	...
//	tok, err := src.Token(ctx)
//
// sdk/oauth2.Bound adapts a TokenSource to golang.org/x/oauth2.
//
// It re-exports the core types as aliases, so a plugin imports only sdk.
package sdk
