package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
)

// tokenCmd prints an access token. Only the token goes to stdout.
type tokenCmd struct{ cliflags.Token }

func (c *tokenCmd) flags(fs *pflag.FlagSet) { c.Register(fs) }

func (c *tokenCmd) validate(*globals) error {
	if len(c.Scopes) == 0 {
		return usageError{fmt.Errorf("--scope is required, e.g. --scope https://graph.microsoft.com/.default")}
	}
	switch c.Output {
	case "raw", "json", "claims", "exec-credential", "az":
	default:
		return usageError{fmt.Errorf("--output %q: use raw, json, exec-credential, az or claims", c.Output)}
	}
	return nil
}

func (c *tokenCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	prompt := canPrompt(e, c.NoPrompt, false)
	s, err := openSession(ctx, g, e, prompt)
	if err != nil {
		return err
	}
	defer s.Close()
	s.useAgent(g, prompt)
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: c.Scopes, TenantID: c.Tenant, Claims: c.Claims, ForceRefresh: c.ForceRefresh})
	if err != nil {
		return c.WithClaimsHint(g, err)
	}
	return tokenout.Write(e.stdout, tok, c.Output, e.getenv(config.EnvKubernetesExecInfo))
}
