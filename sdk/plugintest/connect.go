package plugintest

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core/plugin"
	"github.com/credhost/credhost/sdk"
)

// Conn is the host's side of a flow served by Connect: Describe,
// Configure, GetToken and Check, made as the host makes them, over gRPC.
type Conn = plugin.Client

// Connect serves flow in-process over real gRPC (go-plugin's test
// connection, broker included) and returns the host's side of it, so a
// plugin's own tests drive the flow through the protocol without a built
// binary. The connection closes when the test ends.
func Connect(t testing.TB, flow sdk.Flow, log zerolog.Logger) *Conn {
	t.Helper()
	return plugin.TestConnect(t, flow, log)
}
