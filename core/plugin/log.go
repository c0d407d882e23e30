package plugin

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogFor returns the hclog.Logger go-plugin needs, writing into the
// host's zerolog logger with flow=<id>. go-plugin parses the plugin's
// stderr (hclog JSON lines) and re-logs each entry through this logger; we
// decode its JSON output again and hand the fields to zerolog.
func hclogFor(log zerolog.Logger, flow string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclogLevel(pluginLevel(log)),
		JSONFormat: true,
		Output:     &zerologWriter{log: log.With().Str("flow", flow).Logger()},
	})
}

func hclogLevel(l zerolog.Level) hclog.Level {
	switch {
	case l <= zerolog.TraceLevel:
		return hclog.Trace
	case l == zerolog.DebugLevel:
		return hclog.Debug
	case l == zerolog.InfoLevel:
		return hclog.Info
	case l == zerolog.WarnLevel:
		return hclog.Warn
	case l == zerolog.Disabled:
		return hclog.Off
	default:
		return hclog.Error
	}
}

// zerologWriter receives hclog JSON lines and re-emits them via zerolog.
type zerologWriter struct{ log zerolog.Logger }

func (w *zerologWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.log.Debug().Msg(string(line))
			continue
		}
		lvl, _ := m["@level"].(string)
		msg, _ := m["@message"].(string)
		ev := w.log.WithLevel(zerologLevel(lvl))
		for k, v := range m {
			if strings.HasPrefix(k, "@") {
				if k == "@module" {
					ev = ev.Interface("module", v)
				}
				continue
			}
			ev = ev.Interface(k, v)
		}
		ev.Msg(msg)
	}
	return len(p), nil
}

func zerologLevel(s string) zerolog.Level {
	switch s {
	case "trace":
		return zerolog.TraceLevel
	case "debug":
		return zerolog.DebugLevel
	case "info":
		return zerolog.InfoLevel
	case "warn":
		return zerolog.WarnLevel
	case "error":
		return zerolog.ErrorLevel
	default:
		return zerolog.DebugLevel
	}
}

var _ io.Writer = (*zerologWriter)(nil)
