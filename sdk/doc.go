// Package sdk is credhost for Go programs: plugin authors serve a flow with
// Serve, and embedders get a Credential for a profile with Open.
//
// It re-exports the core types as aliases, so a plugin imports only sdk.
package sdk
