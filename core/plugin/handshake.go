// Package plugin is the credhost plugin protocol over hashicorp/go-plugin:
// the handshake, the gRPC client and server pair for a core.Flow, the host
// services plugins dial back to, and process management on the host side.
//
// Plugin authors do not use it directly: sdk.Serve wraps it.
package plugin

import (
	"slices"
	"strconv"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
)

// Plugin protocol versions. A host serves every version from
// MinProtocolVersion to ProtocolVersion side by side, and go-plugin
// negotiates the newest one both ends know, so old plugins keep working
// with new hosts and new plugins with old hosts.
//
//   - 1: Describe, Configure, GetToken, the Cache host service.
//   - 2: as 1, and the plugin answers Check (core.Checker, for
//     `credhost doctor`) and honours GetTokenRequest.no_ui. With a
//     protocol-1 plugin the host does not call Check (doctor says
//     "unknown") and turns a Prompt nobody can see into Unavailable
//     itself.
//   - 3: as 2, and the GetToken stream carries the flow's cache partition
//     in (GetTokenRequest.cache) and out (the final event's cache_update),
//     so a call makes no Load or Save round trip; an authorization code
//     has a field of its own (GetTokenRequest.authorization_code, which
//     protocols 1 and 2 carried in user_assertion as JSON); and the host
//     hands the plugin the discovery answers it keeps
//     (ConfigureRequest.discovery) and keeps those the plugin fetched
//     (the final event's discovered).
const (
	MinProtocolVersion = 1
	ProtocolVersion    = 3
)

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

// servedProtocols lists the versions a plugin build serves, comma
// separated. It is a variable only so that tests can build plugins of
// other generations (-ldflags -X ...servedProtocols=1, or =4 for a
// plugin newer than any host), as a third party's old binary would be.
var servedProtocols = ""

// versions returns the protocol versions to offer: servedProtocols if
// set, else MinProtocolVersion..ProtocolVersion.
func versions() []int {
	var vs []int
	for _, f := range strings.Split(servedProtocols, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		for v := MinProtocolVersion; v <= ProtocolVersion; v++ {
			vs = append(vs, v)
		}
	}
	return vs
}

// pluginSets maps each protocol version to the plugins served under it.
// Every version is served by the same gRPC services: what a version adds
// is what each side may send and call (see the constants above), so each
// set's plugin knows the version it was negotiated under.
func pluginSets(p *flowPlugin) map[int]goplugin.PluginSet {
	sets := map[int]goplugin.PluginSet{}
	for _, v := range versions() {
		pv := *p
		pv.protocol = v
		sets[v] = goplugin.PluginSet{pluginName: &pv}
	}
	return sets
}

// servedHandshake is Handshake with the newest version this build serves as the
// default go-plugin falls back to.
func servedHandshake() goplugin.HandshakeConfig {
	h := Handshake
	h.ProtocolVersion = uint(slices.Max(versions()))
	return h
}
