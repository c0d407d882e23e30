package sdk

import "github.com/credhost/credhost/core/plugin"

// Serve runs flow as a credhost plugin; call it from main and nothing else:
//
//	func main() { sdk.Serve(newFlow()) }
//
// Serve owns the handshake, the protocol versions and logging: log with
// zerolog.Ctx(ctx) inside the flow's methods, never secrets. It returns
// when the host is done with the plugin.
func Serve(flow Flow) { plugin.Serve(flow) }
