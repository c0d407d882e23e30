// Command credhost-plugin-managedidentity is a credhost flow plugin for
// Azure managed identities, written against the sdk package only, as a
// third party would.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
