package sdk

import "github.com/credhost/credhost/core/plugin"

// Serve runs flow as a credhost plugin; call it from main and nothing else:
//
//	func main() { sdk.Serve(newFlow()) }
//
// Serve owns the handshake, the protocol versions and logging: log with
// zerolog.Ctx(ctx) inside the flow's methods, never secrets. It returns
// when the host is done with the plugin.
//
// Serve also guards the process: core dumps and (on Linux) ptrace attach
// by other processes are off, and when the host goes away without
// stopping the plugin (it was killed, or exited without Close) the plugin
// exits and kills the processes it started (its process group).
func Serve(flow Flow) { plugin.Serve(flow) }
