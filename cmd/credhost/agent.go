package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/agent"
	"github.com/credhost/credhost/internal/agent/server"
)

// agentCmd runs the agent in the foreground, or asks a running one for
// its status or to stop (agent status|stop).
type agentCmd struct {
	idleTimeout time.Duration
}

func (c *agentCmd) flags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, "exit after this long without a call (env "+agent.EnvIdleTimeout+"; default 15m)")
}

func (c *agentCmd) validate(*globals) error { return nil }

func (c *agentCmd) run(ctx context.Context, _ *globals, e *env, args []string) error {
	dir, err := agent.Dir(e.getenv)
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		idle := c.idleTimeout
		if idle == 0 {
			if v := e.getenv(agent.EnvIdleTimeout); v != "" {
				if idle, err = time.ParseDuration(v); err != nil || idle <= 0 {
					return usageError{fmt.Errorf("%s=%q: a positive duration, like 15m", agent.EnvIdleTimeout, v)}
				}
			}
		}
		return server.Serve(ctx, server.Options{Dir: dir, IdleTimeout: idle, Log: e.log, Version: version})
	case len(args) == 1 && (args[0] == "status" || args[0] == "stop"):
		cl, err := agent.Dial(ctx, dir)
		if err != nil {
			return fmt.Errorf("no agent running in %s: %w", dir, errors.Unwrap(err))
		}
		if args[0] == "stop" {
			return cl.Stop(ctx)
		}
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "pid %d, version %s, protocol %d\nsocket %s\nup %s, idle timeout %s\nhosts %d, requests %d, rss %d MiB\n",
			st.PID, st.Version, agent.ProtocolVersion, st.Socket,
			time.Since(st.Started).Round(time.Second), st.IdleTimeout,
			st.Hosts, st.Requests, st.RSSBytes>>20)
		return nil
	}
	return usageError{fmt.Errorf("unknown arguments %q: use credhost agent, agent status or agent stop", args)}
}

// useAgent makes s get tokens through the user's agent (started on
// demand), unless the config or $CREDHOST_AGENT turns it off. Only the
// real process does: in-process tests have no binary to start.
func (s *session) useAgent(g *globals, prompt bool) {
	if s.e.environ == nil || s.File.Agent.Disabled || agent.Off(s.e.getenv) {
		return
	}
	wd, _ := os.Getwd()
	call := &agent.Call{Getenv: s.e.getenv, Env: s.e.environ(), ConfigPath: g.Config, WorkDir: wd, Profile: s.Profile,
		PluginDir: g.PluginDir, Exe: s.e.exe, Log: s.e.log}
	if prompt {
		call.UI = s.ui
	}
	s.agent = call
}

// viaAgent asks the agent; ok false means: get the token in-process.
func (s *session) viaAgent(ctx context.Context, req core.TokenRequest) (tok core.Token, ok bool, err error) {
	tok, err = agent.GetToken(ctx, s.agent, req)
	if errors.Is(err, agent.ErrFallback) {
		s.e.log.Info().Err(err).Msg("the agent is not answering; getting the token in-process")
		return core.Token{}, false, nil
	}
	var re *agent.RemoteError
	if errors.As(err, &re) && re.Usage {
		err = usageError{err}
	}
	return tok, true, err
}
