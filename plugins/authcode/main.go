// Command credhost-plugin-authcode serves the interactive authorization
// code flow: the user signs in in a browser on this machine, which hands
// the code back to a loopback listener; later tokens come silently from
// the refresh token.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
