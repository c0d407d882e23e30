// Command credhost-plugin-iwa serves Integrated Windows Authentication on
// Linux and macOS: a user with a Kerberos ticket (kinit) of a federated
// domain gets tokens with no prompt, through the federation server's
// WS-Trust windowstransport endpoint.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
