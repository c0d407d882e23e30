package main

import (
	"context"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/core/store/redis"
	"github.com/credhost/credhost/internal/agent"
)

// session is what the verbs that reach tokens share: the config, the
// selected profile, the token store and a host over them.
type session struct {
	file    *config.File
	profile string // "" when the config has several and none was chosen
	store   *host.Store
	host    *host.Host
	ui      *stderrUI
	e       *env
	// agent, if set, is how getToken asks the user's agent first.
	agent *agent.Call
}

// openSession loads the config, picks the profile and opens the store.
// Problems with the config are usage errors (exit code 2).
func openSession(ctx context.Context, g *globals, e *env, prompt bool) (*session, error) {
	s, err := openStoreSession(ctx, g, e, prompt)
	if err != nil {
		return nil, err
	}
	if s.profile, err = host.SelectProfile(s.file, g.profile, e.getenv); err != nil {
		s.Close()
		return nil, usageError{err}
	}
	return s, nil
}

// openStoreSession is openSession for verbs that may work on every
// profile (logout --all, cache info): the profile is picked only if one
// was named. Without prompt, nobody is watching: flows that would prompt
// are Unavailable.
func openStoreSession(ctx context.Context, g *globals, e *env, prompt bool) (*session, error) {
	file, err := host.LoadConfig(g.config, e.getenv)
	if err != nil {
		return nil, usageError{err}
	}
	if file.Cache.Backend.Raw == config.CacheRedis {
		redis.RouteDriverLogs(e.log)
	}
	st, err := host.OpenStore(ctx, file, e.getenv, e.log)
	if err != nil {
		return nil, err
	}
	s := &session{file: file, store: st, e: e, ui: newStderrUI(e.stderr, e.log)}
	var ui core.UI
	if prompt {
		ui = s.ui
	}
	s.host = host.New(file, &host.Options{Log: e.log, Getenv: e.getenv, PluginDirs: nonEmpty(g.pluginDir),
		UI: ui, Store: st, MinLifetime: file.Cache.MinLifetime})
	if g.profile != "" { // --profile or $CREDHOST_PROFILE
		if _, err := file.Profile(g.profile); err != nil {
			s.Close()
			return nil, usageError{err}
		}
		s.profile = g.profile
	}
	return s, nil
}

// getToken runs the profile's credential; a prompt's countdown stops when
// it returns.
func (s *session) getToken(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	if s.agent != nil {
		tok, ok, err := s.viaAgent(ctx, req)
		if ok {
			s.ui.done()
			if err == nil {
				s.e.log.Info().Str("profile", s.profile).Str("flow", tok.Flow).Time("expires_on", tok.ExpiresOn).Msg("token acquired from the agent")
			}
			return tok, err
		}
	}
	cred, err := s.host.Credential(s.profile)
	if err != nil {
		return core.Token{}, usageError{err}
	}
	tok, err := cred.GetToken(ctx, req)
	s.ui.done()
	if err != nil {
		return core.Token{}, err
	}
	s.e.log.Info().Str("profile", s.profile).Str("flow", tok.Flow).Time("expires_on", tok.ExpiresOn).Msg("token acquired")
	return tok, nil
}

// Close stops the plugins and closes the store.
func (s *session) Close() {
	s.ui.done()
	_ = s.host.Close()
	_ = s.store.Close()
}
