// Command credhost-plugin-devicecode serves the device code flow: the
// user signs in on any device with a browser by entering a code that
// credhost shows, then tokens are refreshed silently.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
