package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
)

// flowPlugin is the go-plugin glue for a core.Flow. On the plugin side Impl
// is set; on the host side it is nil and GRPCClient builds a *Client.
type flowPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl core.Flow
	log  zerolog.Logger
	// protocol is the version this plugin set is served under (plugin
	// side); 0 for in-process test connections, which speak the newest.
	protocol int
}

func (p *flowPlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterFlowServiceServer(s, newFlowServer(p.impl, broker, p.log, p.protocol))
	return nil
}

func (p *flowPlugin) GRPCClient(_ context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{broker: broker, flow: pluginv1.NewFlowServiceClient(conn), log: zerolog.Nop()}, nil
}

var _ goplugin.GRPCPlugin = (*flowPlugin)(nil)
