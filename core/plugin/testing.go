package plugin

import (
	"testing"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// TestConnect serves flow in-process over real gRPC (go-plugin's test
// connection, broker included) and returns the host-side client, so flow
// tests need no built binaries. It is for tests only.
func TestConnect(t testing.TB, flow core.Flow, log zerolog.Logger) *Client {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{
		pluginName: &flowPlugin{impl: flow, log: log},
	})
	// Close asks the server to shut down through go-plugin's controller;
	// stopping the server here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(pluginName)
	if err != nil {
		t.Fatalf("dispense %s: %v", pluginName, err)
	}
	c := raw.(*Client)
	c.name = flow.Describe().Name
	return c
}
