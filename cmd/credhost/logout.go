package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/host"
)

// logoutCmd forgets the cached tokens and sign-ins of a profile, or of
// every profile with --all. It does not revoke anything at the identity
// provider: refresh tokens stay valid there until they expire or an
// administrator revokes the sessions.
type logoutCmd struct {
	all bool
}

func (c *logoutCmd) flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.all, "all", false, "forget every profile's tokens and sign-ins")
}

func (c *logoutCmd) validate(g *globals) error {
	if c.all && g.Profile != "" {
		return usageError{errors.New("give --profile or --all, not both")}
	}
	return nil
}

func (c *logoutCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	s, err := openStoreSession(ctx, g, e, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if !c.all && s.Profile == "" {
		if s.Profile, err = host.SelectProfile(s.File, "", e.getenv); err != nil {
			return usageError{fmt.Errorf("%w (or --all)", err)}
		}
	}
	if err := s.Host.Forget(ctx, s.Profile); err != nil {
		return err
	}
	what := "every profile"
	if s.Profile != "" {
		what = "profile " + s.Profile
	}
	fmt.Fprintf(e.stderr, "signed out of %s: cached tokens and sign-ins removed from %s\n", what, s.Store.Location)
	return nil
}
