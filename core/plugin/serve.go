package plugin

import (
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// Serve runs flow as a plugin process and does not return until the host
// is done with it. It must be called from the plugin's main.
//
// Flows log through zerolog.Ctx(ctx): the lines go to stderr as hclog JSON,
// which the host re-logs with flow=<id>. Serve sets zerolog's global field
// names for that; it owns the process, so that is safe here.
func Serve(flow core.Flow) {
	zerolog.LevelFieldName = "@level"
	zerolog.MessageFieldName = "@message"
	zerolog.TimestampFieldName = "@timestamp"
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000000Z07:00"

	lvl, err := zerolog.ParseLevel(os.Getenv(logLevelEnv))
	if err != nil || lvl == zerolog.NoLevel {
		lvl = zerolog.InfoLevel
	}
	log := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()

	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(&flowPlugin{impl: flow, log: log}),
		GRPCServer:       goplugin.DefaultGRPCServer,
		TLSProvider:      pluginTLS,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       flow.Describe().Name,
			Level:      hclogLevel(lvl),
			JSONFormat: true,
			Output:     os.Stderr,
		}),
	})
}
