// Command credhost-plugin-obo serves the on-behalf-of flow: a web API
// exchanges the access token its caller sent (the user assertion) for a
// token to a downstream API, for the same user.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
