package main

import (
	"context"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/internal/agent"
)

// session is what the verbs that reach tokens share: the config, the
// selected profile, the token store and a host over them.
type session struct {
	*host.Session // Profile is "" when the config has several and none was chosen
	ui            *stderrUI
	e             *env
	// agent, if set, is how getToken asks the user's agent first.
	agent *agent.Call
}

// openSession loads the config, picks the profile and opens the store.
// Problems with the config are usage errors (exit code 2: host.Open
// returns them as *host.ConfigError).
func openSession(ctx context.Context, g *globals, e *env, prompt bool) (*session, error) {
	return open(ctx, g, e, prompt, false)
}

// openStoreSession is openSession for verbs that may work on every
// profile (logout --all, cache info): the profile is picked only if one
// was named (--profile or $CREDHOST_PROFILE). Without prompt, nobody is
// watching: flows that would prompt are Unavailable.
func openStoreSession(ctx context.Context, g *globals, e *env, prompt bool) (*session, error) {
	return open(ctx, g, e, prompt, true)
}

func open(ctx context.Context, g *globals, e *env, prompt, anyProfile bool) (*session, error) {
	s := &session{e: e, ui: newStderrUI(e.stderr, e.log)}
	var ui core.UI
	if prompt {
		ui = s.ui
	}
	hs, err := host.Open(ctx, &host.OpenOptions{ConfigPath: g.Config, Profile: g.Profile, AnyProfile: anyProfile,
		Getenv: e.getenv, PluginDirs: nonEmpty(g.PluginDir), UI: ui, Log: e.log})
	if err != nil {
		return nil, err
	}
	s.Session = hs
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
				s.e.log.Info().Str("profile", s.Profile).Str("flow", tok.Flow).Time("expires_on", tok.ExpiresOn).Msg("token acquired from the agent")
			}
			return tok, err
		}
	}
	cred, err := s.Credential()
	if err != nil {
		return core.Token{}, usageError{err}
	}
	tok, err := cred.GetToken(ctx, req)
	s.ui.done()
	if err != nil {
		return core.Token{}, err
	}
	s.e.log.Info().Str("profile", s.Profile).Str("flow", tok.Flow).Time("expires_on", tok.ExpiresOn).Msg("token acquired")
	return tok, nil
}

// Close stops the plugins and closes the store.
func (s *session) Close() {
	s.ui.done()
	_ = s.Session.Close()
}
