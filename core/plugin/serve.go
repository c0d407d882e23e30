package plugin

import (
	"crypto/x509"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/nodump"
)

// Serve runs flow as a plugin process and does not return until the host
// is done with it. It must be called from the plugin's main.
//
// Flows log through zerolog.Ctx(ctx): the lines go to stderr as hclog JSON,
// which the host re-logs with flow=<id>. Serve sets zerolog's global field
// names for that; it owns the process, so that is safe here.
//
// Serve also guards the process: core dumps and ptrace attach are off
// (nodump), and the plugin exits, with any process it started, when its
// host goes away (watchHost).
func Serve(flow core.Flow) {
	fixComm()
	nodumpErr := nodump.Enable()
	closeExecFD()
	watchHost()
	// Every flow checks the IdP's certificate against the system roots,
	// and a fresh process pays 10-20 ms on our 2-core machines to load
	// them (Go reads the bundle and every file in the certificate dir:
	// several hundred PEM certificates on Debian), on its first
	// Configure or HTTPS request: a third of a cold start. Load them now,
	// in the background, so the work overlaps the handshake and Describe,
	// during which the plugin mostly waits for the host. x509 loads the
	// pool once per process (SSL_CERT_FILE and SSL_CERT_DIR, which the
	// host passes, are read then, as they would be later); a flow that
	// gets there first waits for the load in progress instead of
	// starting another. Nothing is trusted that would not be anyway.
	go func() { _, _ = x509.SystemCertPool() }()

	zerolog.LevelFieldName = "@level"
	zerolog.MessageFieldName = "@message"
	zerolog.TimestampFieldName = "@timestamp"
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000000Z07:00"

	lvl, err := zerolog.ParseLevel(os.Getenv(logLevelEnv))
	if err != nil || lvl == zerolog.NoLevel {
		lvl = zerolog.InfoLevel
	}
	log := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
	if nodumpErr != nil {
		log.Warn().Err(nodumpErr).Msg("core dumps and ptrace attach stay enabled")
	}

	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  servedHandshake(),
		VersionedPlugins: pluginSets(&flowPlugin{impl: flow, log: log}),
		GRPCServer:       newServer, // the message limits of cache_service.go
		TLSProvider:      pluginTLS,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       flow.Describe().Name,
			Level:      hclogLevel(lvl),
			JSONFormat: true,
			Output:     os.Stderr,
		}),
	})
}
