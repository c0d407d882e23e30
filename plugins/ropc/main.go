// Command credhost-plugin-ropc serves the username/password flow (OAuth
// 2.0 resource owner password credentials), for managed and federated
// users. It is deprecated and not recommended: prefer devicecode, authcode
// or iwa.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
