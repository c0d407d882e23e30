// Package plugin is the credhost plugin protocol over hashicorp/go-plugin:
// the handshake, the gRPC client and server pair for a core.Flow, the host
// services plugins dial back to, and process management on the host side.
//
// Plugin authors do not use it directly: sdk.Serve wraps it.
package plugin

import (
	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the newest plugin protocol this build speaks.
const ProtocolVersion = 1

// pluginName is the single plugin each binary dispenses.
const pluginName = "flow"

// Handshake is shared by host and plugins. The magic cookie is a UX guard
// (running a plugin binary by hand prints a friendly message), not a
// security control; the SHA-256 pin and mutual TLS (tls.go) are.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CREDHOST_PLUGIN",
	MagicCookieValue: "4f2c8a1e-credhost-flow-plugin",
}

// pluginSets maps each protocol version to the plugins served under it.
// A future v2 is added beside v1, never in its place, so that old plugins
// keep working with new hosts.
func pluginSets(p *flowPlugin) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		1: {pluginName: p},
	}
}
