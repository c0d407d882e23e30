package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
		return c.withClaimsHint(g, err)
	}
	return tokenout.Write(e.stdout, tok, c.Output, e.getenv(config.EnvKubernetesExecInfo))
}

// withClaimsHint adds to err, when the IdP answered with a claims
// challenge (conditional access: the user must step up), the challenge
// and the command that answers it, ready to copy. The exit code stays
// that of err.
func (c *tokenCmd) withClaimsHint(g *globals, err error) error {
	var e *core.Error
	if !errors.As(err, &e) || e.Kind != core.KindInteractionRequired || e.Claims == "" || e.Claims == c.Claims {
		return err
	}
	cmd := []string{"credhost", "token"}
	if g.Config != "" {
		cmd = append(cmd, "--config", shellQuote(g.Config))
	}
	if g.Profile != "" {
		cmd = append(cmd, "--profile", shellQuote(g.Profile))
	}
	for _, s := range c.Scopes {
		cmd = append(cmd, "--scope", shellQuote(s))
	}
	if c.Tenant != "" {
		cmd = append(cmd, "--tenant", shellQuote(c.Tenant))
	}
	cmd = append(cmd, "--claims", shellQuote(e.Claims))
	return fmt.Errorf("%w\nclaims challenge: %s\nto answer it (sign in again satisfying the policy), run:\n  %s", err, e.Claims, strings.Join(cmd, " "))
}
