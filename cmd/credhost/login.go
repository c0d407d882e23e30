package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
)

// defaultLoginScope is what login asks for when no --scope is given: any
// resource would do, since the refresh token a sign-in leaves in the cache
// serves every resource the app may call.
const defaultLoginScope = "https://graph.microsoft.com/.default"

// loginCmd signs in explicitly, so that later `credhost token` calls (from
// kubectl, git, scripts) are silent. It runs the profile's chain with
// every access-token cache bypassed; a flow holding a valid refresh token
// signs in silently and says who is signed in. To sign in as someone
// else, run `credhost logout` first.
type loginCmd struct {
	scopes []string
	tenant string
}

func (c *loginCmd) flags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&c.scopes, "scope", "s", []string{defaultLoginScope}, "scope to request while signing in (repeatable)")
	fs.StringVar(&c.tenant, "tenant", "", "tenant to sign in to, overriding the profile's")
}

func (c *loginCmd) validate(*globals) error { return nil }

func (c *loginCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	s, err := openSession(ctx, g, e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: c.scopes, TenantID: c.tenant, ForceRefresh: true})
	if err != nil {
		return err
	}
	who := tok.Account.Username
	if who == "" {
		who = "the application (no user: " + tok.Flow + " signs in as the app)"
	}
	fmt.Fprintf(e.stderr, "signed in to profile %s as %s through %s; tokens are cached in %s\n", s.Profile, who, tok.Flow, s.Store.Location)
	return nil
}
