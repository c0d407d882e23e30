// Command credhost-plugin-githuboidc is a credhost flow plugin for GitHub
// Actions: the job's OIDC token, asked for at ACTIONS_ID_TOKEN_REQUEST_URL,
// is the client assertion of an Entra app that trusts the repository
// (workload identity federation). It is written against the sdk package
// only, as a third party would.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
